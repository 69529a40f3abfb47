//! The layering rules of docs/ARCHITECTURE.md, checked on the source: which
//! top-level module names which (`crate::NAME` in code, not in comments or
//! unit tests). A rule broken here fails with the file that broke it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

/// Every top-level module's imports of other top-level modules, with one
/// file that makes each.
fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g = Graph::new();
    let mut files = Vec::new();
    collect(&src, &mut files);
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may reach anywhere; only the module's code counts.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let entry = g.entry(top.clone()).or_default();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != top {
                    entry.entry(name).or_insert_with(|| rel.to_path_buf());
                }
            }
        }
    }
    g
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A path of imports from `from` to `to`, if there is one.
fn path(g: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![vec![from.to_string()]];
    while let Some(p) = stack.pop() {
        let last = p.last().unwrap().clone();
        if last == to && p.len() > 1 {
            return Some(p);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in g.get(&last).into_iter().flat_map(|m| m.keys()) {
            let mut q = p.clone();
            q.push(next.clone());
            stack.push(q);
        }
    }
    None
}

fn imports<'a>(g: &'a Graph, module: &str) -> &'a BTreeMap<String, PathBuf> {
    g.get(module)
        .unwrap_or_else(|| panic!("no module `{module}`: update the rule"))
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    assert!(g.len() > 20, "the scan found {} modules", g.len());
    let mut cycles = Vec::new();
    for (a, deps) in &g {
        for (b, file) in deps {
            if let Some(back) = path(&g, b, a) {
                cycles.push(format!("{a} -> {} (from {})", back.join(" -> "), file.display()));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_never_lines_hold() {
    let g = graph();
    let never: &[(&str, &[&str])] = &[
        // The request path takes its own configuration.
        (
            "engine",
            &[
                "plan", "export", "ui", "harness", "run", "sweep", "compare", "app", "cli",
            ],
        ),
        // Readers of documents render what was saved, not the commands' code.
        ("report", &["sweep", "compare", "run", "harness", "app", "cli"]),
        ("history", &["sweep", "compare", "run", "harness", "app", "cli"]),
        // The plan is pure settings.
        (
            "plan",
            &["monitor", "history", "harness", "engine", "export", "app", "cli"],
        ),
        (
            "doc",
            &["harness", "run", "sweep", "compare", "export", "report", "app", "cli"],
        ),
        ("harness", &["run", "sweep", "compare", "app", "cli"]),
    ];
    let mut broken = Vec::new();
    for (module, forbidden) in never {
        let deps = imports(&g, module);
        for f in *forbidden {
            if let Some(file) = deps.get(*f) {
                broken.push(format!("{module} imports {f} ({})", file.display()));
            }
        }
    }
    // Nothing below the edge sees argv or exit statuses.
    for (module, deps) in &g {
        if module != "app" {
            for edge in ["app", "cli"] {
                if module != "cli" || edge != "cli" {
                    if let Some(file) = deps.get(edge) {
                        broken.push(format!("{module} imports {edge} ({})", file.display()));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
/// Clap's types, signal handlers and the process's exit stay at the edge:
/// only `app` and `cli` name clap, only `app` installs signal handlers.
#[test]
fn only_the_edge_uses_clap() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut users: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .map(str::trim)
                .any(|l| !l.starts_with("//") && (l.contains("clap::") || l.starts_with("use clap")))
        })
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    users.sort();
    let allowed = ["app.rs", "cli/mod.rs", "cli/sim.rs"];
    let others: Vec<&String> = users.iter().filter(|u| !allowed.contains(&u.as_str())).collect();
    assert!(others.is_empty(), "clap outside the edge: {others:?}");
}

#[test]
fn only_app_installs_signal_handlers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let users: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .map(str::trim)
                .any(|l| !l.starts_with("//") && (l.contains("tokio::signal") || l.contains("std::process::exit")))
        })
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(users, vec!["app.rs".to_string()], "signals or exit below the edge");
}
