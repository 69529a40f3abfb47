//! The container image and the Kubernetes manifests, checked without a
//! cluster: the manifests parse, the Indexed Job's shard count agrees
//! across its fields, the flags it passes are inferload's, the merge step
//! reads every shard, and no secret value is written in them.

use std::path::Path;

use yaml_serde::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a YAML file.
fn documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes").join(name)).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

fn job<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == "Job" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Job {name}"))
}

fn args(job: &Value) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect()
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).map(|i| args[i + 1].clone())
}

#[test]
fn the_indexed_job_and_the_merge_agree_on_the_shards() {
    let docs = documents("inferload-shards.yaml");
    let shards = job(&docs, "inferload-shards");
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "every shard runs at once");
    let a = args(shards);
    assert_eq!(a[0], "run");
    assert_eq!(flag(&a, "--shards"), Some(n.to_string()));
    assert!(flag(&a, "--json").unwrap().contains("$(JOB_COMPLETION_INDEX)"));
    assert!(flag(&a, "--start-at").is_some(), "the shards start together");
    let container = &shards["spec"]["template"]["spec"]["containers"][0];
    assert!(container["resources"]["requests"]["memory"].is_string());

    // The flags are inferload's own: the binary accepts them.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_inferload"));
    let help = cmd.args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for f in a.iter().filter(|f| f.starts_with("--")) {
        assert!(help.contains(f.as_str()), "`inferload run` has no {f}");
    }

    let merge_docs = documents("inferload-merge.yaml");
    let merge = job(&merge_docs, "inferload-merge");
    let m = args(merge);
    assert_eq!(m[0], "merge");
    let inputs: Vec<&String> = m
        .iter()
        .filter(|x| x.ends_with(".json") && !x.contains("total"))
        .collect();
    assert_eq!(inputs.len() as u64, n, "the merge reads every shard: {m:?}");
    for k in 0..n {
        assert!(
            inputs.iter().any(|i| i.ends_with(&format!("shard-{k}.json"))),
            "shard {k}"
        );
    }
}

#[test]
fn no_secret_value_is_written_in_the_manifests() {
    for name in ["inferload-shards.yaml", "inferload-merge.yaml"] {
        for doc in documents(name) {
            assert_ne!(doc["kind"], "Secret", "{name} holds a Secret");
            let Some(containers) = doc["spec"]["template"]["spec"]["containers"].as_sequence() else {
                continue;
            };
            for env in containers.iter().filter_map(|c| c["env"].as_sequence()).flatten() {
                let var = env["name"].as_str().unwrap_or_default().to_ascii_uppercase();
                if ["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|s| var.contains(s)) {
                    assert!(env["value"].is_null(), "{name}: {var} has a literal value");
                    assert!(
                        env["valueFrom"]["secretKeyRef"].is_mapping(),
                        "{name}: {var} not from a Secret"
                    );
                }
            }
        }
    }
}

#[test]
fn the_image_is_multi_stage_small_and_not_root() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert_eq!(
        froms.last().copied(),
        Some("FROM scratch"),
        "the final image is only the binary"
    );
    let user = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "{user}");
    assert!(text.contains("--locked"), "built from the lock file");
}
