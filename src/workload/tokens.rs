//! The token-counting rule shared by the client and the simulator.

/// One whitespace-separated word is one token.
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
