//! Submit-then-poll requests (`http-async`): after the submit reply, poll
//! the job's status URL until the adapter reads done or failed, then fetch
//! the result (or take the final status reply as it).
//!
//! Polling is adaptive ([`PollPace`]): the first poll comes after a
//! sixteenth of `poll_interval` (at least [`FIRST_POLL_MIN`]), and each wait
//! doubles up to `poll_interval`. A fixed 200 ms poll would add up to
//! 200 ms to every short job's latency — a comparison of an async strategy
//! against a synchronous one would measure the client's poll, not the
//! server. Long jobs are still polled no faster than `poll_interval`.
//!
//! Timestamps, on the run's clock like every other request's:
//! - `sent_at` (taken in [`super::request`]): just before the submit is sent;
//! - `submit_latency` = end of the submit reply's body − `sent_at`;
//! - `queue_wait` = the arrival of the first status reply that is not
//!   "queued" (running, done or failed) − the end of the submit reply; its
//!   resolution is the poll interval, since a job is only seen when polled;
//! - `finished_at` = `ended_at` = end of the result's body: E2E runs from the
//!   submit to the result in hand, polls and their waits included.
//!
//! Each poll is a `GET` with the run's headers, on the request's own
//! connection (the submit's, when the server kept it open); a non-2xx status is an
//! `http_NNN` error, a failed job or an unreadable reply `bad_payload`. The
//! whole job must end within the adapter's deadline (`--timeout`), else it
//! is a `timeout`.

use std::time::Duration;

use hyper::Method;

use super::client::{Outgoing, Response, Slot};
use super::request::{
    apply_reply, error_text, fail, judge_whole, read_limited, refuse_compressed, transport_failure, Failure,
};
use super::{Clock, RequestContext};
use crate::api::{JobApi, JobStatus};
use crate::record::{ErrorClass, RequestRecord};

/// The shortest first wait of a job's polling.
pub const FIRST_POLL_MIN: Duration = Duration::from_millis(5);

/// The waits between one job's polls: short first, doubling up to the
/// configured interval.
#[derive(Debug, Clone, Copy)]
pub struct PollPace {
    next: Duration,
    cap: Duration,
}

impl PollPace {
    pub fn new(interval: Duration) -> Self {
        Self {
            next: (interval / 16).max(FIRST_POLL_MIN).min(interval),
            cap: interval,
        }
    }

    /// The wait before the next poll.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }
}

/// Follows a submitted job to its result; `submit` is the submit reply's
/// body (its status already checked for success).
pub(super) async fn follow(
    ctx: &RequestContext,
    clock: &Clock,
    jobs: &dyn JobApi,
    submit: Vec<u8>,
    slot: &mut Slot,
    rec: &mut RequestRecord,
    text: &mut Option<String>,
) -> Result<(), Failure> {
    let deadline = jobs.deadline().saturating_sub(clock.now().saturating_sub(rec.sent_at));
    match tokio::time::timeout(deadline, run(ctx, clock, jobs, submit, slot, rec, text)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            rec.ended_at = clock.now();
            Err(fail(
                ErrorClass::Timeout,
                "the job did not finish within --timeout (submit to result)",
            ))
        }
    }
}

async fn run(
    ctx: &RequestContext,
    clock: &Clock,
    jobs: &dyn JobApi,
    submit: Vec<u8>,
    slot: &mut Slot,
    rec: &mut RequestRecord,
    text: &mut Option<String>,
) -> Result<(), Failure> {
    let body = submit;
    let submitted = clock.now();
    rec.submit_latency = Some(submitted.saturating_sub(rec.sent_at));
    let job_id = jobs.job_id(&body).map_err(|e| fail(ErrorClass::BadPayload, e.0))?;
    let status_url = jobs.status_url(&job_id);
    let mut pace = PollPace::new(jobs.poll_interval());
    let mut left_queue: Option<Duration> = None;
    let final_status = loop {
        tokio::time::sleep(pace.next_wait()).await;
        let (body, at) = get(ctx, clock, &status_url, slot, rec, "polling the job's status").await?;
        let status = jobs.status(&body).map_err(|e| fail(ErrorClass::BadPayload, e.0))?;
        if status != JobStatus::Queued && left_queue.is_none() {
            left_queue = Some(at);
        }
        match status {
            JobStatus::Queued | JobStatus::Running => continue,
            JobStatus::Done => break body,
            JobStatus::Failed(msg) => {
                rec.ended_at = at;
                return Err(fail(ErrorClass::BadPayload, format!("job {job_id} failed: {msg}")));
            }
        }
    };
    rec.queue_wait = left_queue.map(|t| t.saturating_sub(submitted));
    let result = match jobs.result_url(&job_id) {
        Some(url) => get(ctx, clock, &url, slot, rec, "fetching the job's result").await?.0,
        None => final_status,
    };
    let end = clock.now();
    rec.ended_at = end;
    let reply = judge_whole(ctx, &result)?;
    rec.finished_at = Some(end);
    apply_reply(rec, reply, result.len(), text);
    Ok(())
}

/// One `GET`: the body and when it ended, or the failure.
async fn get(
    ctx: &RequestContext,
    clock: &Clock,
    url: &str,
    slot: &mut Slot,
    rec: &mut RequestRecord,
    what: &str,
) -> Result<(Vec<u8>, Duration), Failure> {
    let request = Outgoing {
        method: Method::GET,
        url,
        headers: &ctx.headers,
        body: bytes::Bytes::new(),
    };
    // A poll's own late start is not the request's send: only the submit
    // moves `sent_at`.
    let mut resp = ctx
        .client
        .send(slot, request)
        .await
        .map(|exchange| exchange.response)
        .map_err(|e| {
            let f = transport_failure(&e, false);
            fail(f.class, format!("{what}: {}", f.message))
        })?;
    let status = resp.status();
    rec.status = Some(status.as_u16());
    if !status.is_success() {
        let body = read_limited(&mut resp).await;
        rec.ended_at = clock.now();
        return Err(fail(
            ErrorClass::Http(status.as_u16()),
            format!("{what}: HTTP {}: {}", status.as_u16(), error_text(&resp, &body)),
        ));
    }
    if let Some(f) = refuse_compressed(&resp) {
        rec.ended_at = clock.now();
        return Err(fail(f.class, format!("{what}: {}", f.message)));
    }
    let body = read_all(resp, clock, rec).await?;
    Ok((body, clock.now()))
}

pub(super) async fn read_all(
    mut resp: Response<'_>,
    clock: &Clock,
    rec: &mut RequestRecord,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body),
            Err(e) => {
                rec.ended_at = clock.now();
                return Err(transport_failure(&e, true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(interval_ms: u64, n: usize) -> Vec<u64> {
        let mut p = PollPace::new(Duration::from_millis(interval_ms));
        (0..n).map(|_| p.next_wait().as_millis() as u64).collect()
    }

    #[test]
    fn polls_start_short_and_double_up_to_the_interval() {
        assert_eq!(waits(1000, 7), [62, 125, 250, 500, 1000, 1000, 1000]);
        assert_eq!(waits(200, 5), [12, 25, 50, 100, 200]);
        // Never under the floor, never over the interval.
        assert_eq!(waits(10, 3), [5, 10, 10]);
        assert_eq!(waits(2, 2), [2, 2]);
    }
}
