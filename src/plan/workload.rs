//! What each request asks for: the prompt source (random, a fixed prompt,
//! a JSONL or ShareGPT file, vLLM's `prefix_repetition`), lengths,
//! streaming, a shared system prompt, and extra body fields.

use super::{bad, bad_at, defaults, PlanError, WorkloadOptions};
use crate::api::ApiKind;
use crate::workload::trace::TraceFormat;
use crate::workload::{DatasetSpec, SystemPromptSpec, SystemSource, WorkloadSpec};

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
        (None, Some("prefix_repetition" | "prefix-repetition"), None) => prefix_repetition(a)?,
        (None, Some("prefix_repetition" | "prefix-repetition"), Some(_)) => {
            return Err(bad_at(
                "workload.dataset_path",
                "--dataset-path does not apply to the prefix_repetition dataset",
            ))
        }
        (None, Some("sharegpt"), Some(p)) => DatasetSpec::ShareGpt { path: p.clone() },
        (None, Some("sharegpt"), None) => {
            return Err(bad_at(
                "workload.dataset",
                "--dataset sharegpt needs a file: --dataset sharegpt:FILE.json",
            ))
        }
        (None, Some(name), p) if TraceFormat::of_prefix(name).is_some() => super::trace::dataset(name, p.clone(), a)?,
        (None, Some("custom" | "jsonl"), Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, None, Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, Some(d), None) => match d.split_once(':') {
            Some((name, f)) if TraceFormat::of_prefix(name).is_some() => {
                super::trace::dataset(name, Some(f.into()), a)?
            }
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
    if !matches!(dataset, DatasetSpec::PrefixRepetition { .. }) {
        for (set, key, flag) in [
            (
                a.prefix_repetition_prefix_len.is_some(),
                "workload.prefix_repetition_prefix_len",
                "--prefix-repetition-prefix-len",
            ),
            (
                a.prefix_repetition_suffix_len.is_some(),
                "workload.prefix_repetition_suffix_len",
                "--prefix-repetition-suffix-len",
            ),
            (
                a.prefix_repetition_num_prefixes.is_some(),
                "workload.prefix_repetition_num_prefixes",
                "--prefix-repetition-num-prefixes",
            ),
            (
                a.prefix_repetition_output_len.is_some(),
                "workload.prefix_repetition_output_len",
                "--prefix-repetition-output-len",
            ),
        ] {
            if set {
                return Err(bad_at(
                    key,
                    format!("{flag} applies to --dataset prefix_repetition only"),
                ));
            }
        }
    }
    super::trace::check_workload(a, &dataset)?;
    // Synthesized prompts (random, prefix repetition, traces) ask for their
    // exact output lengths, as vLLM's do.
    let ignore_eos = a.ignore_eos.unwrap_or(false)
        || matches!(
            dataset,
            DatasetSpec::Random { .. } | DatasetSpec::PrefixRepetition { .. } | DatasetSpec::Trace(_)
        );
    let random_prefix_len = a.random_prefix_len.unwrap_or(0);
    if random_prefix_len > 0 && !matches!(dataset, DatasetSpec::Random { .. }) {
        return Err(bad_at(
            "workload.random_prefix_len",
            "--random-prefix-len applies to the random dataset only",
        ));
    }
    let max_tokens = match a.sharegpt_output_len {
        Some(0) => {
            return Err(bad_at(
                "workload.sharegpt_output_len",
                "--sharegpt-output-len must be at least 1",
            ))
        }
        Some(n) if matches!(dataset, DatasetSpec::ShareGpt { .. }) => {
            if a.output_len.is_some_and(|o| o != n) {
                return Err(bad_at(
                    "workload.sharegpt_output_len",
                    "--sharegpt-output-len and --output-len both set the output length; give one",
                ));
            }
            Some(n)
        }
        Some(_) => {
            return Err(bad_at(
                "workload.sharegpt_output_len",
                "--sharegpt-output-len applies to the ShareGPT dataset only",
            ))
        }
        None => a.output_len,
    };
    Ok(WorkloadSpec {
        dataset,
        max_tokens,
        stream: a.stream.unwrap_or(true),
        ignore_eos,
        extra_body: a.extra_body.clone(),
        seed: a.seed.unwrap_or(defaults::SEED),
        params: crate::workload::RequestParams::default(),
        random_prefix_len,
        request_id_prefix: None,
        tokenizer: None,
        system_prompt: None,
    })
}

