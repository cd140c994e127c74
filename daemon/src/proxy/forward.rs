//! Forwarding one call: pick a channel, apply the header policy, pass the body and the
//! answer through as bytes.
//!
//! Nothing is decoded or buffered: request and response bodies stream frame by frame, so
//! message sizes are the client's and Milvus's business, trailers arrive as sent, and a
//! client that goes away drops the upstream stream (which resets it).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

use super::route::{Activity, AliasHandle, LazyConnect, Route};
use crate::error::BoxError;
use crate::pool::InFlight;
use crate::upstream::connection::{H2Error, ResponseBody};

static DBNAME: HeaderName = HeaderName::from_static("dbname");
/// Records a call's code and duration when the call's answer is done or dropped.
#[derive(Debug)]
struct Recorder {
    handle: Arc<AliasHandle>,
    started: Instant,
    code: Option<u16>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.handle.stats.record(self.code, self.started.elapsed());
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<u16> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A response body that keeps its call counted until it is finished or dropped.
#[derive(Debug)]
pub struct CallBody {
    inner: Answer,
    _guards: Option<(InFlight, Activity)>,
    recorder: Option<Recorder>,
}

/// Milvus's answer, or the daemon's own error answer.
#[derive(Debug)]
enum Answer {
    Upstream(ResponseBody),
    Refused(tonic::body::Body),
}

impl CallBody {
    fn status(status: tonic::Status) -> Response<Self> {
        status.into_http().map(|body| Self {
            inner: Answer::Refused(body),
            _guards: None,
            recorder: None,
        })
    }
}

/// A request body that counts the bytes it passes.
struct Counted {
    inner: Incoming,
    handle: Arc<AliasHandle>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.handle
                .stats
                .bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl http_body::Body for CallBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match &mut this.inner {
            Answer::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Answer::Refused(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        };
        if let (Poll::Ready(Some(Ok(frame))), Some(recorder)) = (&frame, &mut this.recorder) {
            if let Some(data) = frame.data_ref() {
                recorder
                    .handle
                    .stats
                    .bytes_out
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            } else if let Some(trailers) = frame.trailers_ref() {
                recorder.code = grpc_status(trailers).or(recorder.code);
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Answer::Upstream(body) => body.is_end_stream(),
            Answer::Refused(body) => body.is_end_stream(),
        }
    }
}

/// A gRPC error answer for a call the daemon cannot forward.
pub fn refuse(status: tonic::Status) -> Response<CallBody> {
    CallBody::status(status)
}

/// Like [`refuse`], counted in the alias's statistics.
fn refuse_for(handle: &AliasHandle, status: tonic::Status) -> Response<CallBody> {
    handle
        .stats
        .record(Some(status.code() as u16), std::time::Duration::ZERO);
    refuse(status)
}

async fn route_for(
    handle: &AliasHandle,
    registry: &Weak<dyn LazyConnect>,
) -> Result<Arc<Route>, tonic::Status> {
    if let Some(route) = handle.route() {
        return Ok(route);
    }
    let Some(registry) = registry.upgrade() else {
        return Err(tonic::Status::unavailable("milvus-connd is shutting down"));
    };
    // A call on a configured but idle alias connects it, so clients need no control call.
    registry
        .connect_idle(&handle.name)
        .await
        .map_err(|err| tonic::Status::unavailable(format!("alias '{}': {err}", handle.name)))
}

/// Forwards `request` to the alias's pool.
pub async fn forward(
    request: Request<Incoming>,
    handle: Arc<AliasHandle>,
    registry: Weak<dyn LazyConnect>,
) -> Response<CallBody> {
    let route = match route_for(&handle, &registry).await {
        Ok(route) => route,
        Err(status) => return refuse_for(&handle, status),
    };
    let (mut parts, body) = request.into_parts();
    let deadline = grpc_timeout(&parts.headers);
    let headers = &mut parts.headers;
    headers.remove(http::header::AUTHORIZATION);
    if let Some(authorization) = &route.pool.authorization {
        headers.insert(http::header::AUTHORIZATION, authorization.clone());
    }
    if !route.allow_client_db || !headers.contains_key(&DBNAME) {
        headers.insert(DBNAME.clone(), route.dbname.clone());
    }
    // With no usable channel the call fails now, naming the alias and the cause, instead
    // of waiting for a reconnect the client cannot see.
    let picked = match route.pool.pick() {
        Ok(picked) => picked,
        Err(cause) => {
            return refuse_for(
                &handle,
                tonic::Status::unavailable(format!(
                    "alias '{}' is in transient_failure: {cause}",
                    handle.name
                )),
            );
        }
    };
    let activity = handle.begin();
    let (connection, in_flight, slot) = (picked.connection, picked.in_flight, picked.slot);
    let body = Counted {
        inner: body,
        handle: handle.clone(),
    };
    let request = Request::from_parts(parts, body);
    let started = Instant::now();
    let answered = match deadline {
        Some(deadline) => match tokio::time::timeout(deadline, connection.call(request)).await {
            Ok(answered) => answered.map_err(CallFailure::Upstream),
            Err(_) => Err(CallFailure::Deadline),
        },
        None => connection
            .call(request)
            .await
            .map_err(CallFailure::Upstream),
    };
    match answered {
        Ok(response) => {
            let recorder = Recorder {
                handle: handle.clone(),
                started,
                // A trailers-only answer carries its status in the headers.
                code: grpc_status(response.headers()),
            };
            response.map(|body| CallBody {
                inner: Answer::Upstream(body),
                _guards: Some((in_flight, activity)),
                recorder: Some(recorder),
            })
        }
        Err(CallFailure::Deadline) => refuse_for(
            &handle,
            tonic::Status::deadline_exceeded(format!(
                "alias '{}': no answer from Milvus within the call's grpc-timeout",
                handle.name
            )),
        ),
        Err(CallFailure::Upstream(err)) => {
            // A transport error: the channel's monitor should look now, not in 10 s.
            route.pool.report_failure(slot);
            refuse_for(
                &handle,
                tonic::Status::unavailable(format!(
                    "alias '{}': upstream call failed: {err}",
                    handle.name
                )),
            )
        }
    }
}

enum CallFailure {
    Deadline,
    Upstream(H2Error),
}

/// The call's `grpc-timeout` (digits and a unit: H, M, S, m, u, n), which bounds the wait
/// for Milvus's answer as any gRPC channel would.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("header value"));
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        assert_eq!(timeout_of("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout_of("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout_of("10S"), Some(Duration::from_secs(10)));
        assert_eq!(timeout_of("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout_of("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            timeout_of("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for value in ["", "S", "10", "10s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(timeout_of(value), None, "{value:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
