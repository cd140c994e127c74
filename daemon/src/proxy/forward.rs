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
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::Service as _;

use super::route::{Activity, AliasHandle, LazyConnect, Route};
use crate::pool::InFlight;

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
    inner: tonic::body::Body,
    _guards: Option<(InFlight, Activity)>,
    recorder: Option<Recorder>,
}

impl CallBody {
    fn status(status: tonic::Status) -> Response<Self> {
        status.into_http().map(|inner| Self {
            inner,
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
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
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
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
) -> Result<Route, tonic::Status> {
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
    let (mut channel, in_flight, slot) = (picked.channel, picked.in_flight, picked.slot);
    let body = Counted {
        inner: body,
        handle: handle.clone(),
    };
    let request = Request::from_parts(parts, tonic::body::Body::new(body));
    let started = Instant::now();
    if let Err(err) = std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
        route.pool.report_failure(slot);
        return refuse_for(
            &handle,
            tonic::Status::unavailable(format!(
                "alias '{}': upstream channel not ready: {err}",
                handle.name
            )),
        );
    }
    // The channel enforces the request's grpc-timeout itself (tonic reads the header) and
    // reports an expiry as an error, which must reach the client as DEADLINE_EXCEEDED.
    let answered = channel.call(request).await;
    match answered {
        Ok(response) => {
            let recorder = Recorder {
                handle: handle.clone(),
                started,
                // A trailers-only answer carries its status in the headers.
                code: grpc_status(response.headers()),
            };
            response.map(|inner| CallBody {
                inner,
                _guards: Some((in_flight, activity)),
                recorder: Some(recorder),
            })
        }
        Err(err) if caused_by::<tonic::TimeoutExpired>(&err) => refuse_for(
            &handle,
            tonic::Status::deadline_exceeded(format!(
                "alias '{}': no answer from Milvus within the call's grpc-timeout",
                handle.name
            )),
        ),
        Err(err) => {
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

fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.is::<T>() {
            return true;
        }
        next = err.source();
    }
    false
}