/// vLLM's `prefix_repetition` dataset from its four flags (vLLM's
/// defaults); `--output-len` may give the output length too.
fn prefix_repetition(a: &WorkloadOptions) -> Result<DatasetSpec, PlanError> {
    let prefix_len = a
        .prefix_repetition_prefix_len
        .unwrap_or(defaults::PREFIX_REPETITION_PREFIX_LEN);
    let suffix_len = a
        .prefix_repetition_suffix_len
        .unwrap_or(defaults::PREFIX_REPETITION_SUFFIX_LEN);
    let num_prefixes = a
        .prefix_repetition_num_prefixes
        .unwrap_or(defaults::PREFIX_REPETITION_NUM_PREFIXES);
    if num_prefixes == 0 {
        return Err(bad_at(
            "workload.prefix_repetition_num_prefixes",
            "--prefix-repetition-num-prefixes must be at least 1",
        ));
    }
    if prefix_len + suffix_len == 0 {
        return Err(bad_at(
            "workload.prefix_repetition_prefix_len",
            "--prefix-repetition-prefix-len and --prefix-repetition-suffix-len are both 0: the prompts would be empty",
        ));
    }
    let output_len = match (a.prefix_repetition_output_len, a.output_len) {
        (Some(0), _) => {
            return Err(bad_at(
                "workload.prefix_repetition_output_len",
                "--prefix-repetition-output-len must be at least 1",
            ))
        }
        (Some(n), Some(o)) if n != o => {
            return Err(bad_at(
                "workload.prefix_repetition_output_len",
                "--prefix-repetition-output-len and --output-len both set the output length; give one",
            ))
        }
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => defaults::PREFIX_REPETITION_OUTPUT_LEN,
    };
    Ok(DatasetSpec::PrefixRepetition {
        prefix_len,
        suffix_len,
        num_prefixes,
        output_len,
    })
}

/// `--system-prompt TEXT|@FILE` or `--system-prompt-len N`: a `system`
/// message on the chat API, text before the prompt on the text APIs
/// (completions, TGI); the other APIs have no place for it.
pub(super) fn apply_system_prompt(a: &WorkloadOptions, api: ApiKind, w: &mut WorkloadSpec) -> Result<(), PlanError> {
    let source = match (&a.system_prompt, a.system_prompt_len) {
        (None, None) => return Ok(()),
        (Some(_), Some(_)) => {
            return Err(bad_at(
                "workload.system_prompt",
                "--system-prompt and --system-prompt-len both choose the system prompt; give one",
            ))
        }
        (Some(t), None) => match t.strip_prefix('@') {
            Some("") => {
                return Err(bad_at(
                    "workload.system_prompt",
                    "--system-prompt @FILE needs a file name after the @",
                ))
            }
            Some(path) => SystemSource::File { path: path.into() },
            None if t.trim().is_empty() => return Err(bad_at("workload.system_prompt", "--system-prompt is empty")),
            None => SystemSource::Text { text: t.clone() },
        },
        (None, Some(0)) => {
            return Err(bad_at(
                "workload.system_prompt_len",
                "--system-prompt-len must be at least 1",
            ))
        }
        (None, Some(n)) => SystemSource::Random { tokens: n },
    };
    let flag = if a.system_prompt.is_some() {
        "--system-prompt"
    } else {
        "--system-prompt-len"
    };
    let key = if a.system_prompt.is_some() {
        "workload.system_prompt"
    } else {
        "workload.system_prompt_len"
    };
    let as_message = match api {
        ApiKind::OpenaiChat => true,
        ApiKind::OpenaiCompletions | ApiKind::Tgi => false,
        other => {
            return Err(bad_at(
                key,
                format!("{flag} applies to openai-chat (a system message), openai-completions and tgi (text before the prompt), not {other}"),
            ))
        }
    };
    w.system_prompt = Some(SystemPromptSpec { source, as_message });
    Ok(())
}

