//! A comparison's plan: one resolved run plan per strategy — typed
//! `NAME=URL`s or a scenario file's `[[strategy]]` entries, each made by
//! the plan's one constructor — and the comparison's own settings.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::{RunOptions, RunPlan};

/// One strategy as planned.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyPlan {
    pub name: String,
    pub plan: RunPlan,
}

/// A validated comparison: one run plan per strategy (each made by the
/// plan's one constructor) and what is the comparison's own.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    pub strategies: Vec<StrategyPlan>,
    pub repeat: u32,
    pub interleave: bool,
    pub json: Option<PathBuf>,
    pub quiet: bool,
    pub reports: crate::plan::ReportPaths,
}

/// The comparison's own settings, as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// `NAME=URL` strategies typed on the command line.
    pub strategies: Vec<String>,
    /// `--repeat` (when given), else the file's, else 1.
    pub repeat: Option<u32>,
    /// `--interleave` (when given), else the file's.
    pub interleave: Option<bool>,
    pub json: Option<PathBuf>,
}

/// `NAME=URL` (the URL may be empty: the shared `--url`).
fn parse_strategy_arg(s: &str) -> Result<(String, Option<String>), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("strategy `{s}` must look like NAME=URL (e.g. baseline=http://host:8000/generate)"))?;
    let name = name.trim();
    crate::scenario::check_strategy_name(name)?;
    let url = url.trim();
    Ok((name.to_string(), (!url.is_empty()).then(|| url.to_string())))
}

impl ComparePlan {
    /// The strategies: typed `NAME=URL`s, else the scenario file's
    /// `[[strategy]]` entries. Each strategy's settings go over the file's
    /// tables; what the user typed goes over everything (a typed strategy's
    /// URL over a typed `--url`).
    pub fn resolve(scenario: Option<&Path>, typed: &RunOptions, c: &CompareOptions) -> anyhow::Result<Self> {
        let scenario = scenario.map(crate::scenario::Scenario::load).transpose()?;
        let (file_repeat, file_interleave) = scenario.as_ref().map_or((None, None), |s| s.compare_settings());
        let repeat = c.repeat.or(file_repeat).unwrap_or(1);
        anyhow::ensure!(repeat >= 1, "--repeat must be at least 1");
        let interleave = c.interleave.or(file_interleave).unwrap_or(false);
        // Every strategy measures without samples, dashboard or history:
        // the comparison's own outputs stand for them.
        let mut typed = typed.clone();
        typed.output.show_samples = Some(0);
        typed.output.tui = Some(false);
        typed.output.no_history = Some(true);
        let plan_of = |under: &RunOptions, over: &RunOptions, place| match &scenario {
            Some(s) => s.plan_at(under, over, place),
            None => Ok(RunPlan::resolve(&under.clone().merged(over.clone()))?),
        };
        let mut strategies: Vec<StrategyPlan> = Vec::new();
        let mut add = |name: String, plan: RunPlan| -> anyhow::Result<()> {
            anyhow::ensure!(
                !strategies.iter().any(|s| s.name == name),
                "strategy `{name}` is given twice"
            );
            strategies.push(StrategyPlan { name, plan });
            Ok(())
        };
        for s in &c.strategies {
            let (name, url) = parse_strategy_arg(s).map_err(anyhow::Error::msg)?;
            let mut over = typed.clone();
            if let Some(u) = url {
                over.target.url = Some(u);
                over.target.host = None;
                over.target.port = None;
            }
            let plan = plan_of(&RunOptions::default(), &over, crate::scenario::Place::Tables)
                .map_err(|e| anyhow::anyhow!("strategy `{name}`: {e:#}"))?;
            add(name, plan)?;
        }
        if c.strategies.is_empty() {
            if let Some(sc) = &scenario {
                for (i, st) in sc.strategies().into_iter().enumerate() {
                    let plan = plan_of(&st.options, &typed, crate::scenario::Place::Strategy(i))?;
                    add(st.name, plan)?;
                }
            }
        }
        anyhow::ensure!(
            strategies.len() >= 2,
            "compare needs at least two strategies: NAME=URL NAME=URL ... (or [[strategy]] entries in --scenario)"
        );
        let first = &strategies[0].plan;
        if let Some(path) = &c.json {
            // The comparison's own document, checked like every output.
            let mut written = first.written_paths();
            written.push(crate::plan::OutputPath {
                flag: "--json",
                key: "output.json",
                path: path.clone(),
                role: crate::plan::PathRole::File,
            });
            crate::plan::check_paths(&written, &first.read_paths())?;
        }
        let outputs = &first.outputs;
        Ok(Self {
            json: c.json.clone(),
            quiet: outputs.quiet,
            reports: outputs.reports.clone(),
            strategies,
            repeat,
            interleave,
        })
    }

    /// The TTFT percentile shown beside the mean: the highest of the first
    /// strategy's `--metric-percentiles`, else p99.
    pub fn tail_percentile(&self) -> crate::stats::Percentile {
        self.strategies
            .first()
            .and_then(|s| s.plan.outputs.metric_percentiles.as_ref())
            .and_then(|ps| {
                ps.iter()
                    .copied()
                    .reduce(|a, b| if b.value() > a.value() { b } else { a })
            })
            .unwrap_or_else(crate::doc::compare::default_tail)
    }

    /// The order of measurements: `(strategy, repeat)`.
    pub fn order(&self) -> Vec<(usize, u32)> {
        let (n, r) = (self.strategies.len(), self.repeat);
        if self.interleave {
            (0..r).flat_map(|k| (0..n).map(move |s| (s, k))).collect()
        } else {
            (0..n).flat_map(|s| (0..r).map(move |k| (s, k))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_runs_strategies_round_robin() {
        let mut p = ComparePlan {
            strategies: Vec::new(),
            repeat: 2,
            interleave: true,
            json: None,
            quiet: true,
            reports: Default::default(),
        };
        let plan = crate::plan::RunPlan::resolve(&crate::plan::RunOptions::default()).unwrap();
        for n in ["a", "b"] {
            p.strategies.push(StrategyPlan {
                name: n.into(),
                plan: plan.clone(),
            });
        }
        assert_eq!(p.order(), vec![(0, 0), (1, 0), (0, 1), (1, 1)]);
        p.interleave = false;
        assert_eq!(p.order(), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    }

    #[test]
    fn strategy_arguments_parse() {
        assert_eq!(
            parse_strategy_arg("pool=http://h:1/generate").unwrap(),
            ("pool".into(), Some("http://h:1/generate".into()))
        );
        assert_eq!(parse_strategy_arg("a=").unwrap(), ("a".into(), None));
        assert!(parse_strategy_arg("nourl").is_err());
        assert!(parse_strategy_arg("bad name=x").is_err());
    }
}
