//! What each request asks for: the prompt source (random, a fixed prompt,
//! a JSONL or ShareGPT file), lengths, streaming, and extra body fields.

use super::{bad, bad_at, defaults, PlanError, WorkloadOptions};
use crate::workload::{DatasetSpec, WorkloadSpec};

pub(super) fn resolve(a: &WorkloadOptions) -> Result<WorkloadSpec, PlanError> {
    let range_ratio = a.range_ratio.unwrap_or(defaults::RANGE_RATIO);
    if !(0.0..1.0).contains(&range_ratio) {
        return Err(bad_at("workload.range_ratio", "--range-ratio must be in [0, 1)"));
    }
    let input_len = a.input_len.unwrap_or(defaults::INPUT_LEN);
    if input_len == 0 {
        return Err(bad_at("workload.input_len", "--input-len must be at least 1"));
    }
    if a.output_len == Some(0) {
        return Err(bad_at("workload.output_len", "--output-len must be at least 1"));
    }
    let dataset = match (&a.prompt, a.dataset.as_deref(), &a.dataset_path) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad_at(
                "workload.prompt",
                "--prompt and --dataset both choose the prompts; give one",
            ))
        }
        (Some(p), None, None) => DatasetSpec::Prompt { text: p.clone() },
        (None, None | Some("random"), None) => DatasetSpec::Random {
            input_len,
            output_len: a.output_len.unwrap_or(defaults::OUTPUT_LEN),
            range_ratio,
        },
        (None, Some("random"), Some(_)) => {
            return Err(bad_at(
                "workload.dataset_path",
                "--dataset-path does not apply to the random dataset",
            ))
        }
        (None, Some("sharegpt"), Some(p)) => DatasetSpec::ShareGpt { path: p.clone() },
        (None, Some("sharegpt"), None) => {
            return Err(bad_at(
                "workload.dataset",
                "--dataset sharegpt needs a file: --dataset sharegpt:FILE.json",
            ))
        }
        (None, Some("custom" | "jsonl"), Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, None, Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, Some(d), None) => match d.split_once(':') {
            Some(("sharegpt", f)) => DatasetSpec::ShareGpt { path: f.into() },
            Some(("jsonl", f)) => DatasetSpec::Jsonl { path: f.into() },
            _ => DatasetSpec::Jsonl { path: d.into() },
        },
        (None, Some(d), Some(_)) => {
            return Err(bad(format!(
                "--dataset `{d}` with --dataset-path: use sharegpt or custom"
            )))
        }
    };
    let ignore_eos = a.ignore_eos.unwrap_or(false) || matches!(dataset, DatasetSpec::Random { .. });
    Ok(WorkloadSpec {
        dataset,
        max_tokens: a.output_len,
        stream: a.stream.unwrap_or(true),
        ignore_eos,
        extra_body: a.extra_body.clone(),
        seed: a.seed.unwrap_or(defaults::SEED),
        params: crate::workload::RequestParams::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: impl FnOnce(&mut WorkloadOptions)) -> Result<WorkloadSpec, PlanError> {
        let mut o = WorkloadOptions::default();
        f(&mut o);
        resolve(&o)
    }

    #[test]
    fn datasets_by_name_and_file() {
        let spec = w(|_| {}).unwrap();
        assert!(matches!(
            spec.dataset,
            DatasetSpec::Random {
                input_len: 256,
                output_len: 128,
                ..
            }
        ));
        assert!(spec.ignore_eos, "the random dataset ignores EOS, as vLLM's does");
        assert!(spec.stream);
        let spec = w(|o| o.prompt = Some("hi".into())).unwrap();
        assert!(matches!(spec.dataset, DatasetSpec::Prompt { .. }));
        assert!(!spec.ignore_eos);
        for (name, path, sharegpt) in [
            (Some("sharegpt:a.json"), None, true),
            (Some("sharegpt"), Some("a.json"), true),
            (Some("jsonl:a.jsonl"), None, false),
            (Some("custom"), Some("a.jsonl"), false),
            (None, Some("a.jsonl"), false),
            (Some("a.jsonl"), None, false),
        ] {
            let spec = w(|o| {
                o.dataset = name.map(Into::into);
                o.dataset_path = path.map(Into::into)
            })
            .unwrap();
            assert_eq!(
                matches!(spec.dataset, DatasetSpec::ShareGpt { .. }),
                sharegpt,
                "{name:?} {path:?}"
            );
        }
    }

    #[test]
    fn every_workload_error_names_its_flag() {
        let cases: Vec<(PlanError, &str)> = vec![
            (w(|o| o.range_ratio = Some(1.0)).unwrap_err(), "--range-ratio"),
            (w(|o| o.input_len = Some(0)).unwrap_err(), "--input-len"),
            (w(|o| o.output_len = Some(0)).unwrap_err(), "--output-len"),
            (
                w(|o| {
                    o.prompt = Some("p".into());
                    o.dataset = Some("x.jsonl".into())
                })
                .unwrap_err(),
                "--prompt and --dataset",
            ),
            (
                w(|o| {
                    o.dataset = Some("random".into());
                    o.dataset_path = Some("x".into())
                })
                .unwrap_err(),
                "--dataset-path does not apply",
            ),
            (
                w(|o| o.dataset = Some("sharegpt".into())).unwrap_err(),
                "--dataset sharegpt needs a file",
            ),
            (
                w(|o| {
                    o.dataset = Some("x.json".into());
                    o.dataset_path = Some("y".into())
                })
                .unwrap_err(),
                "use sharegpt or custom",
            ),
        ];
        for (e, text) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
        }
    }
}
