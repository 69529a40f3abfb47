//! One target, measured: connect once (HTTP client, preflight, the target's
//! scrapes), then run measurements — a warm-up and a measured phase each —
//! whose engine events feed the consumers: the records file, progress and
//! samples, the summary, goodput, the live exporters, and the records kept
//! for exporters that need them all.
//!
//! `run` measures once; `sweep` measures once per level on one session, so
//! every level shares the connection pool and the preflight; `compare`
//! keeps one session per strategy. What outlives a session (the machine's
//! samplers, the live exporters) is borrowed from the harness's
//! [`Services`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use super::services::Services;
use crate::api;
use crate::engine::{self, client, preflight, Event, Phase, RequestContext, Signals};
use crate::export::records::RecordsWriter;
use crate::monitor::{Monitor, Sampler};
use crate::plan::{RunPlan, Stop, TuiMode};
use crate::record::{ErrorClass, RequestRecord};
use crate::schedule::ScheduleSpec;
use crate::slo::{Goodput, RequestBounds};
use crate::stats::{Summary, SummaryBuilder};
use crate::ui::{self, RunView};
use crate::workload::Workload;

/// The engine's HTTP settings from the plan's target.
pub fn client_config(target: &crate::plan::Target) -> engine::ClientConfig {
    let mut config = engine::ClientConfig::new(target.timeout);
    config.insecure = target.insecure;
    config.connect_rate = target.connect_rate;
    if let Some(key) = &target.api_key {
        config.headers.push(engine::HeaderSpec::bearer(key.expose()));
    }
    config.headers.extend(target.headers.iter().map(|h| engine::HeaderSpec {
        name: h.name.clone(),
        value: h.value.expose().to_string(),
        sensitive: matches!(h.value, crate::plan::HeaderValue::Secret(_)),
    }));
    config
}

/// A connected, checked target with its workload.
pub struct Session {
    pub ctx: Arc<RequestContext>,
    pub workload: Arc<Workload>,
    pub base_url: String,
    pub embedded: bool,
    pub model: String,
    grace: Duration,
    abort_after: Option<Duration>,
    shard: Option<crate::schedule::Shard>,
    /// The plan's load over time (stages, ramp-up), for the measured phase.
    profile: Option<Arc<crate::schedule::stages::Profile>>,
    start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Multi-turn sessions instead of single requests (`--turns`).
    conversation: Option<crate::workload::conversation::ConversationSpec>,
    /// The monitor's interval; `None` with `--no-monitor`.
    monitor_interval: Option<Duration>,
    /// This target's scrapes, between measurements (taken while one runs).
    scrapes: std::sync::Mutex<Vec<Box<dyn Sampler>>>,
    /// The process's samplers and live exporters.
    services: Arc<Services>,
}

/// What one measurement sends.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    pub schedule: ScheduleSpec,
    pub stop: Stop,
    pub warmup: u64,
    pub seed: u64,
}

impl Level {
    /// The plan's own load.
    pub fn of_plan(plan: &RunPlan) -> Self {
        Self {
            schedule: plan.schedule,
            stop: plan.stop,
            warmup: plan.warmup,
            seed: plan.seed,
        }
    }
}

/// Where one measurement's events go besides the summary.
pub struct Sinks {
    pub records: Option<RecordsWriter>,
    pub show_samples: usize,
    /// Keep every request's generated text (vLLM's detailed result).
    pub capture_all_text: bool,
    /// Keep every record in memory (vLLM's per-request arrays).
    pub keep_records: bool,
    pub quiet: bool,
    /// Per-request latency bounds deciding which requests are good.
    pub bounds: RequestBounds,
    /// Percentiles the summary computes beyond the fixed ones
    /// (`RunPlan::percentiles`).
    pub percentiles: Vec<crate::stats::Percentile>,
}

