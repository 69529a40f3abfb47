//! `inferload sim` flags, and the one function that turns them into a
//! validated [`SimConfig`]: a named profile, then any parameter overrides,
//! with flags that do not apply to the chosen profile rejected by name.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::sim::{BatchingProfile, Fault, FixedProfile, OutputKind, Profile, SimConfig, DEFAULT_MODEL};
use crate::units::{parse_duration, parse_fraction};

/// A named performance profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileName {
    /// A small GPU, sped up: continuous batching of up to 64 sequences, a
    /// 65,536-token KV cache, steps of 4ms + 0.1ms per sequence + 0.02ms per
    /// prefilled token.
    Default,
    /// Exact TTFT and ITL for every request whatever the load (--ttft,
    /// --itl): ground truth for measurement accuracy.
    Fixed,
    /// Continuous batching that answers almost at once (1ms steps, 256
    /// sequences).
    Fast,
    /// Roughly an 8B model on an A100: 256 sequences, a 400,000-token KV
    /// cache, 7ms steps.
    A100,
}

impl ProfileName {
    fn as_str(self) -> &'static str {
        match self {
            ProfileName::Default => "default",
            ProfileName::Fixed => "fixed",
            ProfileName::Fast => "fast",
            ProfileName::A100 => "a100",
        }
    }
}

/// What chat replies carry their tokens as (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// `delta.content`, as every chat model.
    Content,
    /// The first half of the tokens as `delta.reasoning` (vLLM's reasoning
    /// parsers), then content.
    Reasoning,
    /// The first half of the tokens as `delta.reasoning_content` (DeepSeek,
    /// older vLLM), then content.
    ReasoningContent,
    /// Every token as `delta.tool_calls[0].function.arguments`.
    ToolCalls,
}

