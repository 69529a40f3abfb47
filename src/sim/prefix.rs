//! The simulated prefix cache (vLLM's automatic prefix caching): which
//! blocks of prompt tokens a sequence need not prefill because an earlier
//! sequence computed them and they are still resident.
//!
//! A prompt's tokens (by the shared counting rule: one word, one token) are
//! cut into blocks of `block_size`; only full blocks are cached. Block `i`
//! is named by a hash chained over every token up to and including it
//! (`hash(parent, tokens of block i)`, as vLLM hashes), so a block matches
//! only when the whole prefix before it matches too. A lookup walks the
//! chain from the first block and stops at the first block not resident;
//! like vLLM it never counts the prompt's last token as a hit (the model
//! must compute at least one token to produce logits), so at most
//! `⌊(prompt − 1) / block_size⌋` blocks hit.
//!
//! Blocks live in the KV cache of the batching profile. A block in use by
//! a running sequence (reference count above zero) is shared, held once
//! however many sequences use it. When the last user finishes it stays
//! resident, free to be evicted; eviction takes the least recently freed
//! block first, and a sequence frees its blocks tail first (as vLLM's free
//! queue does), so a shared head outlives the tails that hang off it.
//! Blocks are registered when their sequence is admitted, so a sequence
//! admitted later in the same step already hits them (as in vLLM, where a
//! batch writes the KV of every layer before any of its sequences reads it).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

/// vLLM's default block size, in tokens.
pub const DEFAULT_BLOCK_SIZE: u32 = 16;

