//! One HTTP/2 connection to Milvus, driven with h2 directly: the proxy's calls and the
//! daemon's own (handshake, probes) share it.
//!
//! Why not tonic's `Channel` or hyper's client: each puts a call through extra tasks (a
//! tower `Buffer` worker, hyper's dispatch queue), and hyper holds a request's first DATA
//! frame back until the connection task has granted flow-control capacity, so a small
//! unary call leaves in two writes. Here the caller's task puts the call straight into
//! h2's stream store, and body data that is already at hand goes with the HEADERS — one
//! write, one wake-up of Milvus. Keepalive pings are ours as well.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Ping, PingPong, RecvStream, SendStream};
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::defaults;
use crate::error::BoxError;

/// An h2 error that exposes the I/O error behind it (h2's own type does not), so the
/// cause of a failure (a TLS alert, a reset) can be named.
#[derive(Debug)]
pub struct H2Error(h2::Error);

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for H2Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.get_io().map(|io| io as _)
    }
}

impl From<h2::Error> for H2Error {
    fn from(err: h2::Error) -> Self {
        Self(err)
    }
}

impl H2Error {
    /// The peer broke HTTP/2 framing: it does not speak HTTP/2 (e.g. an HTTP/1 port).
    pub fn is_not_http2(&self) -> bool {
        self.0.is_library()
            && matches!(
                self.0.reason(),
                Some(h2::Reason::PROTOCOL_ERROR | h2::Reason::FRAME_SIZE_ERROR)
            )
    }
}

/// A handle on the connection; clones share it. The connection closes when the last
/// handle and the last call on it are gone, or when a keepalive ping goes unanswered.
#[derive(Debug, Clone)]
pub struct Connection {
    send: SendRequest<Bytes>,
    scheme: Scheme,
    authority: Authority,
}

impl Connection {
    /// Runs the HTTP/2 handshake on `io` and starts the task that drives the connection,
    /// pinging every `keepalive` (windows and limits are in `defaults`).
    pub async fn handshake<T>(
        io: T,
        scheme: Scheme,
        authority: Authority,
        keepalive: Duration,
    ) -> Result<Self, H2Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, mut connection) = h2::client::Builder::new()
            .initial_window_size(defaults::STREAM_WINDOW)
            .initial_connection_window_size(defaults::CONNECTION_WINDOW)
            .max_send_buffer_size(defaults::SEND_BUFFER)
            .handshake::<_, Bytes>(io)
            .await?;
        let ping_pong = connection.ping_pong();
        tokio::spawn(async move {
            let keepalive = keep_alive(ping_pong, keepalive);
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "upstream connection ended");
                    }
                }
                () = keepalive => {
                    tracing::debug!("upstream connection missed a keepalive ping; closing it");
                }
            }
        });
        Ok(Self {
            send,
            scheme,
            authority,
        })
    }

    /// Sends `request` (its URI's path is kept, scheme and authority are the
    /// connection's) and returns the answer's head; the body streams in both directions
    /// from then on.
    pub async fn call<B>(&self, request: Request<B>) -> Result<Response<ResponseBody>, H2Error>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut head, body) = request.into_parts();
        let mut uri = std::mem::take(&mut head.uri).into_parts();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(self.authority.clone());
        if uri.path_and_query.is_none() {
            uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        head.uri = Uri::from_parts(uri).unwrap_or_default();
        let mut send = self.send.clone().ready().await?;
        let end_of_stream = body.is_end_stream();
        let (response, stream) = send.send_request(Request::from_parts(head, ()), end_of_stream)?;
        if !end_of_stream {
            // Sends what the body has ready now, in this task; only a body that is still
            // arriving gets a task of its own.
            let mut pipe = Pipe {
                body,
                stream,
                held: None,
                first: true,
            };
            let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut pipe).poll(cx))).await;
            if first.is_pending() {
                tokio::spawn(pipe);
            }
        }
        let response = response.await?;
        Ok(response.map(|stream| ResponseBody {
            stream,
            data_done: false,
        }))
    }
}

/// Pings every `interval`; returns when a ping goes unanswered (or cannot be sent).
async fn keep_alive(ping_pong: Option<PingPong>, interval: Duration) {
    let Some(mut ping_pong) = ping_pong else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(interval).await;
        let pong =
            tokio::time::timeout(defaults::KEEPALIVE_TIMEOUT, ping_pong.ping(Ping::opaque())).await;
        if !matches!(pong, Ok(Ok(_))) {
            return;
        }
    }
}

/// Moves a request body onto its HTTP/2 stream.
struct Pipe<B> {
    body: B,
    stream: SendStream<Bytes>,
    /// Data waiting for flow-control capacity.
    held: Option<(Bytes, bool)>,
    /// Whether no data was sent yet.
    first: bool,
}

impl<B> Future for Pipe<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.stream.poll_reset(cx).is_ready() {
                return Poll::Ready(());
            }
            if let Some((data, end)) = this.held.take() {
                // Beyond the first small chunk, data waits for capacity, so at most one
                // chunk per stream is buffered beyond the window: a stalled Milvus holds
                // up the client instead of filling the daemon's memory.
                while this.stream.capacity() == 0 {
                    match this.stream.poll_capacity(cx) {
                        Poll::Pending => {
                            this.held = Some((data, end));
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(None | Some(Err(_))) => return Poll::Ready(()),
                    }
                }
                if this.stream.send_data(data, end).is_err() || end {
                    return Poll::Ready(());
                }
                continue;
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let end = this.body.is_end_stream();
                        let at_once =
                            std::mem::take(&mut this.first) && data.len() <= defaults::SEND_AT_ONCE;
                        if at_once || this.stream.capacity() >= data.len() {
                            if this.stream.send_data(data, end).is_err() || end {
                                return Poll::Ready(());
                            }
                        } else {
                            this.stream.reserve_capacity(data.len());
                            this.held = Some((data, end));
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = this.stream.send_trailers(trailers);
                            return Poll::Ready(());
                        }
                    }
                },
                Some(Err(err)) => {
                    let err: BoxError = err.into();
                    tracing::debug!(error = %err, "request body failed; resetting the upstream stream");
                    this.stream.send_reset(h2::Reason::CANCEL);
                    return Poll::Ready(());
                }
                None => {
                    let _ = this.stream.send_data(Bytes::new(), true);
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// An answer's body from Milvus: data frames, then trailers. Flow-control capacity is
/// given back as each frame is handed on, so the window follows the reader.
#[derive(Debug)]
pub struct ResponseBody {
    stream: RecvStream,
    data_done: bool,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = H2Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, H2Error>>> {
        let this = self.get_mut();
        if !this.data_done {
            match ready!(this.stream.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.stream.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
                None => this.data_done = true,
            }
        }
        match ready!(this.stream.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(err) => Poll::Ready(Some(Err(err.into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stream.is_end_stream()
    }
}

/// The connection as a tower service, for tonic stubs. A failure is an UNAVAILABLE status
/// that keeps its cause, so callers can tell a lost connection and name why.
impl tower::Service<Request<tonic::body::Body>> for Connection {
    type Response = Response<ResponseBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Stream concurrency is waited for inside `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let connection = self.clone();
        Box::pin(async move {
            connection.call(request).await.map_err(|err| {
                let mut status = tonic::Status::unavailable(format!("connection to Milvus: {err}"));
                status.set_source(Arc::new(err));
                Box::new(status) as BoxError
            })
        })
    }
}
