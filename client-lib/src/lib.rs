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
//! let answer = client.connect("default", &params).await?;
//! println!("{} is {}", answer.alias.alias, answer.alias.state.as_str());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

pub use milvus_connd_protocol::{
    AliasInfo, AliasList, AliasState, ApiError, ConnectParams, ConnectResponse, DisconnectRequest,
    ErrorBody, ErrorCode, PoolMode, Port, Secret, StatusInfo, paths,
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

/// A handle on the daemon's control socket; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
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

    pub async fn connect(&self, alias: &str, params: &ConnectParams) -> Result<ConnectResponse> {
        self.call(Method::POST, &alias_path(alias, "/connect"), Some(params))
            .await
    }

    pub async fn disconnect(&self, alias: &str, force: bool) -> Result<AliasInfo> {
        let body = DisconnectRequest { force };
        self.call(Method::POST, &alias_path(alias, "/disconnect"), Some(&body))
            .await
    }

    pub async fn remove(&self, alias: &str) -> Result<()> {
        self.send(Method::DELETE, &alias_path(alias, ""), None::<&()>)
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
        let body = match body {
            Some(body) => {
                Bytes::from(
                    serde_json::to_vec(body).map_err(|source| ClientError::Decode {
                        status: StatusCode::OK,
                        source,
                    })?,
                )
            }
            None => Bytes::new(),
        };
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "milvus-connd")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| ClientError::Api(local_error(format!("cannot build request: {e}"))))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        driver.abort();
        if status.is_success() {
            return Ok((status, bytes));
        }
        let body: ErrorBody = serde_json::from_slice(&bytes)
            .map_err(|source| ClientError::Decode { status, source })?;
        Err(ClientError::Api(body.error))
    }
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