/// The chained hashes of the full blocks of a prompt given as its tokens
/// (words), in order. A partial last block has no hash.
pub fn block_hashes<'a>(tokens: impl IntoIterator<Item = &'a str>, block_size: u32) -> Vec<u64> {
    let size = block_size.max(1) as usize;
    let mut out = Vec::new();
    let mut parent = 0u64;
    let mut block = DefaultHasher::new();
    let mut filled = 0usize;
    for t in tokens {
        t.hash(&mut block);
        filled += 1;
        if filled == size {
            let mut chained = DefaultHasher::new();
            parent.hash(&mut chained);
            block.finish().hash(&mut chained);
            parent = chained.finish();
            out.push(parent);
            block = DefaultHasher::new();
            filled = 0;
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Block {
    refs: u32,
    /// When it was last freed (its place in the eviction order).
    freed_at: u64,
}

/// What a lookup found for one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// Leading blocks found resident (the hit).
    pub hit_blocks: u64,
    /// Blocks of the sequence not resident: admitting it adds them.
    pub new_blocks: u64,
    /// Blocks of the sequence resident but free: admitting it pins them.
    pub pinned_free: u64,
}

/// Resident blocks, with their users and the eviction order of free ones.
#[derive(Debug)]
pub struct PrefixCache {
    block_size: u64,
    blocks: HashMap<u64, Block>,
    /// Free blocks (no user) by `freed_at`: the first is evicted first.
    free: BTreeMap<u64, u64>,
    clock: u64,
}

impl PrefixCache {
    pub fn new(block_size: u32) -> Self {
        Self {
            block_size: u64::from(block_size.max(1)),
            blocks: HashMap::new(),
            free: BTreeMap::new(),
            clock: 0,
        }
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Blocks resident (in use or free).
    pub fn resident(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// Blocks some running sequence uses.
    pub fn in_use(&self) -> u64 {
        (self.blocks.len() - self.free.len()) as u64
    }

    /// What admitting a sequence of `prompt_tokens` with these block hashes
    /// would find (module docs), without changing anything.
    pub fn lookup(&self, hashes: &[u64], prompt_tokens: u64) -> Lookup {
        let max_hit = prompt_tokens.saturating_sub(1) / self.block_size;
        let mut hit_blocks = 0;
        let mut chain = true;
        let (mut new_blocks, mut pinned_free) = (0, 0);
        for (i, h) in hashes.iter().enumerate() {
            match self.blocks.get(h) {
                Some(b) => {
                    if chain && (i as u64) < max_hit {
                        hit_blocks += 1;
                    }
                    if b.refs == 0 {
                        pinned_free += 1;
                    }
                }
                None => {
                    chain = false;
                    new_blocks += 1;
                }
            }
        }
        Lookup {
            hit_blocks,
            new_blocks,
            pinned_free,
        }
    }

    /// Takes the sequence's blocks into use: resident ones gain a user,
    /// missing ones become resident.
    pub fn acquire(&mut self, hashes: &[u64]) {
        for h in hashes {
            let b = self.blocks.entry(*h).or_insert(Block { refs: 0, freed_at: 0 });
            if b.refs == 0 && self.free.get(&b.freed_at) == Some(h) {
                self.free.remove(&b.freed_at);
            }
            b.refs += 1;
        }
    }

    /// A sequence is done with its blocks: each loses a user, and a block
    /// left without any joins the free list, tail blocks first.
    pub fn release(&mut self, hashes: &[u64]) {
        for h in hashes.iter().rev() {
            if let Some(b) = self.blocks.get_mut(h) {
                b.refs = b.refs.saturating_sub(1);
                if b.refs == 0 {
                    self.clock += 1;
                    b.freed_at = self.clock;
                    self.free.insert(self.clock, *h);
                }
            }
        }
    }

    /// Evicts the least recently freed block; false when none is free.
    pub fn evict_one(&mut self) -> bool {
        match self.free.pop_first() {
            Some((_, h)) => {
                self.blocks.remove(&h);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize, tag: &str) -> Vec<String> {
        (0..n).map(|i| format!("{tag}{i}")).collect()
    }

    fn hashes(w: &[String], bs: u32) -> Vec<u64> {
        block_hashes(w.iter().map(String::as_str), bs)
    }

    #[test]
    fn hashes_chain_over_the_whole_prefix() {
        let a = words(40, "a");
        let mut b = a.clone();
        b[20] = "other".into();
        let (ha, hb) = (hashes(&a, 16), hashes(&b, 16));
        assert_eq!(ha.len(), 2, "40 tokens hold two full blocks of 16");
        assert_eq!(ha[0], hb[0]);
        assert_ne!(ha[1], hb[1]);
        // Same tokens at another place in the chain: another block.
        let shifted: Vec<String> = a[16..32].iter().chain(&a[16..32]).cloned().collect();
        assert_ne!(hashes(&shifted, 16)[1], ha[1]);
    }

    #[test]
    fn a_shared_prefix_hits_but_never_the_last_token() {
        let mut c = PrefixCache::new(16);
        let first = hashes(&words(64, "p"), 16);
        assert_eq!(c.lookup(&first, 64).hit_blocks, 0);
        c.acquire(&first);
        // The same 64 tokens: at most 63 may hit, so 3 blocks.
        assert_eq!(c.lookup(&first, 64).hit_blocks, 3);
        let mut longer = words(64, "p");
        longer.extend(words(20, "s"));
        let l = c.lookup(&hashes(&longer, 16), 84);
        assert_eq!((l.hit_blocks, l.new_blocks, l.pinned_free), (4, 1, 0));
    }

    #[test]
    fn eviction_takes_free_blocks_tail_first_and_breaks_the_chain() {
        let mut c = PrefixCache::new(4);
        let a = hashes(&words(12, "a"), 4);
        c.acquire(&a);
        assert!(!c.evict_one(), "blocks in use are never evicted");
        c.release(&a);
        assert_eq!((c.resident(), c.in_use()), (3, 0));
        assert!(c.evict_one());
        // The tail went first: the first two blocks still hit.
        assert_eq!(c.lookup(&a, 13).hit_blocks, 2);
        c.acquire(&a[..1]);
        assert!(c.evict_one());
        assert!(!c.evict_one(), "the pinned head stays");
        assert_eq!(c.lookup(&a, 13).hit_blocks, 1);
    }
}
