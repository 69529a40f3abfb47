//! The performance model: how long the simulated GPU takes to produce each
//! token, and the engine loop that plays it out in real time.
//!
//! Two profiles exist. [`FixedProfile`] has no shared state at all: every
//! request's token `k` (0-based) is due at `received + ttft + k × itl`,
//! whatever else is running (the stream in `stream.rs` sleeps until those
//! deadlines itself). It is the ground truth for measurement-accuracy tests.
//!
//! [`BatchingProfile`] models vLLM-style continuous batching. One engine loop
//! task per served model owns a FCFS waiting queue and the running batch.
//! Each step:
//! 1. admits waiting sequences, in arrival order, while the batch has fewer
//!    than `max_num_seqs` sequences and the KV cache can hold the newcomer's
//!    reservation (`prompt + max_tokens` tokens — reserved whole, so a
//!    running sequence can never be pre-empted); the first sequence that
//!    does not fit stops admission (head-of-line, as vLLM's FCFS scheduler);
//! 2. lasts `decode_base + decode_per_seq × batch + prefill_per_token ×
//!    (prompt tokens admitted in this step and not found in the prefix
//!    cache)`, where `batch` counts the sequences running after admission
//!    (the prefix cache, on by default, is `prefix.rs`: a sequence's full
//!    prompt blocks are shared cached blocks, held once in the KV cache
//!    however many sequences use them, and free ones are evicted LRU when
//!    a newcomer needs their room);
//! 3. at its end hands one token to every running sequence — a newly
//!    admitted one gets its first token at the end of its admission step —
//!    and retires the finished ones, freeing their KV reservation.
//!
//! Steps are timed with absolute deadlines: step `i + 1` starts at the
//! deadline of step `i`, not when the task woke up, so the 1 ms granularity
//! of tokio's timer adds jitter but no drift. If the loop falls more than
//! [`RESYNC_AFTER`] behind (an overloaded machine), it restarts the clock
//! from now instead of bursting to catch up. A request that arrives during a
//! step waits for the next step, as on a real engine.
//!
//! Steady-state throughput, for requests with prompt `P` and output `L`
//! tokens that share no prefix ([`BatchingProfile::capacity`]): at most `N = min(max_num_seqs,
//! ⌊kv_cache_tokens / (P + L)⌋)` run at once. With `n ≤ N` sequences kept
//! running, each step admits `n / L` on average, so a step lasts `T(n) =
//! decode_base + decode_per_seq × n + (n / L) × P × prefill_per_token`, a
//! request takes `L` steps, and the server completes `X(n) = n / (L ×
//! T(n))` requests per second (`X × L` tokens per second). The ceiling is
//! `X(N)`: an open-loop rate above it only grows the queue.
//!
//! A closed loop of `C` clients keeps the batch less full than that: a
//! client's next request arrives during the step after its last token and
//! is admitted one step later, so with `C ≤ N` each client cycles every
//! `L + 1` steps and `X = C / ((L + 1) × T(C × L / (L + 1)))` (prefill
//! term with `C / (L + 1)` admissions per step). With `C > N` the queue
//! refills every freed slot at once: `X = X(N)`. See
//! [`BatchingProfile::closed_loop_throughput`]. (The default profile at
//! `C = 10, P = 256, L = 128` predicts 14.38 requests/s; `inferload run`
//! measured 14.37.)

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::metrics::ModelMetrics;
use super::prefix::PrefixCache;

/// How far behind its schedule the engine loop may fall before it restarts
/// the step clock from now.
pub const RESYNC_AFTER: Duration = Duration::from_millis(50);

/// Exact, load-independent latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedProfile {
    /// From receiving the request to the first token.
    pub ttft: Duration,
    /// Between consecutive tokens.
    pub itl: Duration,
}

impl Default for FixedProfile {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(20),
        }
    }
}

