//! The token-counting rule shared by the client and the simulator.
//!
//! Without the model's tokenizer the client cannot count tokens exactly, so
//! the project fixes one simple rule that both sides apply: one
//! whitespace-separated word is one token. The simulator reports `usage` by
//! this rule and the workload sizes prompts by it, so lengths agree exactly
//! on the simulator and approximately elsewhere (where the server's `usage`
//! is preferred anyway).

/// One whitespace-separated word is one token.
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_tokens() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens(" one  two\nthree\t"), 3);
    }

    #[test]
    fn every_built_in_word_is_one_token() {
        for w in super::super::words::WORDS {
            assert_eq!(count_tokens(w), 1, "{w:?}");
        }
    }
}