/// The sampling flags (`--temperature`, `--top-p`, `--top-k`, `--min-p`)
/// go into the body of the OpenAI APIs' requests, as vLLM's do; a key the
/// `--extra-body` also gives keeps the `--extra-body` value (vLLM's order).
pub(super) fn apply_sampling(a: &WorkloadOptions, api: ApiKind, w: &mut WorkloadSpec) -> Result<(), PlanError> {
    let given: Vec<(&str, &'static str, &'static str, serde_json::Value)> = [
        (
            "temperature",
            "--temperature",
            "workload.temperature",
            a.temperature.map(serde_json::Value::from),
        ),
        (
            "top_p",
            "--top-p",
            "workload.top_p",
            a.top_p.map(serde_json::Value::from),
        ),
        (
            "top_k",
            "--top-k",
            "workload.top_k",
            a.top_k.map(serde_json::Value::from),
        ),
        (
            "min_p",
            "--min-p",
            "workload.min_p",
            a.min_p.map(serde_json::Value::from),
        ),
    ]
    .into_iter()
    .filter_map(|(k, f, key, v)| v.map(|v| (k, f, key, v)))
    .collect();
    let Some((_, first_flag, first_key, _)) = given.first() else {
        return Ok(());
    };
    if !matches!(api, ApiKind::OpenaiChat | ApiKind::OpenaiCompletions) {
        return Err(bad_at(
            first_key,
            format!("{first_flag} applies to the OpenAI APIs (openai-chat, openai-completions), not {api}"),
        ));
    }
    if a.temperature.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
        return Err(bad_at("workload.temperature", "--temperature must be 0 or more"));
    }
    if a.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
        return Err(bad_at("workload.top_p", "--top-p must be in (0, 1]"));
    }
    if a.top_k.is_some_and(|k| k < -1 || k == 0) {
        return Err(bad_at(
            "workload.top_k",
            "--top-k must be -1 (all tokens) or at least 1",
        ));
    }
    if a.min_p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
        return Err(bad_at("workload.min_p", "--min-p must be in [0, 1]"));
    }
    let extra = w.extra_body.get_or_insert_with(Default::default);
    for (k, _, _, v) in given {
        extra.entry(k).or_insert(v);
    }
    Ok(())
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
    fn vllm_workload_flags_apply_to_their_datasets() {
        let spec = w(|o| o.random_prefix_len = Some(5)).unwrap();
        assert_eq!(spec.random_prefix_len, 5);
        let spec = w(|o| {
            o.dataset = Some("sharegpt:a.json".into());
            o.sharegpt_output_len = Some(9)
        })
        .unwrap();
        assert_eq!(
            spec.max_tokens,
            Some(9),
            "--sharegpt-output-len sets every item's output length"
        );
        for (f, text) in [
            (
                w(|o| {
                    o.prompt = Some("p".into());
                    o.random_prefix_len = Some(3)
                })
                .unwrap_err(),
                "--random-prefix-len applies to the random dataset only",
            ),
            (
                w(|o| o.sharegpt_output_len = Some(9)).unwrap_err(),
                "--sharegpt-output-len applies to the ShareGPT dataset only",
            ),
            (
                w(|o| {
                    o.dataset = Some("sharegpt:a.json".into());
                    o.sharegpt_output_len = Some(0)
                })
                .unwrap_err(),
                "--sharegpt-output-len must be at least 1",
            ),
            (
                w(|o| {
                    o.dataset = Some("sharegpt:a.json".into());
                    o.sharegpt_output_len = Some(9);
                    o.output_len = Some(8)
                })
                .unwrap_err(),
                "give one",
            ),
        ] {
            assert!(f.message.contains(text), "`{f}` should contain `{text}`");
        }
    }

    fn sampled(api: ApiKind, f: impl FnOnce(&mut WorkloadOptions)) -> Result<WorkloadSpec, PlanError> {
        let mut o = WorkloadOptions::default();
        f(&mut o);
        let mut spec = resolve(&o)?;
        apply_sampling(&o, api, &mut spec)?;
        Ok(spec)
    }

    #[test]
    fn sampling_flags_go_into_the_body_and_extra_body_wins() {
        let spec = sampled(ApiKind::OpenaiCompletions, |o| {
            o.temperature = Some(0.5);
            o.top_p = Some(0.9);
            o.top_k = Some(-1);
            o.min_p = Some(0.1);
            o.extra_body = serde_json::from_str(r#"{"top_p": 0.3}"#).ok()
        })
        .unwrap();
        let body = spec.extra_body.unwrap();
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["top_p"], 0.3, "--extra-body keeps its value, as in vLLM");
        assert_eq!(body["top_k"], -1);
        assert_eq!(body["min_p"], 0.1);
        assert!(sampled(ApiKind::OpenaiChat, |_| {}).unwrap().extra_body.is_none());
    }

    #[test]
    fn every_sampling_error_names_its_flag() {
        let cases: Vec<(PlanError, &str)> = vec![
            (
                sampled(ApiKind::Tgi, |o| o.top_k = Some(5)).unwrap_err(),
                "--top-k applies to the OpenAI APIs",
            ),
            (
                sampled(ApiKind::OpenaiChat, |o| o.temperature = Some(-1.0)).unwrap_err(),
                "--temperature must be 0 or more",
            ),
            (
                sampled(ApiKind::OpenaiChat, |o| o.top_p = Some(0.0)).unwrap_err(),
                "--top-p must be in (0, 1]",
            ),
            (
                sampled(ApiKind::OpenaiChat, |o| o.top_k = Some(0)).unwrap_err(),
                "--top-k must be -1",
            ),
            (
                sampled(ApiKind::OpenaiChat, |o| o.min_p = Some(1.5)).unwrap_err(),
                "--min-p must be in [0, 1]",
            ),
        ];
        for (e, text) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert!(e.key.is_some_and(|k| k.starts_with("workload.")), "{e:?}");
        }
    }

    #[test]
    fn prefix_repetition_by_name_with_vllms_defaults() {
        let spec = w(|o| o.dataset = Some("prefix_repetition".into())).unwrap();
        assert!(matches!(
            spec.dataset,
            DatasetSpec::PrefixRepetition {
                prefix_len: 256,
                suffix_len: 256,
                num_prefixes: 10,
                output_len: 128
            }
        ));
        assert!(spec.ignore_eos);
        let spec = w(|o| {
            o.dataset = Some("prefix-repetition".into());
            o.prefix_repetition_prefix_len = Some(512);
            o.prefix_repetition_suffix_len = Some(64);
            o.prefix_repetition_num_prefixes = Some(1);
            o.output_len = Some(8)
        })
        .unwrap();
        assert!(matches!(
            spec.dataset,
            DatasetSpec::PrefixRepetition {
                prefix_len: 512,
                suffix_len: 64,
                num_prefixes: 1,
                output_len: 8
            }
        ));
        let pr = |f: &dyn Fn(&mut WorkloadOptions)| {
            w(|o| {
                o.dataset = Some("prefix_repetition".into());
                f(o)
            })
            .unwrap_err()
        };
        for (e, key, text) in [
            (
                w(|o| o.prefix_repetition_suffix_len = Some(3)).unwrap_err(),
                "workload.prefix_repetition_suffix_len",
                "--prefix-repetition-suffix-len applies to --dataset prefix_repetition only",
            ),
            (
                pr(&|o| o.prefix_repetition_num_prefixes = Some(0)),
                "workload.prefix_repetition_num_prefixes",
                "must be at least 1",
            ),
            (
                pr(&|o| {
                    o.prefix_repetition_prefix_len = Some(0);
                    o.prefix_repetition_suffix_len = Some(0)
                }),
                "workload.prefix_repetition_prefix_len",
                "the prompts would be empty",
            ),
            (
                pr(&|o| o.prefix_repetition_output_len = Some(0)),
                "workload.prefix_repetition_output_len",
                "must be at least 1",
            ),
            (
                pr(&|o| {
                    o.prefix_repetition_output_len = Some(5);
                    o.output_len = Some(6)
                }),
                "workload.prefix_repetition_output_len",
                "give one",
            ),
            (
                pr(&|o| o.dataset_path = Some("x".into())),
                "workload.dataset_path",
                "does not apply to the prefix_repetition dataset",
            ),
            (
                pr(&|o| o.random_prefix_len = Some(4)),
                "workload.random_prefix_len",
                "applies to the random dataset only",
            ),
        ] {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert_eq!(e.key, Some(key), "{e}");
        }
    }

    fn system(api: ApiKind, f: impl FnOnce(&mut WorkloadOptions)) -> Result<WorkloadSpec, PlanError> {
        let mut o = WorkloadOptions::default();
        f(&mut o);
        let mut spec = resolve(&o)?;
        apply_system_prompt(&o, api, &mut spec)?;
        Ok(spec)
    }

    #[test]
    fn a_system_prompt_is_a_message_on_chat_and_text_elsewhere() {
        let spec = system(ApiKind::OpenaiChat, |o| o.system_prompt = Some("Be brief.".into())).unwrap();
        assert_eq!(
            spec.system_prompt,
            Some(SystemPromptSpec {
                source: SystemSource::Text {
                    text: "Be brief.".into()
                },
                as_message: true
            })
        );
        let spec = system(ApiKind::OpenaiCompletions, |o| {
            o.system_prompt = Some("@sys.txt".into())
        })
        .unwrap();
        assert_eq!(
            spec.system_prompt,
            Some(SystemPromptSpec {
                source: SystemSource::File { path: "sys.txt".into() },
                as_message: false
            })
        );
        let spec = system(ApiKind::Tgi, |o| o.system_prompt_len = Some(64)).unwrap();
        assert_eq!(
            spec.system_prompt.map(|s| s.source),
            Some(SystemSource::Random { tokens: 64 })
        );
        assert!(system(ApiKind::OpenaiChat, |_| {}).unwrap().system_prompt.is_none());
    }

    #[test]
    fn every_system_prompt_error_names_its_flag() {
        for (e, key, text) in [
            (
                system(ApiKind::Http, |o| o.system_prompt = Some("x".into())).unwrap_err(),
                "workload.system_prompt",
                "--system-prompt applies to openai-chat (a system message), openai-completions and tgi (text before the prompt), not http",
            ),
            (
                system(ApiKind::OpenaiImages, |o| o.system_prompt_len = Some(3)).unwrap_err(),
                "workload.system_prompt_len",
                "--system-prompt-len applies to openai-chat",
            ),
            (
                system(ApiKind::OpenaiChat, |o| {
                    o.system_prompt = Some("x".into());
                    o.system_prompt_len = Some(3)
                })
                .unwrap_err(),
                "workload.system_prompt",
                "give one",
            ),
            (
                system(ApiKind::OpenaiChat, |o| o.system_prompt = Some("@".into())).unwrap_err(),
                "workload.system_prompt",
                "needs a file name",
            ),
            (
                system(ApiKind::OpenaiChat, |o| o.system_prompt = Some("  ".into())).unwrap_err(),
                "workload.system_prompt",
                "--system-prompt is empty",
            ),
            (
                system(ApiKind::OpenaiChat, |o| o.system_prompt_len = Some(0)).unwrap_err(),
                "workload.system_prompt_len",
                "must be at least 1",
            ),
        ] {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert_eq!(e.key, Some(key), "{e}");
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
