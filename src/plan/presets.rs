//! Use-case presets (`--use-case chat|code|summarization|rag|batch`): the
//! prompt and reply lengths and the latency objectives that fit a kind of
//! service, so "how many users can a chat assistant serve?" is one flag.
//!
//! A preset is one more layer of options, under everything the user gave
//! (scenario file, flags) and over the defaults: any explicit flag, such as
//! `--input-len` or `--slo`, overrides the preset's value. The table is in
//! docs/CAPACITY.md; a test keeps the two in step.

use super::options::{ObjectiveOptions, RunOptions, WorkloadOptions};

/// A kind of service, with the workload and objectives typical of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseCase {
    Chat,
    Code,
    Summarization,
    Rag,
    Batch,
}

impl crate::units::Choice for UseCase {
    const ALL: &'static [Self] = &[Self::Chat, Self::Code, Self::Summarization, Self::Rag, Self::Batch];
    fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Code => "code",
            Self::Summarization => "summarization",
            Self::Rag => "rag",
            Self::Batch => "batch",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Chat => "assistant turns: 512 in, 256 out; first token under 1 s, 20 tokens/s each",
            Self::Code => "completion in an editor: 1024 in, 128 out; first token under 500 ms",
            Self::Summarization => "long documents: 4096 in, 256 out; first token under 5 s",
            Self::Rag => "retrieved context: 2048 in, 256 out; first token under 2 s",
            Self::Batch => "offline work: 1024 in, 1024 out; throughput, only errors judged",
        }
    }
}

impl UseCase {
    /// (input tokens, output tokens, objectives) of the preset.
    pub fn table(self) -> (u64, u64, &'static [&'static str]) {
        match self {
            Self::Chat => (512, 256, &["ttft_p90<1s", "tpot_p90<50ms", "error_rate<1%"]),
            Self::Code => (1024, 128, &["ttft_p90<500ms", "tpot_p90<30ms", "error_rate<1%"]),
            Self::Summarization => (4096, 256, &["ttft_p90<5s", "tpot_p90<100ms", "error_rate<1%"]),
            Self::Rag => (2048, 256, &["ttft_p90<2s", "tpot_p90<50ms", "error_rate<1%"]),
            Self::Batch => (1024, 1024, &["error_rate<1%"]),
        }
    }

    /// The preset as an options layer.
    pub fn options(self) -> RunOptions {
        let (input, output, slos) = self.table();
        RunOptions {
            workload: WorkloadOptions {
                input_len: Some(input),
                output_len: Some(output),
                ..WorkloadOptions::default()
            },
            objectives: ObjectiveOptions {
                slo: Some(slos.iter().map(ToString::to_string).collect()),
                ..ObjectiveOptions::default()
            },
            ..RunOptions::default()
        }
    }
}

/// `o` over its use case's preset, if it names one.
pub(super) fn layered(o: &RunOptions) -> Option<RunOptions> {
    let case = o.workload.use_case?;
    Some(case.options().merged(o.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RunPlan;
    use crate::units::Choice;

    fn plan(f: impl FnOnce(&mut RunOptions)) -> RunPlan {
        let mut o = RunOptions::default();
        f(&mut o);
        RunPlan::resolve(&o).expect("resolves")
    }

    /// The random dataset's (input, output) lengths.
    fn lengths(p: &RunPlan) -> (u64, u64) {
        match p.workload.dataset {
            crate::workload::DatasetSpec::Random {
                input_len, output_len, ..
            } => (input_len, output_len),
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_use_case_sets_lengths_and_objectives_and_flags_win() {
        let p = plan(|o| o.workload.use_case = Some(UseCase::Chat));
        assert_eq!(lengths(&p), (512, 256));
        let slos: Vec<String> = p.slos.iter().map(ToString::to_string).collect();
        assert_eq!(slos.len(), 3, "{slos:?}");
        assert!(slos[0].starts_with("ttft_p90<"), "{slos:?}");

        let p = plan(|o| {
            o.workload.use_case = Some(UseCase::Chat);
            o.workload.input_len = Some(100);
            o.objectives.slo = Some(vec!["e2e_p99<9s".into()]);
        });
        assert_eq!(lengths(&p), (100, 256));
        assert_eq!(p.slos.len(), 1, "the typed objectives replace the preset's");
    }

    #[test]
    fn every_preset_resolves_and_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CAPACITY.md")).unwrap();
        for &case in UseCase::ALL {
            let p = plan(|o| o.workload.use_case = Some(case));
            let (input, output, slos) = case.table();
            assert_eq!(lengths(&p), (input, output));
            let row = format!("| `{}` | {input} | {output} | {} |", case.name(), slos.join(", "));
            assert!(doc.contains(&row), "docs/CAPACITY.md lacks the row\n{row}");
        }
    }
}
