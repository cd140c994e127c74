//! Opening one HTTP/2 connection to Milvus: DNS, TCP or Unix socket, TLS, keepalive.
//!
//! The daemon dials and runs TLS itself (instead of tonic's HTTP connector and TLS) so that
//! every failure arrives as a typed [`DialError`] that says refused, DNS, unreachable or
//! which TLS check failed, and so that [`diagnose`] can look closer at a connection that
//! closed without saying why.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use milvus_connd_protocol::ErrorCode;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::connection::Connection;
use super::tls;
use crate::alias_config::{EndpointConfig, Target};
use crate::error::{BoxError, Error, Result};

/// Why the connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("DNS lookup of '{host}' failed")]
    Dns {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("DNS lookup of '{host}' found no address")]
    NoAddress { host: String },
    #[error("connection refused by {addr}")]
    Refused {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("TLS handshake with {addr} failed")]
    Tls {
        addr: String,
        #[source]
        source: io::Error,
    },
}

type Plain = Either<TcpStream, UnixStream>;
type Stream = Either<Plain, TlsStream<Plain>>;

/// What a connection tells its channel's monitor.
#[derive(Debug, Default)]
pub struct ConnectionSignals {
    /// Signalled when the connection closes or fails, so the monitor learns of a dead
    /// Milvus at once rather than at its next probe.
    pub closed: Notify,
    /// Set when the server sent GOAWAY with ENHANCE_YOUR_CALM: gRPC's "too_many_pings".
    pub too_many_pings: AtomicBool,
}

/// Finds GOAWAY frames in the (decrypted) bytes the server sends, skipping everything
/// else by frame length.
#[derive(Debug, Default)]
pub struct FrameScanner {
    header: Vec<u8>,
    skip: usize,
    /// Bytes of the current GOAWAY payload still needed to read its error code.
    goaway: Option<Vec<u8>>,
}

const GOAWAY: u8 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

impl FrameScanner {
    /// Feeds bytes read from the server; returns true when a GOAWAY with
    /// ENHANCE_YOUR_CALM went by.
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        let mut calm = false;
        while !bytes.is_empty() {
            if let Some(payload) = &mut self.goaway {
                let take = (8 - payload.len()).min(bytes.len());
                payload.extend_from_slice(&bytes[..take]);
                self.skip -= take;
                bytes = &bytes[take..];
                if payload.len() == 8 {
                    let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                    calm |= code == ENHANCE_YOUR_CALM;
                    self.goaway = None;
                }
            } else if self.skip > 0 {
                let take = self.skip.min(bytes.len());
                self.skip -= take;
                bytes = &bytes[take..];
            } else {
                let take = (9 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.header.len() == 9 {
                    let h = std::mem::take(&mut self.header);
                    self.skip =
                        (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    if h[3] == GOAWAY && self.skip >= 8 {
                        self.goaway = Some(Vec::with_capacity(8));
                    }
                }
            }
        }
        calm
    }
}

/// A connection that reports what its monitor must know (see [`ConnectionSignals`]).
struct Watched {
    inner: Stream,
    signals: Arc<ConnectionSignals>,
    /// Skipped for the client preface direction: the server's bytes start with frames.
    scanner: FrameScanner,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut self.inner).poll_read(cx, buf));
        let this = &mut *self;
        if this.scanner.feed(&buf.filled()[before..]) {
            this.signals.too_many_pings.store(true, Ordering::Relaxed);
        }
        if result.is_err() || (buf.filled().len() == before && buf.remaining() > 0) {
            this.signals.closed.notify_one();
        }
        Poll::Ready(result)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // hyper drops the connection itself when a keepalive ping goes unanswered.
        self.signals.closed.notify_one();
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = ready!(Pin::new(&mut self.inner).poll_write(cx, data));
        if result.is_err() {
            self.signals.closed.notify_one();
        }
        Poll::Ready(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs));
        if result.is_err() {
            self.signals.closed.notify_one();
        }
        Poll::Ready(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn dial_plain(target: &Target) -> Result<Plain, DialError> {
    match target {
        Target::Tcp { host, port } => {
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|source| DialError::Dns {
                    host: host.clone(),
                    source,
                })?
                .collect();
            let mut last = None;
            for addr in &addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        // Small gRPC frames must not wait for Nagle.
                        stream.set_nodelay(true).ok();
                        return Ok(Either::Left(stream));
                    }
                    Err(source) => last = Some((addr.to_string(), source)),
                }
            }
            Err(match last {
                None => DialError::NoAddress { host: host.clone() },
                Some((addr, source)) => connect_error(addr, source),
            })
        }
        Target::Unix { path } => UnixStream::connect(path)
            .await
            .map(Either::Right)
            .map_err(|source| connect_error(target.to_string(), source)),
    }
}

fn connect_error(addr: String, source: io::Error) -> DialError {
    match source.kind() {
        io::ErrorKind::ConnectionRefused => DialError::Refused { addr, source },
        _ => DialError::Connect { addr, source },
    }
}

/// How to run TLS on a dialed connection.
#[derive(Clone)]
struct TlsSetup {
    connector: TlsConnector,
    server_name: rustls_pki_types::ServerName<'static>,
}

