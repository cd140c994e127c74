//! milvus-connd: a local connection manager for Milvus.
//!
//! The daemon owns authenticated, health-checked gRPC channels to Milvus, one set per
//! alias, and lets local processes use them over Unix sockets without holding any
//! credentials. Module map:
//!
//! - [`control`]: the HTTP/JSON control API on `control.sock`;
//! - [`registry`]: aliases, their owners, configurations and channels;
//! - [`resolve`]: pymilvus's connection-parameter rules; [`alias_config`]: their result;
//! - [`upstream`]: dialing, TLS, handshake and error classification;
//! - [`runtime_dir`]: sockets and their permissions; [`peer`]: who is calling;
//! - [`defaults`]: every default in one place; [`error`]: the error type.

#![forbid(unsafe_code)]

pub mod alias_config;
pub mod control;
pub mod defaults;
pub mod error;
pub mod events;
pub mod health;
pub mod leases;
pub mod peer;
pub mod pool;
pub mod proxy;
pub mod registry;
pub mod resolve;
pub mod runtime_dir;
pub mod upstream;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use milvus_connd_protocol::paths;

pub use error::{Error, Result};

/// What the daemon needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runtime_dir: PathBuf,
    /// Group owning the runtime directory and sockets.
    pub socket_group: Option<u32>,
    pub request_timeout: Duration,
    /// The `MILVUS_URI` for aliases connected without an address.
    pub milvus_uri: Option<String>,
}

/// Binds the control socket and serves until `shutdown` completes; removes the socket on
/// the way out.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), runtime_dir::SetupError> {
    runtime_dir::prepare(&settings.runtime_dir, settings.socket_group)?;
    let socket = settings.runtime_dir.join(paths::CONTROL_SOCKET);
    let listener = runtime_dir::bind(&socket, None, settings.socket_group).await?;
    tracing::info!(socket = %socket.display(), "control API listening");
    let registry = registry::Registry::new(
        settings.milvus_uri.clone(),
        registry::EndpointSettings {
            runtime_dir: settings.runtime_dir.clone(),
            socket_group: settings.socket_group,
        },
    );
    registry.spawn_sweeper(defaults::SWEEP_INTERVAL);
    let ctx = Arc::new(control::Context {
        registry,
        started: Instant::now(),
        request_timeout: settings.request_timeout,
    });
    control::serve(listener, ctx, shutdown).await;
    if let Err(err) = std::fs::remove_file(&socket) {
        tracing::warn!(error = %err, socket = %socket.display(), "cannot remove the control socket");
    }
    tracing::info!("stopped");
    Ok(())
}
