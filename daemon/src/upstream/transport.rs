//! Opening one HTTP/2 connection to Milvus: DNS, TCP or Unix socket, TLS, keepalive.
//!
//! The daemon dials itself (instead of letting tonic's HTTP connector do it) so that a
//! failure arrives as a typed [`DialError`] that says refused, DNS or unreachable.

use std::io;
use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;
use tonic::transport::{Channel, Endpoint, Uri};

use super::tls;
use crate::alias_config::{EndpointConfig, Target};
use crate::defaults;
use crate::error::{Error, Result};

/// Why the TCP or Unix connection could not be made.
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
}

type Stream = TokioIo<Either<TcpStream, UnixStream>>;

async fn dial(target: Target) -> Result<Stream, DialError> {
    match target {
        Target::Tcp { host, port } => {
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
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
                        return Ok(TokioIo::new(Either::Left(stream)));
                    }
                    Err(source) => last = Some((addr.to_string(), source)),
                }
            }
            Err(match last {
                None => DialError::NoAddress { host },
                Some((addr, source)) if source.kind() == io::ErrorKind::ConnectionRefused => {
                    DialError::Refused { addr, source }
                }
                Some((addr, source)) => DialError::Connect { addr, source },
            })
        }
        Target::Unix { path } => UnixStream::connect(&path)
            .await
            .map(|stream| TokioIo::new(Either::Right(stream)))
            .map_err(|source| unix_error(path, source)),
    }
}

fn unix_error(path: PathBuf, source: io::Error) -> DialError {
    let addr = format!("unix:{}", path.display());
    match source.kind() {
        io::ErrorKind::ConnectionRefused => DialError::Refused { addr, source },
        _ => DialError::Connect { addr, source },
    }
}

/// Opens a channel (one HTTP/2 connection) to the endpoint. Certificate files are read
/// now, so rotated files take effect on the next connect.
pub async fn open_channel(config: &EndpointConfig) -> Result<Channel> {
    let target = config.target.clone();
    let (scheme, authority) = match &target {
        Target::Tcp { .. } => (if config.tls.is_some() { "https" } else { "http" }, target.to_string()),
        Target::Unix { .. } => (if config.tls.is_some() { "https" } else { "http" }, "localhost".to_owned()),
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{authority}"))
        .map_err(|e| Error::param(format!("cannot use address {target}: {e}")))?
        .http2_keep_alive_interval(defaults::KEEPALIVE_INTERVAL)
        .keep_alive_timeout(defaults::KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    if let Some(tls_config) = &config.tls {
        let host = match &target {
            Target::Tcp { host, .. } => host.as_str(),
            Target::Unix { .. } => "localhost",
        };
        endpoint = endpoint
            .tls_config(tls::client_config(tls_config, host)?)
            .map_err(|e| Error::param(format!("TLS settings cannot be used: {e}")))?;
    }
    let connector = tower::service_fn(move |_: Uri| dial(target.clone()));
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| super::classify::transport_error(&config.target, e))
}