/// The outcome of one measurement.
#[derive(Debug)]
pub struct Measurement {
    pub summary: Summary,
    /// Good requests, when there are latency objectives to judge them by.
    pub goodput: Option<Goodput>,
    pub records: Vec<RequestRecord>,
    /// Requests still running when the run stopped (failed as `unfinished`).
    pub unfinished: u64,
    pub interrupted: bool,
    /// Set when the phase gave up after `--abort-after` without a success.
    pub gave_up: Option<Duration>,
    /// The summary's mergeable form (shards only).
    pub summary_state: Option<crate::stats::state::SummaryState>,
    /// Wall-clock start of the measured phase.
    pub started_at: chrono::DateTime<chrono::Local>,
    /// Users active over time (users schedule only).
    pub users: Option<crate::schedule::UsersActivity>,
    /// Per-task and per-model figures (a scenario's task mix only).
    pub breakdown: Option<crate::stats::breakdown::Breakdown>,
    /// Per-turn and per-session figures (a conversation run, `--turns`).
    pub sessions: Option<crate::stats::sessions::Sessions>,
    /// What the monitor saw (`None` with `--no-monitor`).
    pub monitor: Option<crate::monitor::MonitorReport>,
    /// Whether the load generator kept up (see `monitor::trust`).
    pub trust: crate::monitor::TrustVerdict,
    /// The connections the measured phase opened and used.
    pub connections: engine::ConnectionStats,
    /// Each stage's figures, unjudged (a load over time only).
    pub stages: Option<super::stages::StageSplit>,
    /// A bounded, seeded subsample of the successful requests' latencies,
    /// for the bootstrap intervals of a run without repeats.
    pub samples: crate::stats::confidence::RequestSamples,
    /// The summary's builder, so that repeats pool into one summary.
    pub builder: SummaryBuilder,
}

impl Measurement {
    /// Mean GPU utilisation (percent), when a GPU was monitored.
    pub fn mean_gpu_utilization(&self) -> Option<f64> {
        self.monitor
            .as_ref()
            .and_then(crate::monitor::MonitorReport::mean_gpu_utilization)
    }
}

impl Session {
    /// Builds the client (pooling `pool` connections) and checks the target.
    pub async fn connect(
        plan: &RunPlan,
        workload: Arc<Workload>,
        base_url: &str,
        embedded: bool,
        pool: usize,
        services: Arc<Services>,
    ) -> anyhow::Result<Self> {
        let target = &plan.target;
        let config = client_config(target);
        let client = client::build_client(&config, pool).context("cannot build the HTTP client")?;
        let headers = client::request_headers(&config);
        let redactor = plan.redactor();
        let query = target.query.as_ref().map(crate::plan::UrlQuery::expose);
        let model = preflight::check_target(
            client.probe(),
            target.api,
            base_url,
            query,
            &headers,
            target.model.as_deref(),
            &redactor,
            preflight::Readiness::new(target.timeout, target.ready_check),
        )
        .await?;
        // A scenario's task mix: one context per task, on the same client.
        let tasks = plan
            .tasks
            .iter()
            .map(|t| crate::engine::TaskContext {
                name: t.name.clone(),
                ctx: RequestContext {
                    client: client.clone(),
                    url: target.request_url(base_url, &t.endpoint),
                    headers: headers.clone(),
                    adapter: api::adapter(t.api),
                    model: t.model.clone().unwrap_or_else(|| model.clone()),
                    workload_spec: t.workload.clone(),
                    redactor: redactor.clone(),
                    tasks: Vec::new(),
                },
            })
            .collect();
        let url = target.request_url(base_url, &target.endpoint);
        let adapter = api::for_api(target.api, target.http.as_ref(), &url)
            .map_err(|e| anyhow::anyhow!("--body-template: {e}"))?;
        let ctx = Arc::new(RequestContext {
            client,
            url,
            headers,
            adapter,
            model: model.clone(),
            workload_spec: plan.workload.clone(),
            redactor,
            tasks,
        });
        let scrapes = match plan.monitor.enabled {
            true => crate::monitor::target_samplers(&plan.monitor, ctx.client.probe(), base_url, query).await,
            false => Vec::new(),
        };
        if plan.monitor.enabled {
            let sources: Vec<String> = services
                .sampler_sources()
                .into_iter()
                .chain(scrapes.iter().map(|s| s.source()))
                .collect();
            println!(
                "Monitor:   {} every {}",
                sources.join(", "),
                crate::units::format_duration(plan.monitor.interval)
            );
        }
        Ok(Self {
            ctx,
            workload,
            base_url: base_url.to_string(),
            embedded,
            model,
            grace: plan.grace,
            abort_after: plan.abort_after,
            shard: plan.shard,
            profile: plan.profile.clone().map(Arc::new),
            start_at: plan.start_at,
            conversation: plan.conversation,
            monitor_interval: plan.monitor.enabled.then_some(plan.monitor.interval),
            scrapes: std::sync::Mutex::new(scrapes),
            services,
        })
    }