/// A continuous-batching engine's parameters (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchingProfile {
    /// Sequences that may run in one batch.
    pub max_num_seqs: u32,
    /// KV-cache capacity in tokens; a sequence reserves `prompt + max_tokens`.
    pub kv_cache_tokens: u64,
    /// Prefill cost per prompt token, added to the step that admits it.
    pub prefill_per_token: Duration,
    /// Fixed cost of every step.
    pub decode_base: Duration,
    /// Cost per running sequence of every step.
    pub decode_per_seq: Duration,
}

impl Default for BatchingProfile {
    fn default() -> Self {
        Self::small_gpu()
    }
}

impl BatchingProfile {
    /// `default`: a small GPU, sped up so that a 10-stream × 100-request ×
    /// 128-token run takes about 7 s. One stream decodes at ~240 tokens/s;
    /// 64 streams at ~6,000 tokens/s.
    pub const fn small_gpu() -> Self {
        Self {
            max_num_seqs: 64,
            kv_cache_tokens: 65_536,
            prefill_per_token: Duration::from_micros(20),
            decode_base: Duration::from_millis(4),
            decode_per_seq: Duration::from_micros(100),
        }
    }

    /// `a100`: roughly an 8B model on one A100 — slower steps, a much larger
    /// batch and cache, so it saturates far later.
    pub const fn a100() -> Self {
        Self {
            max_num_seqs: 256,
            kv_cache_tokens: 400_000,
            prefill_per_token: Duration::from_micros(50),
            decode_base: Duration::from_millis(7),
            decode_per_seq: Duration::from_micros(60),
        }
    }

    /// `fast`: a batching engine that answers almost at once, for quick
    /// functional runs where the shape matters but the wait does not.
    pub const fn fast() -> Self {
        Self {
            max_num_seqs: 256,
            kv_cache_tokens: 1_048_576,
            prefill_per_token: Duration::from_micros(1),
            decode_base: Duration::from_millis(1),
            decode_per_seq: Duration::from_micros(10),
        }
    }

    /// Duration of a step running `batch` sequences that prefills
    /// `prefill_tokens` prompt tokens.
    pub fn step_time(&self, batch: usize, prefill_tokens: u64) -> Duration {
        self.decode_base + mul(self.decode_per_seq, batch as u64) + mul(self.prefill_per_token, prefill_tokens)
    }

    /// Sequences of `prompt + output` tokens that can run at once.
    pub fn max_batch(&self, prompt: u64, output: u64) -> u64 {
        let per_seq = (prompt + output).max(1);
        u64::from(self.max_num_seqs).min(self.kv_cache_tokens / per_seq)
    }

    /// Completed requests per second with `min(concurrency, max_batch)`
    /// sequences always running, each with a `prompt`-token prompt and
    /// exactly `output` tokens: `X(n) = n / (L × T(n))` of the module docs.
    /// With `concurrency` ≥ the batch limit this is the server's ceiling.
    pub fn capacity(&self, concurrency: u64, prompt: u64, output: u64) -> f64 {
        let n = concurrency.min(self.max_batch(prompt, output)) as f64;
        let l = output.max(1) as f64;
        self.rate(n, n / l, prompt, l)
    }

    /// Completed requests per second for a closed loop of `concurrency`
    /// clients that send their next request as soon as the last one ends
    /// (module docs). Ignores network time beyond one step boundary.
    pub fn closed_loop_throughput(&self, concurrency: u64, prompt: u64, output: u64) -> f64 {
        if concurrency > self.max_batch(prompt, output) {
            return self.capacity(concurrency, prompt, output);
        }
        let c = concurrency as f64;
        let l = output.max(1) as f64;
        // Each client: L steps running, then one step waiting.
        let cycle = (l + 1.0) * self.step_secs(c * l / (l + 1.0), c / (l + 1.0), prompt);
        if cycle == 0.0 {
            return 0.0;
        }
        c / cycle
    }

    /// `n / (L × T)` with `running` sequences and `admitted` per step.
    fn rate(&self, running: f64, admitted: f64, prompt: u64, l: f64) -> f64 {
        if running == 0.0 {
            return 0.0;
        }
        running / (l * self.step_secs(running, admitted, prompt))
    }

