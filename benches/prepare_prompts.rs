//! What token-exact prompts cost to prepare: a byte-level BPE is trained
//! in the process (no file, no network), then `Workload::prepare` makes
//! 10,000 random prompts of exactly 1,024 tokens, as a run with
//! `--tokenizer --input-len 1024 -n 10000` does before its load starts.
//! Also times the collector's count of 10,000 replies of about 256 tokens
//! (replies without `usage`).
//!
//! Run with `cargo bench --bench prepare_prompts` (`-- --vocab N` for
//! another vocabulary size, `-- --prompts N` for another count).

use std::sync::Arc;
use std::time::Instant;

use inferload::workload::{tokenizer, Counter, DatasetSpec, Prompt, RequestParams, Tokenizer, Workload, WorkloadSpec};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's CPU time (user + system), in seconds: the figure that
/// holds on a machine whose cores other work shares.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let (vocab, prompts) = (arg("--vocab", 32_000), arg("--prompts", 10_000));
    let t = Instant::now();
    let inner = tokenizer::testing::byte_level_bpe(vocab);
    let size = inner.get_vocab_size(true);
    let tok = Arc::new(Tokenizer::new(inner, "bench-bpe").expect("tokenizer"));
    println!(
        "tokenizer: byte-level BPE, {size} tokens, trained and loaded in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let spec = WorkloadSpec {
        dataset: DatasetSpec::Random {
            input_len: 1024,
            output_len: 128,
            range_ratio: 0.0,
        },
        max_tokens: None,
        stream: true,
        ignore_eos: true,
        extra_body: None,
        seed: 0,
        params: RequestParams::default(),
        random_prefix_len: 0,
        request_id_prefix: None,
        tokenizer: None,
        system_prompt: None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let w = Workload::prepare(&spec, Counter::Tokenizer(tok.clone()), prompts as u64).expect("workload");
    let (took, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let exact = (0..prompts as u64).filter(|&i| w.item(i).input_tokens == 1024).count();
    println!(
        "prepare: {prompts} prompts of 1,024 tokens in {took:.2} s wall on {cores} cores, {cpu:.2} s CPU \
         ({:.0} µs CPU a prompt; {exact} exactly 1,024 tokens)",
        cpu / prompts as f64 * 1e6
    );
    let replies: Vec<String> = (0..prompts as u64)
        .map(|i| match w.item(i).prompt {
            Prompt::Text(t) => t.chars().take(1_000).collect(),
            Prompt::Chat(_) => String::new(),
        })
        .collect();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let tokens: u64 = replies.iter().map(|r| tok.count(r)).sum();
    let (took, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "count: {prompts} replies ({:.0} tokens each) in {took:.2} s wall, {cpu:.2} s CPU on one thread ({:.0} µs CPU a reply)",
        tokens as f64 / prompts as f64,
        cpu / prompts as f64 * 1e6
    );
}