    /// Whether this process is one shard of a run (`--shard K/N`).
    pub fn is_shard(&self) -> bool {
        self.shard.is_some()
    }

    /// Runs the warm-up (if any) and the measured phase of one level,
    /// showing progress (never the dashboard).
    pub async fn measure(&self, level: &Level, sinks: Sinks, signals: &Signals) -> anyhow::Result<Measurement> {
        self.measure_with(level, sinks, signals, TuiMode::Off).await
    }

    /// [`Session::measure`], with the live dashboard during the measured
    /// phase when `tui` and the terminal call for it (see [`ui::open_view`]).
    pub async fn measure_with(
        &self,
        level: &Level,
        sinks: Sinks,
        signals: &Signals,
        tui: TuiMode,
    ) -> anyhow::Result<Measurement> {
        if level.warmup > 0 && !signals.interrupt.is_cancelled() {
            self.warm_up(level, signals).await;
        }
        if let Some(at) = self.start_at {
            if let Some(offset) = self.clock_offset().await {
                println!("{}", offset_line(offset));
            }
            wait_until(at, signals).await;
        }
        let show = sinks.show_samples;
        let phase = Phase {
            schedule: level.schedule,
            stop: engine::Stop {
                requests: level.stop.requests,
                duration: level.stop.duration,
            },
            seed: level.seed,
            first_index: level.warmup,
            // With a tokenizer every reply's text is kept until the
            // collector has counted it (and dropped it past the samples).
            capture_text_below: if sinks.capture_all_text || self.workload.counter().tokenizer().is_some() {
                u64::MAX
            } else {
                show as u64
            },
            grace: self.grace,
            abort_after: self.abort_after,
            shard: self.shard,
            conversation: self.conversation,
            profile: self.profile.clone(),
        };
        let started_at = chrono::Local::now();
        let (tx, rx) = mpsc::unbounded_channel::<Event>();
        let view = ui::open_view(
            tui,
            &level.stop,
            &level.schedule,
            self.profile.as_ref(),
            sinks.quiet,
            signals,
            self.grace,
        );
        let view = LiveFanout::wrap(view, self.services.live_sinks(), &self.model);
        let probe = crate::monitor::trust::Probe::start();
        let mut sampling = self.start_monitor();
        if let Some((running, _)) = sampling.as_mut() {
            // The server's counters' baseline comes before the first request.
            running.ready().await;
        }
        let guard = StopIfCollectorDies(Some(signals.clone()));
        let counter = self.workload.counter().clone();
        let split = self.profile.as_deref().map(super::stages::StageSplit::new);
        let seed = level.seed;
        let collector = tokio::task::spawn_blocking(move || {
            let mut guard = guard;
            let collected = collect(rx, sinks, view, &counter, split, seed);
            guard.0 = None;
            collected
        });
        let end = engine::run_phase(self.ctx.clone(), self.workload.clone(), phase, tx, signals).await;
        let readings = probe.finish(end.dispatch, &level.schedule).await;
        if let Some(d) = end.gave_up {
            eprintln!("{}", gave_up_line(d));
        }
        let mut monitor = match sampling {
            Some((running, lent)) => running.finish().await.map(|(m, report)| {
                self.return_samplers(m, lent);
                report
            }),
            None => None,
        };
        // One source for the load generator's CPU: the monitor's mean is the
        // phase's figure the trust line states (in percent of a core).
        if let Some(r) = monitor
            .as_mut()
            .filter(|r| r.summary.client_cpu_pct.is_some() || r.sources.iter().any(|s| s == "host"))
        {
            r.summary.set_client_cpu_mean(readings.client_cpu_cores() * 100.0);
        }
        let collected = collector.await.context("the results collector failed")?;
        for sink in self.services.live_sinks() {
            sink.flush();
        }
        let summary = collected.summary.finish();
        // The load generator's delays are weighed against what it measured.
        let trust = readings.judge(crate::monitor::trust::Latencies::of(&summary));
        // A shard saves its distributions in mergeable form for `merge`.
        let summary_state = self.shard.map(|_| collected.summary.state());
        let goodput =
            (!collected.bounds_empty).then(|| Goodput::of(collected.good, summary.requests_total, summary.duration_s));
        let mut records = collected.kept;
        records.sort_by_key(|r| r.index);
        Ok(Measurement {
            summary,
            goodput,
            records,
            unfinished: collected.unfinished,
            interrupted: end.interrupted,
            gave_up: end.gave_up,
            summary_state,
            started_at,
            users: collected.users,
            breakdown: (!collected.breakdown.is_empty()).then(|| collected.breakdown.finish()),
            sessions: (!collected.sessions.is_empty()).then(|| {
                let mut s = collected.sessions.finish();
                // A shard keeps them mergeable, as its summary.
                s.state = self.shard.map(|_| collected.sessions.state());
                s
            }),
            monitor,
            trust,
            connections: end.connections,
            stages: collected.stages,
            samples: collected.samples,
            builder: collected.summary,
        })
    }

