//! Async Rust client of the milvus-connd control API.
//!
//! One HTTP/1.1 request per connection over the control socket: the daemon is local, a
//! connect costs microseconds, and no pooled connection can go stale between calls.
//!
//! ```no_run
//! # async fn demo() -> Result<(), milvus_connd_client::ClientError> {
//! use milvus_connd_client::{Client, ConnectParams};
//! let client = Client::from_env();
//! let params = ConnectParams { uri: Some("http://127.0.0.1:19530".into()), ..Default::default() };
//! let lease = client.connect("default", &params).await?;
//! println!("{} is {}", lease.alias.alias, lease.alias.state.as_str());
//! // Any tonic Milvus stub works on this channel; the daemon adds the credentials.
//! let channel = lease.channel();
//! # let _ = channel;
//! lease.release().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

pub use milvus_connd_protocol::{
    AliasInfo, AliasList, AliasState, ApiError, AuthKind, ConnectParams, ConnectResponse,
    DisconnectRequest, ErrorBody, ErrorCode, Event, EventLine, PoolMode, Port, ReconnectMode,
    ReconnectRequest, ReleaseRequest, ReloadReport, Secret, StatusInfo, paths,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach milvus-connd at {socket}: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with milvus-connd failed: {0}")]
    Http(#[from] hyper::Error),
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(ApiError),
    #[error("milvus-connd answered {status} with a body that is not the expected JSON: {source}")]
    Decode {
        status: StatusCode,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The daemon's error code, if the daemon answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api(err) => Some(err.code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A handle on the daemon's control socket; cheap to clone (clones share the kept
/// connection).
///
/// The connection of the last request is kept for the next one, as HTTP/1.1 keep-alive
/// allows: a warm `connect` then costs one round trip instead of a socket set-up too.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    idle: Arc<Mutex<Option<IdleConnection>>>,
}

/// A connection kept between requests.
#[derive(Debug)]
struct IdleConnection {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// A kept connection older than this is not reused: the daemon closes connections idle
/// for its request timeout (10 s by default), and reusing one as it closes would fail.
const KEEP_IDLE: Duration = Duration::from_secs(4);

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            idle: Arc::default(),
        }
    }

    /// The socket named by `$MILVUS_CONND_SOCKET`, else the default runtime directory's.
    pub fn from_env() -> Self {
        let is_root = nix::unistd::geteuid().is_root();
        Self::new(paths::default_control_socket(
            |k| std::env::var(k).ok(),
            is_root,
        ))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn list(&self) -> Result<AliasList> {
        self.call(Method::GET, "/v1/aliases", None::<&()>).await
    }

    pub async fn get(&self, alias: &str) -> Result<AliasInfo> {
        self.call(Method::GET, &alias_path(alias, ""), None::<&()>)
            .await
    }

    /// Stores a configuration without connecting (`add_connection`).
    pub async fn add(&self, alias: &str, params: &ConnectParams) -> Result<AliasInfo> {
        self.call(Method::PUT, &alias_path(alias, ""), Some(params))
            .await
    }

    /// Connects the alias and returns a lease on it, released when dropped.
    pub async fn connect(&self, alias: &str, params: &ConnectParams) -> Result<Lease> {
        let response: ConnectResponse = self
            .call(Method::POST, &alias_path(alias, "/connect"), Some(params))
            .await?;
        Ok(Lease {
            client: self.clone(),
            alias: response.alias,
            reused: response.reused,
            id: response.lease,
        })
    }

    /// Drops a lease by id (for leases taken by another process, e.g. `milvus-connctl`).
    pub async fn release(&self, alias: &str, lease: &str) -> Result<AliasInfo> {
        let body = ReleaseRequest {
            lease: lease.to_owned(),
        };
        self.call(Method::POST, &alias_path(alias, "/release"), Some(&body))
            .await
    }

    pub async fn disconnect(&self, alias: &str, force: bool) -> Result<AliasInfo> {
        let body = DisconnectRequest { force };
        self.call(Method::POST, &alias_path(alias, "/disconnect"), Some(&body))
            .await
    }

    /// New channels for the alias (see [`ReconnectMode`]).
    pub async fn reconnect(&self, alias: &str, mode: ReconnectMode) -> Result<AliasInfo> {
        let body = ReconnectRequest { mode };
        self.call(Method::POST, &alias_path(alias, "/reconnect"), Some(&body))
            .await
    }

    /// The stream of state changes, of one alias or of all the caller may see.
    pub async fn events(&self, alias: Option<&str>) -> Result<Events> {
        let path = match alias {
            Some(alias) => format!("/v1/events?alias={alias}"),
            None => "/v1/events".to_owned(),
        };
        let (status, body) = self.open(Method::GET, &path, None::<&()>).await?;
        if !status.is_success() {
            let bytes = body.collect().await?.to_bytes();
            let body: ErrorBody = serde_json::from_slice(&bytes)
                .map_err(|source| ClientError::Decode { status, source })?;
            return Err(ClientError::Api(body.error));
        }
        Ok(Events {
            body,
            buffer: Vec::new(),
        })
    }

    pub async fn remove(&self, alias: &str) -> Result<()> {
        self.send(Method::DELETE, &alias_path(alias, ""), None::<&()>)
            .await
            .map(drop)
    }

    /// Reloads the daemon's config file (root or the daemon's user).
    pub async fn reload(&self) -> Result<ReloadReport> {
        self.call(Method::POST, "/v1/reload", None::<&()>).await
    }

    /// Asks the daemon to drain and stop, as SIGTERM does (root or the daemon's user).
    pub async fn shutdown(&self) -> Result<()> {
        self.send(Method::POST, "/v1/shutdown", None::<&()>)
            .await
            .map(drop)
    }

    pub async fn status(&self) -> Result<StatusInfo> {
        self.call(Method::GET, "/v1/status", None::<&()>).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let (status, bytes) = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode { status, source })
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, Bytes)> {
        let body = encode(body)?;
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|idle| idle.since.elapsed() < KEEP_IDLE && !idle.sender.is_closed());
        let answer = match kept {
            Some(idle) => match self
                .exchange(idle.sender, &method, path, body.clone())
                .await
            {
                // The daemon closed the kept connection before taking the request.
                Err(ClientError::Http(err)) if err.is_canceled() || err.is_incomplete_message() => {
                    None
                }
                answer => Some(answer),
            },
            None => None,
        };
        let (status, bytes) = match answer {
            Some(answer) => answer?,
            None => {
                self.exchange(self.dial().await?, &method, path, body)
                    .await?
            }
        };
        if status.is_success() {
            return Ok((status, bytes));
        }
        let body: ErrorBody = serde_json::from_slice(&bytes)
            .map_err(|source| ClientError::Decode { status, source })?;
        Err(ClientError::Api(body.error))
    }

    /// One request and its whole answer on `sender`, which is kept for the next request.
    async fn exchange(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        method: &Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let response = sender
            .send_request(request(method.clone(), path, body)?)
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !sender.is_closed() {
            *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
        Ok((status, bytes))
    }

    /// A new connection to the control socket.
    async fn dial(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection task ends when its sender is dropped or the daemon closes it.
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Sends a request on a connection of its own and returns the status and the
    /// (unread) body, for answers that stream.
    async fn open<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, hyper::body::Incoming)> {
        let mut sender = self.dial().await?;
        let response = sender
            .send_request(request(method, path, encode(body)?)?)
            .await?;
        Ok((response.status(), response.into_body()))
    }
}

fn encode<B: Serialize>(body: Option<&B>) -> Result<Bytes> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|source| ClientError::Decode {
            status: StatusCode::OK,
            source,
        })
}

