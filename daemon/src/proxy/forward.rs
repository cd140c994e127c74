//! Forwarding one call: pick a channel, apply the header policy, pass the body and the
//! answer through as bytes.
//!
//! Nothing is decoded or buffered: request and response bodies stream frame by frame, so
//! message sizes are the client's and Milvus's business, trailers arrive as sent, and a
//! client that goes away drops the upstream stream (which resets it).

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::Service as _;

use super::route::{Activity, AliasHandle, LazyConnect, Route};
use crate::pool::InFlight;

static DBNAME: HeaderName = HeaderName::from_static("dbname");
/// A response body that keeps its call counted until it is finished or dropped.
#[derive(Debug)]
pub struct CallBody {
    inner: tonic::body::Body,
    _guards: Option<(InFlight, Activity)>,
}

impl CallBody {
    fn status(status: tonic::Status) -> Response<Self> {
        status.into_http().map(|inner| Self {
            inner,
            _guards: None,
        })
    }
}

impl http_body::Body for CallBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
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
        Err(status) => return refuse(status),
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
            return refuse(tonic::Status::unavailable(format!(
                "alias '{}' is in transient_failure: {cause}",
                handle.name
            )));
        }
    };
    let activity = handle.begin();
    let (mut channel, in_flight, slot) = (picked.channel, picked.in_flight, picked.slot);
    let request = Request::from_parts(parts, tonic::body::Body::new(body));
    if let Err(err) = std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
        route.pool.report_failure(slot);
        return refuse(tonic::Status::unavailable(format!(
            "alias '{}': upstream channel not ready: {err}",
            handle.name
        )));
    }
    // The channel enforces the request's grpc-timeout itself (tonic reads the header) and
    // reports an expiry as an error, which must reach the client as DEADLINE_EXCEEDED.
    let answered = channel.call(request).await;
    match answered {
        Ok(response) => response.map(|inner| CallBody {
            inner,
            _guards: Some((in_flight, activity)),
        }),
        Err(err) if caused_by::<tonic::TimeoutExpired>(&err) => {
            refuse(tonic::Status::deadline_exceeded(format!(
                "alias '{}': no answer from Milvus within the call's grpc-timeout",
                handle.name
            )))
        }
        Err(err) => {
            // A transport error: the channel's monitor should look now, not in 10 s.
            route.pool.report_failure(slot);
            refuse(tonic::Status::unavailable(format!(
                "alias '{}': upstream call failed: {err}",
                handle.name
            )))
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