    /// How far the target's clock (its `Date` header, to the second) is
    /// ahead of this machine's: shards started by wall-clock time are only
    /// as together as their clocks. `None` when the target sends no date.
    async fn clock_offset(&self) -> Option<f64> {
        let before = chrono::Utc::now();
        let resp = self.ctx.client.probe().get(&self.base_url).send().await.ok()?;
        let after = chrono::Utc::now();
        let date = resp.headers().get(reqwest::header::DATE)?.to_str().ok()?;
        let server = chrono::DateTime::parse_from_rfc2822(date).ok()?;
        let local = before + (after - before) / 2;
        Some((server.with_timezone(&chrono::Utc) - local).num_milliseconds() as f64 / 1000.0)
    }

    /// Starts sampling with the process's samplers (lent; how many is
    /// returned beside the running monitor) and this target's scrapes.
    fn start_monitor(&self) -> Option<(crate::monitor::Running, usize)> {
        let interval = self.monitor_interval?;
        let mut samplers = self.services.lend_samplers();
        let lent = samplers.len();
        samplers.append(&mut self.scrapes.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let notes = self.services.monitor_notes().to_vec();
        Some((Monitor::new(samplers, interval, notes).start(), lent))
    }

    /// Gives the lent samplers back to the services and keeps the scrapes.
    fn return_samplers(&self, m: Monitor, lent: usize) {
        let mut samplers = m.into_samplers();
        let own = samplers.split_off(lent.min(samplers.len()));
        self.services.return_samplers(samplers);
        *self.scrapes.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = own;
    }

    async fn warm_up(&self, level: &Level, signals: &Signals) {
        println!("Warming up with {} requests...", level.warmup);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let phase = Phase {
            schedule: level.schedule,
            stop: engine::Stop {
                requests: Some(level.warmup),
                duration: None,
            },
            seed: level.seed ^ 0x5741_524d,
            first_index: 0,
            capture_text_below: 0,
            grace: self.grace,
            abort_after: self.abort_after,
            shard: self.shard,
            conversation: self.conversation,
            profile: None,
        };
        let drain = tokio::spawn(async move {
            let mut failed = 0u64;
            while let Some(ev) = rx.recv().await {
                if let Event::Finished(r) = ev {
                    failed += u64::from(!r.succeeded());
                }
            }
            failed
        });
        engine::run_phase(self.ctx.clone(), self.workload.clone(), phase, tx, signals).await;
        let failed = drain.await.unwrap_or_default();
        println!("Warm-up completed ({failed} failed).");
    }
}

struct Collected {
    summary: SummaryBuilder,
    kept: Vec<RequestRecord>,
    samples: crate::stats::confidence::RequestSamples,
    unfinished: u64,
    good: u64,
    bounds_empty: bool,
    users: Option<crate::schedule::UsersActivity>,
    breakdown: crate::stats::breakdown::BreakdownBuilder,
    sessions: crate::stats::sessions::SessionsBuilder,
    stages: Option<super::stages::StageSplit>,
}

/// The collector's view, fanned out to the live exporters: each event
/// reaches the view first, then every [`crate::live::LiveSink`].
struct LiveFanout {
    view: Box<dyn RunView>,
    sinks: Vec<Arc<dyn crate::live::LiveSink>>,
    model: String,
}

impl LiveFanout {
    fn wrap(view: Box<dyn RunView>, sinks: &[Arc<dyn crate::live::LiveSink>], model: &str) -> Box<dyn RunView> {
        if sinks.is_empty() {
            return view;
        }
        Box::new(Self {
            view,
            sinks: sinks.to_vec(),
            model: model.to_string(),
        })
    }
}

impl RunView for LiveFanout {
    fn on_sent(&mut self) {
        self.view.on_sent();
        for s in &self.sinks {
            s.on_sent();
        }
    }

