//! The data plane: per-alias gRPC endpoints (a Unix socket, optionally a TCP listener)
//! that forward every call, as bytes, to the alias's pool.
//!
//! - [`authority`]: makes grpcio's `unix:` requests acceptable to h2;
//! - [`forward`]: one call — header policy, channel choice, streaming both ways;
//! - [`route`]: what the registry publishes for the proxy to read per call.

pub mod authority;
pub mod forward;
pub mod route;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::AbortHandle;

use self::authority::AuthorityFix;
use self::route::{AliasHandle, LazyConnect};
use crate::defaults;
use crate::peer::Peer;
use crate::runtime_dir::{self, SetupError};

/// An alias's open endpoints; dropping it stops them and removes the socket file.
#[derive(Debug)]
pub struct Endpoints {
    pub unix: PathBuf,
    /// Whether the daemon bound the socket file (and so removes it); not for sockets
    /// systemd passed.
    owns_socket: bool,
    pub tcp: Option<SocketAddr>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Endpoints {
    /// Stops accepting and removes the socket file; connections already accepted go on.
    pub fn stop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if self.owns_socket {
            let _ = std::fs::remove_file(&self.unix);
        }
    }

    /// Binds the alias's socket (owned by the alias's owner, mode 0660) unless systemd
    /// passed one (`activated`), and, if asked, its TCP listener, and starts serving both.
    pub async fn open(
        unix: PathBuf,
        activated: Option<std::os::unix::net::UnixListener>,
        tcp: Option<SocketAddr>,
        socket_group: Option<u32>,
        handle: Arc<AliasHandle>,
        registry: Weak<dyn LazyConnect>,
    ) -> Result<Self, SetupError> {
        let owns_socket = activated.is_none();
        // A passed socket is reported by its own path.
        let unix = activated
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .and_then(|a| a.as_pathname().map(PathBuf::from))
            .unwrap_or(unix);
        let listener = match activated {
            Some(listener) => {
                let adopt = || {
                    listener.set_nonblocking(true)?;
                    UnixListener::from_std(listener)
                };
                adopt().map_err(|source| SetupError::Bind {
                    path: unix.clone(),
                    source,
                })?
            }
            None => runtime_dir::bind(&unix, Some(handle.owner_uid), socket_group).await?,
        };
        let mut tasks = vec![
            tokio::spawn(serve_unix(listener, handle.clone(), registry.clone())).abort_handle(),
        ];
        let mut bound_tcp = None;
        if let Some(addr) = tcp {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| SetupError::Bind {
                    path: PathBuf::from(addr.to_string()),
                    source,
                })?;
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    alias = handle.name,
                    %addr,
                    "alias TCP listener bound beyond loopback: any host that reaches it uses the alias's credentials"
                );
            }
            bound_tcp = listener.local_addr().ok();
            tasks.push(tokio::spawn(serve_tcp(listener, handle.clone(), registry)).abort_handle());
        }
        Ok(Self {
            unix,
            owns_socket,
            tcp: bound_tcp,
            tasks,
        })
    }
}

async fn serve_unix(
    listener: UnixListener,
    handle: Arc<AliasHandle>,
    registry: Weak<dyn LazyConnect>,
) {
    let daemon_uid = nix::unistd::geteuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                runtime_dir::accept_failed(&handle.name, &err).await;
                continue;
            }
        };
        let allowed = stream
            .peer_cred()
            .map(|cred| {
                Peer::new(cred.uid(), cred.gid(), cred.pid(), daemon_uid).may_use(handle.owner_uid)
            })
            .unwrap_or(false);
        tokio::spawn(serve_connection(
            AuthorityFix::new(stream, handle.authority_rewrites.clone()),
            allowed,
            handle.clone(),
            registry.clone(),
        ));
    }
}

async fn serve_tcp(
    listener: TcpListener,
    handle: Arc<AliasHandle>,
    registry: Weak<dyn LazyConnect>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                runtime_dir::accept_failed(&handle.name, &err).await;
                continue;
            }
        };
        stream.set_nodelay(true).ok();
        // TCP has no peer credentials: whoever reaches a loopback listener may use it.
        tokio::spawn(serve_connection(
            stream,
            true,
            handle.clone(),
            registry.clone(),
        ));
    }
}

async fn serve_connection<S>(
    io: S,
    allowed: bool,
    handle: Arc<AliasHandle>,
    registry: Weak<dyn LazyConnect>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = handle.name.clone();
    let service = service_fn(move |request| {
        let handle = handle.clone();
        let registry = registry.clone();
        async move {
            let response = if allowed {
                forward::forward(request, handle, registry).await
            } else {
                forward::refuse(tonic::Status::permission_denied(format!(
                    "this user may not use alias '{}'",
                    handle.name
                )))
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(defaults::STREAM_WINDOW)
        .initial_connection_window_size(defaults::CONNECTION_WINDOW);
    if let Err(err) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(alias = name, error = %err, "data connection ended with an error");
    }
}