    fn step_secs(&self, running: f64, admitted: f64, prompt: u64) -> f64 {
        self.decode_base.as_secs_f64()
            + self.decode_per_seq.as_secs_f64() * running
            + admitted * prompt as f64 * self.prefill_per_token.as_secs_f64()
    }
}

fn mul(d: Duration, n: u64) -> Duration {
    // Saturates instead of panicking on absurd inputs.
    Duration::from_nanos(u64::try_from(d.as_nanos().saturating_mul(u128::from(n))).unwrap_or(u64::MAX))
}

/// One sequence in the engine. `T` is how tokens reach the request (a
/// channel in the server, `()` in unit tests).
#[derive(Debug)]
pub(crate) struct Seq<T> {
    pub prompt_tokens: u64,
    /// Tokens this sequence will generate before it finishes.
    pub output_tokens: u32,
    /// KV-cache tokens held while running.
    pub reserve: u64,
    /// The chained hashes of the prompt's full blocks (see `prefix.rs`);
    /// empty when the prefix cache is off.
    pub blocks: Vec<u64>,
    pub generated: u32,
    pub payload: T,
}

/// What admission decided for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub admitted: usize,
    /// Prompt tokens of the sequences admitted (cached ones included).
    pub prompt_tokens: u64,
    /// Prompt tokens computed in this step: the prompts less their
    /// prefix-cache hits.
    pub prefill_tokens: u64,
    /// Prompt tokens looked up in the prefix cache (0 when it is off).
    pub cache_queries: u64,
    /// Of those, tokens found cached.
    pub cache_hits: u64,
    /// Sequences running in this step (admitted ones included).
    pub batch: usize,
    pub duration: Duration,
}

/// What the end of a step handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Emitted {
    /// Tokens delivered.
    pub tokens: u64,
    /// Sequences that produced their last token.
    pub finished: usize,
    /// Sequences whose request had gone (client disconnected).
    pub aborted: usize,
}

/// The scheduler's state: pure arithmetic, no clock, so it is unit-tested
/// directly. The engine loop adds the timing.
#[derive(Debug)]
pub(crate) struct Batcher<T> {
    profile: BatchingProfile,
    waiting: VecDeque<Seq<T>>,
    running: Vec<Seq<T>>,
    /// KV tokens reserved by running sequences outside cached blocks (all
    /// of their reservation when the prefix cache is off).
    kv_used: u64,
    cache: Option<PrefixCache>,
}

impl<T> Batcher<T> {
    /// `prefix_block_size`: the prefix cache's block size, `None` for no
    /// prefix cache.
    pub fn new(profile: BatchingProfile, prefix_block_size: Option<u32>) -> Self {
        Self {
            profile,
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv_used: 0,
            cache: prefix_block_size.map(PrefixCache::new),
        }
    }

    /// KV tokens held by running sequences: their own reservations and
    /// the cached blocks they use (free cached blocks can be evicted, so
    /// they do not count, as in vLLM's usage figure).
    fn kv_in_use(&self) -> u64 {
        self.kv_used + self.cache.as_ref().map_or(0, |c| c.in_use() * c.block_size())
    }

    pub fn enqueue(&mut self, seq: Seq<T>) {
        self.waiting.push_back(seq);
    }

    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// KV-cache tokens reserved by running sequences, as a fraction (0..1).
    pub fn kv_usage(&self) -> f64 {
        self.kv_in_use() as f64 / self.profile.kv_cache_tokens.max(1) as f64
    }