impl TlsSetup {
    fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: rustls_pki_types::ServerName<'static>,
    ) -> Self {
        Self {
            connector: TlsConnector::from(config),
            server_name,
        }
    }
}

async fn dial(target: &Target, tls: Option<&TlsSetup>) -> Result<Stream, DialError> {
    let plain = dial_plain(target).await?;
    let Some(tls) = tls else {
        return Ok(Either::Left(plain));
    };
    tls.connector
        .connect(tls.server_name.clone(), plain)
        .await
        .map(Either::Right)
        .map_err(|source| DialError::Tls {
            addr: target.to_string(),
            source,
        })
}

fn host_of(target: &Target) -> &str {
    match target {
        Target::Tcp { host, .. } => host,
        Target::Unix { .. } => "localhost",
    }
}

fn tls_setup(config: &EndpointConfig) -> Result<Option<TlsSetup>> {
    config
        .tls
        .as_ref()
        .map(|tls| {
            Ok(TlsSetup::new(
                tls::client_config(tls)?,
                tls::server_name(tls, host_of(&config.target))?,
            ))
        })
        .transpose()
}

/// Opens one HTTP/2 connection to the endpoint, pinging every `keepalive`; `signals`
/// learn what happens to it. Certificate files are read now, so rotated files take
/// effect on the next connect.
pub async fn open_connection(
    config: &EndpointConfig,
    keepalive: Duration,
    signals: Arc<ConnectionSignals>,
) -> Result<Connection> {
    let target = &config.target;
    let tls = tls_setup(config)?;
    // :authority is the address as configured (a socket path is no authority).
    let authority = match target {
        Target::Tcp { .. } => target.to_string(),
        Target::Unix { .. } => "localhost".to_owned(),
    };
    let authority = Authority::try_from(authority)
        .map_err(|e| Error::param(format!("cannot use address {target}: {e}")))?;
    let scheme = if tls.is_some() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    let inner = dial(target, tls.as_ref())
        .await
        .map_err(|err| super::classify::dial_error(target, err))?;
    let io = Watched {
        inner,
        signals,
        scanner: FrameScanner::default(),
    };
    Connection::handshake(io, scheme, authority, keepalive)
        .await
        .map_err(|err| super::classify::handshake_error(target, err))
}

/// Looks closer at an endpoint whose connection closed without a reason: a plaintext
/// alias pointed at a TLS port, an HTTP/1 port, or a TLS server that rejects the client
/// certificate after the handshake (TLS 1.3 sends that alert late). Returns a better
/// error when it finds one.
pub async fn diagnose(config: &EndpointConfig) -> Option<Error> {
    let probe = async {
        match &config.tls {
            None => {
                if super::classify::speaks_http1(&config.target).await {
                    return Some(super::classify::not_grpc_error(&config.target));
                }
                let setup = TlsSetup::new(
                    tls::probe_config().ok()?,
                    tls::server_name_for_probe(host_of(&config.target))?,
                );
                match dial(&config.target, Some(&setup)).await {
                    Err(DialError::Tls { source, .. })
                        if super::classify::is_certificate_error(&source) =>
                    {
                        Some(Error::upstream(
                            ErrorCode::TlsError,
                            format!(
                                "Milvus at {} speaks TLS: set secure=true (and ca_pem_path unless its certificate is from a public CA)",
                                config.target
                            ),
                            None,
                        ))
                    }
                    _ => None,
                }
            }
            Some(_) => {
                let setup = tls_setup(config).ok()??;
                let mut stream = match dial(&config.target, Some(&setup)).await {
                    Ok(stream) => stream,
                    Err(err) => return Some(super::classify::dial_error(&config.target, err)),
                };
                let mut byte = [0u8; 1];
                match stream.read(&mut byte).await {
                    Err(err) => super::classify::tls_error_in(&config.target, &err).map(
                        |(code, message)| {
                            Error::upstream(code, message, Some(Box::new(err) as BoxError))
                        },
                    ),
                    Ok(_) => None,
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, 0, 0, 0, 0, 0]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn goaway_with_enhance_your_calm_is_noticed_across_reads() {
        let mut bytes = frame(0x4, &[0; 12]); // SETTINGS
        bytes.extend(frame(0x0, b"hello")); // DATA
        let mut goaway = vec![0, 0, 0, 1, 0, 0, 0, 0xb];
        goaway.extend_from_slice(b"too_many_pings");
        bytes.extend(frame(GOAWAY, &goaway));
        let mut scanner = FrameScanner::default();
        let mut seen = false;
        for chunk in bytes.chunks(3) {
            seen |= scanner.feed(chunk);
        }
        assert!(seen);
        let mut other = FrameScanner::default();
        assert!(
            !other.feed(&frame(GOAWAY, &[0, 0, 0, 1, 0, 0, 0, 0x0])),
            "NO_ERROR is not calm"
        );
        assert!(
            !other.feed(&frame(0x0, &[0, 0, 0, 0xb, 0, 0, 0, 0xb])),
            "DATA is skipped"
        );
    }
}