    fn on_finished(&mut self, rec: &RequestRecord) {
        self.view.on_finished(rec);
        let model = rec.model.as_deref().unwrap_or(&self.model);
        for s in &self.sinks {
            s.on_finished(rec, model);
        }
    }

    fn println(&mut self, text: &str) {
        self.view.println(text);
    }

    fn finish(&mut self) {
        self.view.finish();
    }
}

/// Stops the engine when the collector dies (panics): its events would have
/// nowhere to go, and the run could not be reported anyway.
struct StopIfCollectorDies(Option<Signals>);

impl Drop for StopIfCollectorDies {
    fn drop(&mut self) {
        if let Some(signals) = self.0.take() {
            signals.interrupt.cancel();
            signals.abort.cancel();
        }
    }
}

/// The one consumer of a phase's events. It runs on a blocking thread so
/// records-file writes stay off the runtime's workers.
fn collect(
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut sinks: Sinks,
    mut view: Box<dyn RunView>,
    counter: &crate::workload::Counter,
    stages: Option<super::stages::StageSplit>,
    seed: u64,
) -> Collected {
    let mut out = Collected {
        summary: SummaryBuilder::new().with_percentiles(sinks.percentiles.iter().copied()),
        kept: Vec::new(),
        samples: crate::stats::confidence::RequestSamples::new(seed),
        unfinished: 0,
        good: 0,
        bounds_empty: sinks.bounds.is_empty(),
        users: None,
        breakdown: Default::default(),
        sessions: Default::default(),
        stages,
    };
    let mut active_users = 0usize;
    let mut samples = 0usize;
    let mut mismatch_said = false;
    while let Some(ev) = rx.blocking_recv() {
        match ev {
            Event::Sent { .. } => {
                view.on_sent();
                if let Some(u) = out.users.as_mut() {
                    u.final_users = active_users;
                }
            }
            Event::UsersActive { at, active } => {
                active_users = active;
                out.users.get_or_insert_with(Default::default).change(at, active);
            }
            Event::Finished(mut rec) => {
                if let Some(tok) = counter.tokenizer() {
                    count_reply(tok, &mut rec);
                    // Kept for counting only: the records and the samples
                    // get the text as without a tokenizer.
                    if !sinks.capture_all_text && rec.index >= sinks.show_samples as u64 {
                        rec.text = None;
                    }
                    if !mismatch_said && rec.succeeded() {
                        if let Some(line) =
                            crate::export::console::prompt_mismatch_note(rec.sent_input_tokens, rec.input_tokens)
                        {
                            view.println(&line);
                            mismatch_said = true;
                        }
                    }
                }
                view.on_finished(&rec);
                if let Some(w) = sinks.records.as_mut() {
                    let stage = out.stages.as_ref().map(|s| s.stage_number(&rec));
                    if let Err(e) = w.write_in_stage(&rec, stage) {
                        view.println(&format!("warning: {e}; later records are not saved"));
                        sinks.records = None;
                    }
                }
                // Still running when the run stopped: a failure like any
                // other (a hang must never become a pass), counted apart too.
                if rec.error.as_ref().is_some_and(|e| e.class == ErrorClass::Unfinished) {
                    out.unfinished += 1;
                }
                out.summary.add(&rec);
                out.samples.add(&rec);
                if rec.task.is_some() {
                    out.breakdown.add(&rec);
                }
                out.sessions.add(&rec);
                let good = sinks.bounds.is_good(&rec);
                out.good += u64::from(good);
                if let Some(s) = out.stages.as_mut() {
                    s.add(&rec, good);
                }
                if rec.succeeded() && rec.text.is_some() && samples < sinks.show_samples {
                    samples += 1;
                    view.println(&ui::sample_block(samples, &rec));
                }
                if sinks.keep_records {
                    if !sinks.capture_all_text {
                        rec.text = None;
                    }
                    out.kept.push(*rec);
                }
            }
        }
    }
    view.finish();
    out
}

/// A successful text reply whose server gave no `usage.completion_tokens`
/// is counted by the tokenizer, over the whole text (a chunk may split a
/// token, so chunks are not counted one by one). Here, in the collector,
/// not on the request path. Counts that are the server's or the
/// tokenizer's are not estimates: the record is no longer flagged so.
pub fn count_reply(tok: &crate::workload::Tokenizer, rec: &mut RequestRecord) {
    if !rec.succeeded() || rec.images.is_some() {
        return;
    }
    if !rec.output_from_usage {
        let Some(text) = &rec.text else {
            return;
        };
        rec.output_tokens = tok.count(text);
    }
    rec.tokens_estimated = false;
}

/// The console's line on the clock offset (the `Date` header has whole
/// seconds, so the offset is known to about a second).
pub fn offset_line(seconds: f64) -> String {
    format!("Clock:     the target's clock is {seconds:+.1} s from this machine's (its Date header, ±1 s)")
}

/// Waits for `--start-at` (the shards of a run start their measured phase
/// together); an interrupt ends the wait.
async fn wait_until(at: chrono::DateTime<chrono::Utc>, signals: &Signals) {
    let Ok(wait) = (at - chrono::Utc::now()).to_std() else {
        return;
    };
    println!(
        "Waiting {} until {} to start (--start-at)...",
        crate::units::format_duration(wait),
        at.to_rfc3339()
    );
    tokio::select! {
        _ = signals.interrupt.cancelled() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

/// What the run says when it gives up on a dead target.
pub fn gave_up_line(after: Duration) -> String {
    format!(
        "Stopped: no successful request for {} while requests failed (--abort-after); the target looks down.",
        crate::units::format_duration(after)
    )
}

/// Connections to pool for a schedule: one per request in flight.
pub fn pool_size(schedule: &ScheduleSpec) -> usize {
    match *schedule {
        ScheduleSpec::Closed { concurrency } => concurrency,
        ScheduleSpec::Open { cap, .. } => cap.unwrap_or(256),
        ScheduleSpec::Users { users, .. } => users,
    }
}