/// A misbehaviour to inject (`--fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultArg {
    /// A stream of only `data: [DONE]`; without streaming, an empty 200 body.
    Empty,
    /// A whole JSON reply although `stream: true` was asked.
    IgnoreStream,
    /// Hang until the client goes away: a stream after --stall-after
    /// tokens, a whole reply right after its headers.
    Stall,
    /// A usage with `"completion_tokens": -1`.
    BadUsage,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Performance profile.
    #[arg(
        long,
        value_name = "NAME",
        value_enum,
        default_value = "default",
        help_heading = "Performance model"
    )]
    pub profile: ProfileName,
    /// Time to first token of every request (fixed profile; default 50ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Performance model")]
    pub ttft: Option<Duration>,
    /// Time between tokens of every request (fixed profile; default 20ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Performance model")]
    pub itl: Option<Duration>,
    /// Sequences in one batch (batching profiles).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Performance model")]
    pub max_num_seqs: Option<u32>,
    /// KV-cache capacity in tokens; a request reserves prompt + max_tokens
    /// (batching profiles).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Performance model")]
    pub kv_cache_tokens: Option<u64>,
    /// Step cost per prompt token prefilled (batching profiles).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Performance model")]
    pub prefill_per_token: Option<Duration>,
    /// Fixed cost of every engine step (batching profiles; above zero).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Performance model")]
    pub decode_base: Option<Duration>,
    /// Step cost per running sequence (batching profiles).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Performance model")]
    pub decode_per_seq: Option<Duration>,
    /// Turn the prefix cache off (batching profiles keep one by default,
    /// as vLLM does: prompt blocks computed before and still resident
    /// are not prefilled again).
    #[arg(long, help_heading = "Performance model")]
    pub no_prefix_cache: bool,
    /// Tokens per prefix-cache block (batching profiles) [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Performance model")]
    pub prefix_block_size: Option<u32>,
    /// Model name to serve; repeat to serve several, each with its own
    /// engine [default: inferload-sim].
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// Fraction of requests answered with HTTP 500 (e.g. 0.05 or 5%).
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, default_value = "0", help_heading = "Faults")]
    pub error_rate: f64,
    /// Fraction of requests whose reply is cut after about half its tokens.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, default_value = "0", help_heading = "Faults")]
    pub disconnect_rate: f64,
    /// Behave like llama.cpp's llama-server: close the connection after
    /// each streamed reply although the reply's headers announce
    /// `Connection: keep-alive` and `Keep-Alive: timeout=5, max=100` (no
    /// `Connection: close`). A client that reuses such a connection finds
    /// it closed; inferload notices and opens a new one.
    #[arg(long, help_heading = "Faults")]
    pub close_after_stream: bool,
    /// Inject a misbehaviour into a share (--fault-rate) of the generation
    /// requests not already given an error or a disconnect.
    #[arg(long, value_name = "KIND", value_enum, help_heading = "Faults")]
    pub fault: Option<FaultArg>,
    /// Share of requests given the --fault (e.g. 0.5 or 50%) [default: 1].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, help_heading = "Faults")]
    pub fault_rate: Option<f64>,
    /// `--fault stall`: tokens a stream sends before it hangs (0: right
    /// after the headers) [default: 0].
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub stall_after: Option<u32>,
    /// What chat replies carry their generated tokens as (completions
    /// always use `text`).
    #[arg(long, value_name = "KIND", value_enum, default_value = "content")]
    pub output: OutputArg,
    /// Require `Authorization: Bearer KEY` on every /v1 route.
    #[arg(long, value_name = "KEY", env = "INFERLOAD_SIM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seed of every per-request decision (faults, output lengths, words).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Image service: model replicas serving at once (1: one model behind
    /// a global lock, the naive baseline; N: a pool).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Image service")]
    pub image_workers: u32,
    /// Image service: time of one inference step (an image takes steps ×
    /// this; 25 steps at the default: 0.5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "20ms", help_heading = "Image service")]
    pub image_step_time: Duration,
    /// Image service: share of each extra prompt's cost that
    /// /batch-generate saves (k prompts take 1 + (k−1)·(1 − this) times one).
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, default_value = "0.5", help_heading = "Image service")]
    pub batch_efficiency: f64,
    /// Load for this long before serving: the port opens only then, as
    /// vLLM's opens once the model is loaded (connections are refused
    /// until then).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s", help_heading = "Cold start")]
    pub startup_delay: Duration,
    /// Extra time the first generation request takes (its first token
    /// comes this much later), as a real server's first request pays for
    /// lazy compilation and empty caches.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s", help_heading = "Cold start")]
    pub cold_first_request: Duration,
}