fn request(method: Method, path: &str, body: Bytes) -> Result<Request<Full<Bytes>>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "milvus-connd")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| ClientError::Api(local_error(format!("cannot build request: {e}"))))
}

/// A stream of state changes (`GET /v1/events`).
#[derive(Debug)]
pub struct Events {
    body: hyper::body::Incoming,
    buffer: Vec<u8>,
}

impl Events {
    /// The next line: an event, or a marker that some were missed. `None` when the
    /// daemon closes the stream.
    pub async fn next(&mut self) -> Option<Result<EventLine>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(
                    serde_json::from_slice(&line).map_err(|source| ClientError::Decode {
                        status: StatusCode::OK,
                        source,
                    }),
                );
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(err) => return Some(Err(err.into())),
            }
        }
    }
}

/// A lease on a connected alias: the alias stays connected while it is held. Dropping it
/// releases it in the background; [`Lease::release`] does so and reports errors.
#[derive(Debug)]
pub struct Lease {
    client: Client,
    /// The alias as it was when connected.
    pub alias: AliasInfo,
    /// Whether the alias was already connected with this configuration.
    pub reused: bool,
    id: Option<String>,
}

impl Lease {
    /// The lease id; absent when the daemon could not see this process's pid.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// A channel to Milvus through the alias's socket, usable with any tonic stub. It
    /// connects on first use; the daemon adds credentials and the database.
    pub fn channel(&self) -> tonic::transport::Channel {
        data_channel(PathBuf::from(&self.alias.endpoints.unix))
    }

    /// Releases the lease now.
    pub async fn release(mut self) -> Result<()> {
        match self.id.take() {
            Some(id) => self.client.release(&self.alias.alias, &id).await.map(drop),
            None => Ok(()),
        }
    }

    /// Keeps the lease past this handle (the daemon reaps it when this process exits).
    pub fn detach(mut self) -> Option<String> {
        self.id.take()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let alias = self.alias.alias.clone();
            runtime.spawn(async move {
                let _ = client.release(&alias, &id).await;
            });
        }
    }
}

/// A lazily connecting tonic channel over the Unix socket at `path`.
pub fn data_channel(path: PathBuf) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_static("http://localhost").connect_with_connector_lazy(
        tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }),
    )
}

fn alias_path(alias: &str, suffix: &str) -> String {
    // Alias names the daemon accepts need no escaping; anything else is sent as is and
    // refused by the daemon with a ParamError that names the rule.
    format!("/v1/aliases/{alias}{suffix}")
}

fn local_error(message: String) -> ApiError {
    ApiError {
        code: ErrorCode::ParamError,
        message,
        retriable: false,
        alias: None,
        cause: None,
    }
}
