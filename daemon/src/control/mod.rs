//! The control server: HTTP/1.1 + JSON on `<runtime>/control.sock`.
//!
//! Each accepted connection has its peer credentials read once and is served by its own
//! task, with a deadline on request headers so that a stalled client only costs itself.
//! Past `MAX_CONTROL_CONNECTIONS` a connection is answered `LimitExceeded` and closed.

mod events;
mod http;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use milvus_connd_protocol::{ApiError, ErrorBody, ErrorCode};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

pub use routes::Context;

use crate::defaults;
use crate::peer::Peer;

/// Serves the control API on `listener` until `shutdown` completes.
pub async fn serve(listener: UnixListener, ctx: Arc<Context>, shutdown: impl Future<Output = ()>) {
    let daemon_uid = nix::unistd::geteuid().as_raw();
    let slots = Arc::new(Semaphore::new(defaults::MAX_CONTROL_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    crate::runtime_dir::accept_failed("control", &err).await;
                    continue;
                }
            },
        };
        let peer = match stream.peer_cred() {
            Ok(cred) => Peer::new(cred.uid(), cred.gid(), cred.pid(), daemon_uid),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read peer credentials; closing connection");
                continue;
            }
        };
        let slot = slots.clone().try_acquire_owned().ok();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _slot = match slot {
                Some(slot) => slot,
                None => return refuse_over_limit(stream, ctx.request_timeout).await,
            };
            serve_connection(stream, ctx, peer).await;
        });
    }
}

fn connection_builder(request_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(request_timeout)
        .max_buf_size(16 * 1024);
    builder
}

async fn serve_connection(stream: UnixStream, ctx: Arc<Context>, peer: Peer) {
    let ctx_timeout = ctx.request_timeout;
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(ctx, peer, req).await) }
    });
    if let Err(err) = connection_builder(ctx_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %err, uid = peer.uid, "control connection ended with an error");
    }
}

async fn refuse_over_limit(stream: UnixStream, request_timeout: Duration) {
    let service = service_fn(|_req| async {
        let body = ErrorBody {
            error: ApiError {
                code: ErrorCode::LimitExceeded,
                message: format!(
                    "more than {} control connections are open",
                    defaults::MAX_CONTROL_CONNECTIONS
                ),
                retriable: true,
                alias: None,
                cause: None,
            },
        };
        Ok::<_, std::convert::Infallible>(http::json(::http::StatusCode::TOO_MANY_REQUESTS, &body))
    });
    let mut builder = connection_builder(request_timeout);
    builder.keep_alive(false);
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