impl SimArgs {
    /// The validated configuration and the profile's name.
    pub fn to_config(&self) -> anyhow::Result<(SimConfig, &'static str)> {
        let batching_flags = [
            ("--max-num-seqs", self.max_num_seqs.is_some()),
            ("--kv-cache-tokens", self.kv_cache_tokens.is_some()),
            ("--prefill-per-token", self.prefill_per_token.is_some()),
            ("--decode-base", self.decode_base.is_some()),
            ("--decode-per-seq", self.decode_per_seq.is_some()),
            ("--no-prefix-cache", self.no_prefix_cache),
            ("--prefix-block-size", self.prefix_block_size.is_some()),
        ];
        let profile = match self.profile {
            ProfileName::Fixed => {
                if let Some((flag, _)) = batching_flags.iter().find(|(_, set)| *set) {
                    bail!("{flag} sets a batching profile's parameter; it does not apply to --profile fixed");
                }
                let d = FixedProfile::default();
                Profile::Fixed(FixedProfile {
                    ttft: self.ttft.unwrap_or(d.ttft),
                    itl: self.itl.unwrap_or(d.itl),
                })
            }
            named => {
                if self.ttft.is_some() || self.itl.is_some() {
                    bail!(
                        "--ttft and --itl apply to --profile fixed; --profile {} is load-dependent (see --decode-base, --decode-per-seq)",
                        named.as_str()
                    );
                }
                let base = match named {
                    ProfileName::Fast => BatchingProfile::fast(),
                    ProfileName::A100 => BatchingProfile::a100(),
                    _ => BatchingProfile::small_gpu(),
                };
                let p = BatchingProfile {
                    max_num_seqs: self.max_num_seqs.unwrap_or(base.max_num_seqs),
                    kv_cache_tokens: self.kv_cache_tokens.unwrap_or(base.kv_cache_tokens),
                    prefill_per_token: self.prefill_per_token.unwrap_or(base.prefill_per_token),
                    decode_base: self.decode_base.unwrap_or(base.decode_base),
                    decode_per_seq: self.decode_per_seq.unwrap_or(base.decode_per_seq),
                };
                if p.decode_base.is_zero() {
                    bail!("--decode-base must be above zero (a step cannot take no time)");
                }
                Profile::Batching(p)
            }
        };
        if self.error_rate + self.disconnect_rate > 1.0 {
            bail!(
                "--error-rate ({}) and --disconnect-rate ({}) add up to more than 1",
                self.error_rate,
                self.disconnect_rate
            );
        }
        let fault = match self.fault {
            None => {
                for (flag, set) in [
                    ("--fault-rate", self.fault_rate.is_some()),
                    ("--stall-after", self.stall_after.is_some()),
                ] {
                    if set {
                        bail!("{flag} applies to an injected fault; choose one with --fault");
                    }
                }
                None
            }
            Some(f) => {
                if f != FaultArg::Stall && self.stall_after.is_some() {
                    bail!("--stall-after applies to --fault stall");
                }
                Some(match f {
                    FaultArg::Empty => Fault::Empty,
                    FaultArg::IgnoreStream => Fault::IgnoreStream,
                    FaultArg::Stall => Fault::Stall {
                        after_tokens: self.stall_after.unwrap_or(0),
                    },
                    FaultArg::BadUsage => Fault::BadUsage,
                })
            }
        };
        let output = match self.output {
            OutputArg::Content => OutputKind::Content,
            OutputArg::Reasoning => OutputKind::Reasoning,
            OutputArg::ReasoningContent => OutputKind::ReasoningContent,
            OutputArg::ToolCalls => OutputKind::ToolCalls,
        };
        let models = if self.models.is_empty() {
            vec![DEFAULT_MODEL.to_string()]
        } else {
            self.models.clone()
        };
        for (i, m) in models.iter().enumerate() {
            if m.trim().is_empty() {
                bail!("--model needs a non-empty name");
            }
            if models[..i].contains(m) {
                bail!("--model `{m}` is given twice");
            }
        }
        let config = SimConfig {
            host: self.host.clone(),
            port: self.port,
            profile,
            models,
            error_rate: self.error_rate,
            disconnect_rate: self.disconnect_rate,
            connections: if self.close_after_stream {
                crate::sim::ConnectionMode::CloseAfterStream
            } else {
                crate::sim::ConnectionMode::KeepAlive
            },
            output,
            fault,
            fault_rate: self.fault_rate.unwrap_or(1.0),
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            seed: self.seed,
            prefix_cache: !self.no_prefix_cache,
            prefix_block_size: self.prefix_block_size.unwrap_or(crate::sim::prefix::DEFAULT_BLOCK_SIZE),
            image: crate::sim::image::ImageConfig {
                workers: self.image_workers as usize,
                step_time: self.image_step_time,
                batch_efficiency: self.batch_efficiency,
            },
            startup_delay: self.startup_delay,
            cold_first_request: self.cold_first_request,
        };
        // Anything left is a bug in the checks above; still say it plainly.
        config.validate().map_err(anyhow::Error::msg)?;
        Ok((config, self.profile.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<(SimConfig, &'static str)> {
        let mut v = vec!["sim"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)?.sim.to_config()
    }

    #[test]
    fn fixed_profile_takes_ttft_and_itl() {
        let (c, name) = parse(&["--port", "0", "--profile", "fixed", "--ttft", "50ms", "--itl", "2s"]).unwrap();
        assert_eq!(name, "fixed");
        assert_eq!(
            c.profile,
            Profile::Fixed(FixedProfile {
                ttft: Duration::from_millis(50),
                itl: Duration::from_secs(2)
            })
        );
        assert_eq!(c.models, vec![DEFAULT_MODEL]);
    }

    #[test]
    fn overrides_apply_to_the_named_profile() {
        let (c, _) = parse(&["--profile", "a100", "--max-num-seqs", "16", "--decode-base", "10ms"]).unwrap();
        let Profile::Batching(p) = c.profile else {
            panic!("batching")
        };
        assert_eq!(p.max_num_seqs, 16);
        assert_eq!(p.decode_base, Duration::from_millis(10));
        assert_eq!(p.kv_cache_tokens, BatchingProfile::a100().kv_cache_tokens);
    }

    #[test]
    fn flags_of_the_other_profile_are_rejected_by_name() {
        let e = parse(&["--ttft", "50ms"]).unwrap_err().to_string();
        assert!(e.contains("--ttft"), "{e}");
        let e = parse(&["--profile", "fixed", "--max-num-seqs", "4"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-num-seqs"), "{e}");
        let e = parse(&["--profile", "fixed", "--no-prefix-cache"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--no-prefix-cache"), "{e}");
    }

    #[test]
    fn the_prefix_cache_is_on_by_default_with_16_token_blocks() {
        let (c, _) = parse(&[]).unwrap();
        assert_eq!(c.prefix_blocks(), Some(16));
        let (c, _) = parse(&["--prefix-block-size", "32"]).unwrap();
        assert_eq!(c.prefix_blocks(), Some(32));
        let (c, _) = parse(&["--no-prefix-cache"]).unwrap();
        assert_eq!(c.prefix_blocks(), None);
        assert!(parse(&["--prefix-block-size", "0"]).is_err());
        let (c, _) = parse(&["--profile", "fixed"]).unwrap();
        assert_eq!(c.prefix_blocks(), None, "the fixed profile keeps no prefix cache");
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["--error-rate", "1.5"]).is_err());
        assert!(parse(&["--max-num-seqs", "0"]).is_err());
        assert!(parse(&["--decode-base", "0ms"]).is_err());
        let e = parse(&["--error-rate", "0.6", "--disconnect-rate", "0.6"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--error-rate") && e.contains("--disconnect-rate"), "{e}");
        let e = parse(&["--model", "a", "--model", "a"]).unwrap_err().to_string();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn close_after_stream_plays_llama_server() {
        let (c, _) = parse(&[]).unwrap();
        assert_eq!(c.connections, crate::sim::ConnectionMode::KeepAlive);
        let (c, _) = parse(&["--close-after-stream"]).unwrap();
        assert_eq!(c.connections, crate::sim::ConnectionMode::CloseAfterStream);
    }

    #[test]
    fn faults_and_output_kinds() {
        let (c, _) = parse(&[]).unwrap();
        assert_eq!((c.fault, c.output), (None, OutputKind::Content));
        let (c, _) = parse(&["--fault", "stall", "--stall-after", "3", "--fault-rate", "25%"]).unwrap();
        assert_eq!(c.fault, Some(Fault::Stall { after_tokens: 3 }));
        assert_eq!(c.fault_rate, 0.25);
        let (c, _) = parse(&["--fault", "empty", "--output", "tool-calls"]).unwrap();
        assert_eq!(
            (c.fault, c.fault_rate, c.output),
            (Some(Fault::Empty), 1.0, OutputKind::ToolCalls)
        );
        for (args, flag) in [
            (&["--stall-after", "2"][..], "--stall-after"),
            (&["--fault-rate", "0.5"][..], "--fault-rate"),
            (&["--fault", "empty", "--stall-after", "2"][..], "--stall-after"),
        ] {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        assert!(parse(&["--fault", "nope"]).is_err());
    }

    #[test]
    fn several_models_and_a_hidden_key() {
        let (c, _) = parse(&["--model", "a", "--model", "b", "--api-key", "sk-secret"]).unwrap();
        assert_eq!(c.models, vec!["a", "b"]);
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}
