//! Submit-then-poll requests (`http-async`): after the submit reply, poll
//! the job's status URL every `poll_interval` until the adapter reads done
//! or failed, then fetch the result (or take the final status reply as it).
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
    let interval = jobs.poll_interval();
    let mut left_queue: Option<Duration> = None;
    let final_status = loop {
        tokio::time::sleep(interval).await;
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