    /// Admits what fits and returns the step's shape. Waiting sequences for
    /// which `alive` is false (their client left) are dropped, not admitted.
    ///
    /// With the prefix cache, a sequence's full prompt blocks are held as
    /// shared cached blocks and only the rest of its reservation as its
    /// own; its leading cached blocks are not prefilled; free cached blocks
    /// are evicted (least recently freed first) when the newcomer needs
    /// their room.
    pub fn admit(&mut self, alive: impl Fn(&T) -> bool) -> Step {
        let mut step = Step {
            admitted: 0,
            prompt_tokens: 0,
            prefill_tokens: 0,
            cache_queries: 0,
            cache_hits: 0,
            batch: 0,
            duration: Duration::ZERO,
        };
        while let Some(head) = self.waiting.front() {
            if !alive(&head.payload) {
                self.waiting.pop_front();
                continue;
            }
            let slots = self.running.len() < self.profile.max_num_seqs as usize;
            let (need, lookup) = match &self.cache {
                None => (head.reserve, None),
                Some(c) => {
                    let l = c.lookup(&head.blocks, head.prompt_tokens);
                    let shared = head.blocks.len() as u64 * c.block_size();
                    let own = head.reserve.saturating_sub(shared);
                    (own + (l.new_blocks + l.pinned_free) * c.block_size(), Some(l))
                }
            };
            // A sequence larger than the whole cache is rejected before it
            // gets here; this `is_empty` guard keeps the loop live anyway.
            let fits = self.kv_in_use() + need <= self.profile.kv_cache_tokens || self.running.is_empty();
            if !(slots && fits) {
                break;
            }
            let Some(seq) = self.waiting.pop_front() else { break };
            let mut hit = 0;
            if let (Some(c), Some(l)) = (self.cache.as_mut(), lookup) {
                hit = l.hit_blocks * c.block_size();
                self.kv_used += seq.reserve.saturating_sub(seq.blocks.len() as u64 * c.block_size());
                c.acquire(&seq.blocks);
                // Room for the newcomer's blocks: evict free ones.
                while self.kv_used + c.resident() * c.block_size() > self.profile.kv_cache_tokens && c.evict_one() {}
                step.cache_queries += seq.prompt_tokens;
                step.cache_hits += hit;
            } else {
                self.kv_used += seq.reserve;
            }
            step.prompt_tokens += seq.prompt_tokens;
            step.prefill_tokens += seq.prompt_tokens - hit;
            step.admitted += 1;
            self.running.push(seq);
        }
        step.batch = self.running.len();
        step.duration = self.profile.step_time(step.batch, step.prefill_tokens);
        step
    }

    /// Ends a step: one token to every running sequence through `deliver`
    /// (given the payload and whether it is the sequence's last token; it
    /// returns false when the request is gone). Finished and abandoned
    /// sequences leave and free their KV reservation.
    pub fn emit(&mut self, mut deliver: impl FnMut(&mut T, bool) -> bool) -> Emitted {
        let mut out = Emitted::default();
        let mut kv_freed = 0;
        let mut cache = self.cache.as_mut();
        let shared = |seq: &Seq<T>, c: &Option<&mut PrefixCache>| {
            c.as_ref().map_or(0, |c| seq.blocks.len() as u64 * c.block_size())
        };
        self.running.retain_mut(|seq| {
            seq.generated += 1;
            let last = seq.generated >= seq.output_tokens;
            let gone = !deliver(&mut seq.payload, last);
            if gone {
                out.aborted += 1;
            } else {
                out.tokens += 1;
            }
            if last && !gone {
                out.finished += 1;
            }
            if gone || last {
                kv_freed += seq.reserve.saturating_sub(shared(seq, &cache));
                if let Some(c) = cache.as_mut() {
                    c.release(&seq.blocks);
                }
                return false;
            }
            true
        });
        self.kv_used -= kv_freed;
        out
    }
}

/// A request handed to an engine loop.
pub(crate) type EngineSeq = Seq<mpsc::UnboundedSender<()>>;

