//! The shapes and misbehaviours of replies that real servers show and a
//! load tester must measure honestly: tokens that arrive as reasoning or
//! as tool-call arguments instead of content, and servers that answer with
//! nothing, ignore `stream: true`, hang, or report a usage that makes no
//! sense.
//!
//! [`OutputKind`] is how every chat reply carries its tokens (completions
//! have only `text`). A [`Fault`] is given to a share of the generation
//! requests (`fault_rate`) that were not already given an injected error or
//! disconnect; which ones is decided by a hash of the seed and the request's
//! number, apart from the request's own random draws, so a fault changes
//! nothing else about the replies (their lengths and words stay those of
//! the same seed without it).

use super::stream::splitmix64;

/// What chat replies carry their generated tokens as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputKind {
    /// `delta.content` / `message.content`, as every chat model.
    #[default]
    Content,
    /// The first half of the tokens (rounded up) as `delta.reasoning`, the
    /// rest as content (vLLM's reasoning parsers, OpenRouter).
    Reasoning,
    /// As [`OutputKind::Reasoning`], in `delta.reasoning_content`
    /// (DeepSeek's API, older vLLM).
    ReasoningContent,
    /// Every token as `delta.tool_calls[0].function.arguments`; the first
    /// token's chunk also names the function (as vLLM's tool parsers do).
    ToolCalls,
}

impl OutputKind {
    /// The field of a chat delta or message that carries token `k` of `n`.
    pub fn field(self, k: u32, n: u32) -> TokenField {
        let reasoning = k < n.div_ceil(2);
        match self {
            OutputKind::Content => TokenField::Content,
            OutputKind::Reasoning if reasoning => TokenField::Reasoning("reasoning"),
            OutputKind::ReasoningContent if reasoning => TokenField::Reasoning("reasoning_content"),
            OutputKind::Reasoning | OutputKind::ReasoningContent => TokenField::Content,
            OutputKind::ToolCalls => TokenField::ToolCall,
        }
    }
}

/// Where one token goes in a chat delta or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    Content,
    /// A reasoning field, by name.
    Reasoning(&'static str),
    ToolCall,
}

/// The function a tool-call reply calls.
pub const TOOL_NAME: &str = "lookup";

/// A misbehaviour given to a share of the generation requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Streamed: the reply is only `data: [DONE]`; not streamed: an empty
    /// 200 body.
    Empty,
    /// A whole JSON reply although `stream: true` was asked.
    IgnoreStream,
    /// The reply hangs until the client goes away: a stream after this many
    /// tokens (0: right after the headers; at most the reply's tokens less
    /// one), a whole reply right after its headers.
    Stall { after_tokens: u32 },
    /// The usage (stream chunk or body) says `"completion_tokens": -1`.
    BadUsage,
}

impl Fault {
    /// The name users type (`empty`, `stall`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Empty => "empty",
            Fault::IgnoreStream => "ignore-stream",
            Fault::Stall { .. } => "stall",
            Fault::BadUsage => "bad-usage",
        }
    }
}

/// Whether request `number` gets the configured fault: true for a share
/// `rate` of the requests, from a hash of `seed` and the number (see the
/// module docs).
pub fn strikes(seed: u64, number: u64, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let h = splitmix64(splitmix64(seed ^ 0x000F_A017) ^ number);
    // The top 53 bits as a uniform fraction in [0, 1).
    ((h >> 11) as f64 / (1u64 << 53) as f64) < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_takes_the_first_half_rounded_up() {
        let fields: Vec<TokenField> = (0..5).map(|k| OutputKind::Reasoning.field(k, 5)).collect();
        assert_eq!(fields[..3], [TokenField::Reasoning("reasoning"); 3]);
        assert_eq!(fields[3..], [TokenField::Content; 2]);
        assert_eq!(
            OutputKind::ReasoningContent.field(0, 1),
            TokenField::Reasoning("reasoning_content")
        );
        assert_eq!(OutputKind::ToolCalls.field(3, 5), TokenField::ToolCall);
    }

    #[test]
    fn the_fault_rate_is_a_share_of_requests() {
        assert!((0..100).all(|n| strikes(1, n, 1.0)));
        assert!((0..100).all(|n| !strikes(1, n, 0.0)));
        let hit = (0..10_000).filter(|&n| strikes(7, n, 0.3)).count();
        assert!((2_700..3_300).contains(&hit), "{hit} of 10000 at 30%");
    }
}
