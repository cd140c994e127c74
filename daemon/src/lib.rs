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
//! - [`health`]: channel probes and reconnect backoff; [`pool`]: channels of an alias;
//! - [`proxy`]: the data plane; [`events`]: state changes; [`leases`]: who holds an alias;
//! - [`shutdown`]: signals and draining; [`systemd`]: notify, watchdog, socket activation;
//! - [`defaults`]: every default in one place; [`error`]: the error type.

#![forbid(unsafe_code)]

pub mod admin;
pub mod alias_config;
pub mod config;
pub mod control;
pub mod defaults;
pub mod error;
pub mod events;
pub mod files;
pub mod health;
pub mod leases;
pub mod peer;
pub mod pool;
pub mod proxy;
pub mod registry;
pub mod resolve;
pub mod runtime_dir;
pub mod secrets;
pub mod shutdown;
pub mod state_file;
pub mod systemd;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use milvus_connd_protocol::paths;
use tokio::sync::watch;

use crate::shutdown::Phase;

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
    /// How long a drain may wait for in-flight calls.
    pub shutdown_grace: Duration,
    /// Where to serve `/livez`, `/readyz`, `/startupz` and `/metrics`, if anywhere.
    pub admin_listen: Option<std::net::SocketAddr>,
    /// Where aliases added through the API are kept across restarts, if anywhere.
    pub state_file: Option<PathBuf>,
    /// The config file, for reloads.
    pub config_path: Option<PathBuf>,
    /// The aliases of the config file (owned by root, not persisted).
    pub config_aliases: std::collections::BTreeMap<String, milvus_connd_protocol::ConnectParams>,
}

/// Reloads the config file's aliases, telling systemd (RELOADING=1 … READY=1).
pub async fn reload(ctx: &control::Context) -> Result<milvus_connd_protocol::ReloadReport> {
    let Some(path) = &ctx.config_path else {
        return Err(Error::param(
            "the daemon was started without a config file; nothing to reload",
        ));
    };
    systemd::reloading();
    let result = ctx.registry.reload(path).await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "reload failed; the running configuration stays");
    }
    systemd::reloaded(&ctx.registry.summary_line());
    result
}

fn spawn_reload_on_sighup(ctx: Arc<control::Context>) {
    tokio::spawn(async move {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(hangups) => hangups,
            Err(err) => {
                tracing::error!(error = %err, "cannot wait for SIGHUP; reload only through the API");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config file");
            let _ = reload(&ctx).await;
        }
    });
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setup(#[from] runtime_dir::SetupError),
    #[error("cannot use the socket systemd passed")]
    Activation(#[source] std::io::Error),
    #[error("cannot listen for admin HTTP on {addr}")]
    Admin {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Serves until `phases` reaches [`shutdown::Phase::Draining`], then drains: stops
/// accepting, lets in-flight calls finish within the grace period (or until
/// [`shutdown::Phase::Now`]), removes its sockets and returns.
pub async fn run(
    settings: Settings,
    shutdown: Arc<watch::Sender<Phase>>,
) -> Result<(), StartError> {
    let mut phases = shutdown.subscribe();
    runtime_dir::prepare(&settings.runtime_dir, settings.socket_group)?;
    let activated = systemd::activated_sockets().map_err(StartError::Activation)?;
    let (listener, owned_socket) = match activated.control {
        Some(listener) => {
            listener
                .set_nonblocking(true)
                .map_err(StartError::Activation)?;
            let listener =
                tokio::net::UnixListener::from_std(listener).map_err(StartError::Activation)?;
            tracing::info!("control API on the socket-activated listener");
            (listener, None)
        }
        None => {
            let socket = settings.runtime_dir.join(paths::CONTROL_SOCKET);
            let listener = runtime_dir::bind(&socket, None, settings.socket_group).await?;
            tracing::info!(socket = %socket.display(), "control API listening");
            (listener, Some(socket))
        }
    };
    let registry = registry::Registry::new(
        settings.milvus_uri.clone(),
        registry::EndpointSettings {
            runtime_dir: settings.runtime_dir.clone(),
            socket_group: settings.socket_group,
        },
        settings.state_file.clone(),
    );
    registry.adopt_activated(activated.aliases);
    registry.load_config(settings.config_aliases.clone()).await;
    registry.restore().await;
    registry.spawn_sweeper(defaults::SWEEP_INTERVAL);
    let ctx = Arc::new(control::Context {
        registry: registry.clone(),
        started: Instant::now(),
        request_timeout: settings.request_timeout,
        shutdown,
        config_path: settings.config_path.clone(),
    });
    spawn_reload_on_sighup(ctx.clone());
    let admin = Arc::new(admin::Admin {
        registry: registry.clone(),
        started: Instant::now(),
        ready: std::sync::atomic::AtomicBool::new(true),
    });
    let admin_task = match settings.admin_listen {
        Some(addr) => {
            let listener = admin::bind(addr)
                .await
                .map_err(|source| StartError::Admin { addr, source })?;
            tracing::info!(%addr, "admin HTTP listening");
            Some(tokio::spawn(admin::serve(listener, admin.clone())))
        }
        None => None,
    };
    systemd::ready(&registry.summary_line());
    systemd::spawn_watchdog();
    registry.spawn_status_reporter(defaults::STATUS_INTERVAL);

    let mut draining = phases.clone();
    control::serve(listener, ctx, async move {
        shutdown::reached(&mut draining, Phase::Draining).await
    })
    .await;
    systemd::stopping();
    admin
        .ready
        .store(false, std::sync::atomic::Ordering::Relaxed);
    registry.stop_endpoints();
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        tokio::select! {
            () = registry.wait_idle() => {}
            () = shutdown::reached(&mut phases, Phase::Now) => {}
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(grace = ?settings.shutdown_grace, "calls still in flight after the shutdown grace");
    }
    if let Some(socket) = owned_socket
        && let Err(err) = std::fs::remove_file(&socket)
    {
        tracing::warn!(error = %err, socket = %socket.display(), "cannot remove the control socket");
    }
    if let Some(task) = admin_task {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