/// Runs one model's engine until its queue's senders are all gone and no
/// sequence is left. Each token is one `()` on the sequence's channel; the
/// sender is dropped after the last one.
pub(crate) async fn run_engine(
    profile: BatchingProfile,
    prefix_block_size: Option<u32>,
    mut rx: mpsc::UnboundedReceiver<EngineSeq>,
    metrics: ModelMetrics,
) {
    let mut batcher: Batcher<mpsc::UnboundedSender<()>> = Batcher::new(profile, prefix_block_size);
    let mut next_start: Option<Instant> = None;
    let mut open = true;
    loop {
        if batcher.is_idle() {
            publish(&metrics, &batcher);
            if !open {
                return;
            }
            match rx.recv().await {
                Some(seq) => batcher.enqueue(seq),
                None => return,
            }
            // An idle engine starts its next step at once.
            next_start = None;
        }
        while open {
            match rx.try_recv() {
                Ok(seq) => batcher.enqueue(seq),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        let now = Instant::now();
        let start = match next_start {
            Some(t) if now.saturating_duration_since(t) <= RESYNC_AFTER => t,
            _ => now,
        };
        let step = batcher.admit(|tx| !tx.is_closed());
        if step.admitted > 0 {
            // vLLM counts every prompt token, cached or not.
            metrics.prompt_tokens.inc_by(step.prompt_tokens);
            metrics.prefix_cache_queries.inc_by(step.cache_queries);
            metrics.prefix_cache_hits.inc_by(step.cache_hits);
        }
        publish(&metrics, &batcher);
        let end = start + step.duration;
        tokio::time::sleep_until(end).await;
        let emitted = batcher.emit(|tx, _last| tx.send(()).is_ok());
        metrics.generation_tokens.inc_by(emitted.tokens);
        next_start = Some(end);
    }
}

fn publish<T>(metrics: &ModelMetrics, batcher: &Batcher<T>) {
    metrics.running.set(batcher.running() as i64);
    metrics.waiting.set(batcher.waiting() as i64);
    metrics.set_kv_usage(batcher.kv_usage());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn profile(max_num_seqs: u32, kv: u64) -> BatchingProfile {
        BatchingProfile {
            max_num_seqs,
            kv_cache_tokens: kv,
            prefill_per_token: Duration::from_micros(10),
            decode_base: ms(5),
            decode_per_seq: Duration::from_micros(500),
        }
    }

    fn seq(prompt: u64, out: u32, id: u32) -> Seq<u32> {
        Seq {
            prompt_tokens: prompt,
            output_tokens: out,
            reserve: prompt + u64::from(out),
            blocks: Vec::new(),
            generated: 0,
            payload: id,
        }
    }

    /// A sequence whose prompt is `prefix` shared words then `own` words
    /// of its own (named by `id`), hashed in blocks of 16.
    fn cached_seq(prefix: u64, own: u64, out: u32, id: u32) -> Seq<u32> {
        let words: Vec<String> = (0..prefix)
            .map(|i| format!("p{i}"))
            .chain((0..own).map(|i| format!("s{id}-{i}")))
            .collect();
        Seq {
            blocks: super::super::prefix::block_hashes(words.iter().map(String::as_str), 16),
            ..seq(prefix + own, out, id)
        }
    }

    fn drain(b: &mut Batcher<u32>) {
        while !b.is_idle() {
            b.admit(|_| true);
            b.emit(|_, _| true);
        }
    }

    #[test]
    fn a_shared_prefix_is_prefilled_once() {
        let mut b = Batcher::new(profile(8, 100_000), Some(16));
        b.enqueue(cached_seq(512, 64, 4, 0));
        b.enqueue(cached_seq(512, 64, 4, 1));
        let step = b.admit(|_| true);
        // The second hits the first's 32 prefix blocks in the same step.
        assert_eq!(
            (
                step.prompt_tokens,
                step.prefill_tokens,
                step.cache_queries,
                step.cache_hits
            ),
            (1152, 1152 - 512, 1152, 512)
        );
        assert_eq!(step.duration, profile(8, 0).step_time(2, 640));
        // Shared blocks are held once: 32 prefix blocks + 2 × 4 own blocks,
        // plus each sequence's 4 output tokens.
        assert!((b.kv_usage() - (40.0 * 16.0 + 8.0) / 100_000.0).abs() < 1e-12);
        drain(&mut b);
        assert_eq!(b.kv_usage(), 0.0, "free cached blocks are not in use");
        // Later: the prefix is still resident.
        b.enqueue(cached_seq(512, 64, 4, 2));
        assert_eq!(b.admit(|_| true).cache_hits, 512);
        // Without the cache nothing hits and the whole prompt is prefilled.
        let mut off = Batcher::new(profile(8, 100_000), None);
        off.enqueue(cached_seq(512, 64, 4, 0));
        off.enqueue(cached_seq(512, 64, 4, 1));
        let step = off.admit(|_| true);
        assert_eq!((step.prefill_tokens, step.cache_queries, step.cache_hits), (1152, 0, 0));
    }

    #[test]
    fn a_small_cache_evicts_the_least_recently_freed_prefix() {
        // Room for one 256-token prompt and its output, not two.
        let mut b = Batcher::new(profile(8, 300), Some(16));
        let a = |id| cached_seq(256, 0, 4, id);
        let other = |id| Seq {
            blocks: super::super::prefix::block_hashes(
                (0..256)
                    .map(|i| format!("o{i}"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
                16,
            ),
            ..seq(256, 4, id)
        };
        b.enqueue(a(0));
        drain(&mut b);
        b.enqueue(a(1));
        assert_eq!(b.admit(|_| true).cache_hits, 240, "all but the last block");
        drain(&mut b);
        // Another prompt of the same size needs the room: the prefix goes.
        b.enqueue(other(2));
        assert_eq!(b.admit(|_| true).cache_hits, 0);
        drain(&mut b);
        // Room for it took 14 of the 16 free blocks, tail first: the head
        // of two blocks is all that still hits.
        b.enqueue(a(3));
        assert_eq!(b.admit(|_| true).cache_hits, 32);
    }

    #[test]
    fn step_time_adds_base_per_sequence_and_prefill() {
        let p = profile(8, 10_000);
        assert_eq!(p.step_time(0, 0), ms(5));
        assert_eq!(p.step_time(4, 0), ms(7));
        assert_eq!(p.step_time(4, 100), ms(8));
    }

    #[test]
    fn admission_stops_at_max_num_seqs_and_charges_prefill() {
        let mut b = Batcher::new(profile(2, 10_000), None);
        for i in 0..3 {
            b.enqueue(seq(100, 3, i));
        }
        let step = b.admit(|_| true);
        assert_eq!(step.admitted, 2);
        assert_eq!(step.batch, 2);
        assert_eq!(step.prefill_tokens, 200);
        assert_eq!(step.duration, ms(5) + ms(1) + ms(2));
        assert_eq!((b.running(), b.waiting()), (2, 1));
        assert!((b.kv_usage() - 206.0 / 10_000.0).abs() < 1e-12);
    }

    #[test]
    fn kv_cache_blocks_admission_head_of_line() {
        // 250 tokens of cache: the first (150) fits, the second (150) does
        // not, and the small third must not overtake it.
        let mut b = Batcher::new(profile(8, 250), None);
        b.enqueue(seq(100, 50, 0));
        b.enqueue(seq(100, 50, 1));
        b.enqueue(seq(10, 10, 2));
        assert_eq!(b.admit(|_| true).admitted, 1);
        assert_eq!(b.waiting(), 2);
    }

    #[test]
    fn first_token_at_end_of_admission_step_and_kv_freed_on_finish() {
        let mut b = Batcher::new(profile(1, 1_000), None);
        b.enqueue(seq(10, 2, 0));
        b.enqueue(seq(10, 2, 1));
        let mut got = Vec::new();
        let mut steps = 0;
        while !b.is_idle() {
            b.admit(|_| true);
            b.emit(|id, last| {
                got.push((steps, *id, last));
                true
            });
            steps += 1;
        }
        // One slot: the second sequence starts only after the first left.
        assert_eq!(got, vec![(0, 0, false), (1, 0, true), (2, 1, false), (3, 1, true)]);
        assert_eq!(b.kv_usage(), 0.0);
    }

    #[test]
    fn gone_clients_free_their_slot() {
        let mut b = Batcher::new(profile(1, 1_000), None);
        b.enqueue(seq(10, 5, 0));
        b.enqueue(seq(10, 5, 1));
        b.enqueue(seq(10, 5, 2));
        b.admit(|_| true);
        let e = b.emit(|_, _| false);
        assert_eq!(
            e,
            Emitted {
                tokens: 0,
                finished: 0,
                aborted: 1
            }
        );
        // Sequence 1 left while queued: skipped, 2 is admitted.
        let step = b.admit(|id| *id != 1);
        assert_eq!(step.admitted, 1);
        let mut ids = Vec::new();
        b.emit(|id, _| {
            ids.push(*id);
            true
        });
        assert_eq!(ids, vec![2]);
    }

    #[test]
    fn capacity_rises_then_saturates() {
        let p = BatchingProfile {
            max_num_seqs: 16,
            kv_cache_tokens: 1_000_000,
            prefill_per_token: Duration::ZERO,
            decode_base: ms(10),
            decode_per_seq: Duration::ZERO,
        };
        // One step per token at 10 ms: 100 tokens take 1 s per request.
        assert!((p.capacity(1, 0, 100) - 1.0).abs() < 1e-9);
        assert!((p.capacity(8, 0, 100) - 8.0).abs() < 1e-9);
        assert!((p.capacity(16, 0, 100) - 16.0).abs() < 1e-9);
        assert!((p.capacity(64, 0, 100) - 16.0).abs() < 1e-9);
        // KV cache as the limit: 1,000 tokens hold 5 sequences of 200.
        let small = BatchingProfile {
            kv_cache_tokens: 1_000,
            ..p
        };
        assert_eq!(small.max_batch(100, 100), 5);
        assert!((small.capacity(64, 100, 100) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn closed_loop_loses_a_step_per_request_until_the_queue_forms() {
        let p = BatchingProfile {
            max_num_seqs: 16,
            kv_cache_tokens: 1_000_000,
            prefill_per_token: Duration::ZERO,
            decode_base: ms(10),
            decode_per_seq: Duration::ZERO,
        };
        // 9 steps of 10 ms per cycle for 8 tokens.
        assert!((p.closed_loop_throughput(1, 0, 8) - 1.0 / 0.09).abs() < 1e-9);
        assert!((p.closed_loop_throughput(16, 0, 8) - 16.0 / 0.09).abs() < 1e-9);
        // Beyond the batch, a queued request takes every freed slot.
        assert!((p.closed_loop_throughput(17, 0, 8) - p.capacity(17, 0, 8)).abs() < 1e-9);
        // The default profile's figure quoted in the module docs.
        let d = BatchingProfile::small_gpu().closed_loop_throughput(10, 256, 128);
        assert!((d - 14.38).abs() < 0.01, "{d}");
    }

    #[test]
    fn engine_paces_steps_with_paused_time() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let p = BatchingProfile {
                max_num_seqs: 4,
                kv_cache_tokens: 10_000,
                prefill_per_token: Duration::ZERO,
                decode_base: ms(10),
                decode_per_seq: Duration::ZERO,
            };
            let (tx, rx) = mpsc::unbounded_channel();
            let metrics = super::super::metrics::Metrics::new(&["m".to_string()]);
            let engine = tokio::spawn(run_engine(p, None, rx, metrics.model(0).clone()));
            let start = Instant::now();
            let (tok_tx, mut tok_rx) = mpsc::unbounded_channel();
            tx.send(Seq {
                prompt_tokens: 5,
                output_tokens: 3,
                reserve: 8,
                blocks: Vec::new(),
                generated: 0,
                payload: tok_tx,
            })
            .unwrap();
            let mut at = Vec::new();
            while tok_rx.recv().await.is_some() {
                at.push(start.elapsed());
            }
            assert_eq!(at, vec![ms(10), ms(20), ms(30)]);
            drop(tx);
            engine.await.unwrap();
        });
    }
}
