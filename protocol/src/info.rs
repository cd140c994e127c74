//! What the daemon answers: alias details, lists, connect results and its own status.
//!
//! None of these types can hold a password or a token: secrets stay inside the daemon.

use serde::{Deserialize, Serialize};

use crate::params::PoolMode;

/// Connectivity state of an alias (names follow gRPC's connectivity semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasState {
    /// Configured, nothing open.
    Idle,
    Connecting,
    Ready,
    /// Reachable, but Milvus reports itself unhealthy or part of the pool is down.
    Degraded,
    /// Nothing reachable; retrying.
    TransientFailure,
    Shutdown,
}

impl AliasState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Ready => "ready",
            Self::Degraded => "degraded",
            Self::TransientFailure => "transient_failure",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Which kind of credentials an alias sends (never the credentials themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    UserPassword,
    Token,
}

/// TLS settings of an alias.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsInfo {
    pub secure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_pem_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_pem_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_path: Option<String>,
}

/// What Milvus said about itself during the handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// As answered by `GetVersion`, e.g. `v2.3.5-lite`.
    pub version: String,
    /// The connection identifier from `Connect`; 0 if the server predates `Connect`.
    pub identifier: i64,
    pub build_tags: String,
    pub build_time: String,
    pub git_commit: String,
    pub go_version: String,
    pub deploy_mode: String,
}

/// Everything a caller may know about one alias (`get_connection_addr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasInfo {
    pub alias: String,
    /// uid of the process that created the alias.
    pub owner_uid: u32,
    pub state: AliasState,
    /// True when the alias holds a ready channel (`has_connection`).
    pub connected: bool,
    /// `host:port` or `unix:/path`.
    pub address: String,
    pub user: String,
    pub db_name: String,
    pub auth: AuthKind,
    pub tls: TlsInfo,
    pub timeout_seconds: f64,
    pub pool: PoolMode,
    pub pool_size: u32,
    /// Pool channels that are open right now.
    pub channels_ready: usize,
    pub keep_warm: bool,
    pub idle_timeout_seconds: f64,
    pub allow_client_db: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_seconds: Option<f64>,
    pub endpoints: Endpoints,
    /// Who holds leases on the alias.
    pub leases: Vec<LeaseHolder>,
    /// The cause of the current state when it is not `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The latest state changes, oldest first (at most 100).
    pub transitions: Vec<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
}

/// Where clients reach an alias's data plane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Path of the alias's gRPC Unix socket (`unix:` + this is a gRPC target).
    pub unix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
}

/// One state change of an alias, as recorded and as streamed by `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 time of the change.
    pub time: String,
    pub alias: String,
    pub from: AliasState,
    pub to: AliasState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A line of the event stream: an event, or a marker that a slow reader missed some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventLine {
    Event(Event),
    Dropped { dropped: u64 },
}

/// How `reconnect` replaces an alias's channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectMode {
    /// New channels are ready before the old ones stop taking calls.
    #[default]
    Gradual,
    /// The old channels close first.
    Immediate,
}

/// The body of `reconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectRequest {
    #[serde(default)]
    pub mode: ReconnectMode,
}

/// What a reload of the config file did, by alias name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// A process holding a lease on an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub pid: i32,
    pub uid: u32,
}

/// One row of `list_connections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasSummary {
    pub alias: String,
    pub connected: bool,
    pub state: AliasState,
    pub address: String,
    pub leases: usize,
}

/// The answer of `GET /v1/aliases`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasList {
    pub aliases: Vec<AliasSummary>,
}

/// The answer of `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectResponse {
    pub alias: AliasInfo,
    /// True when the alias was already connected with the same configuration and nothing
    /// new was opened.
    pub reused: bool,
    /// The caller's lease; release it when done. Absent when the caller's pid is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

/// The body of `release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub lease: String,
}

/// The body of `disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    /// Disconnect even while other processes hold leases.
    #[serde(default)]
    pub force: bool,
}

/// The answer of `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub version: String,
    pub pid: u32,
    pub uptime_seconds: f64,
    /// Aliases the caller may see.
    pub aliases: usize,
    pub aliases_connected: usize,
    /// Upstream channels open right now (shared channels count once).
    pub channels_open: u64,
    /// Upstream channels opened since start.
    pub channels_opened_total: u64,
    /// Connect requests served since start, including idempotent ones.
    pub connect_requests_total: u64,
    /// Data-plane requests whose unusable `:authority` was replaced (grpcio on `unix:`).
    pub authority_rewrites_total: u64,
    /// Alias state changes since start.
    pub transitions_total: u64,
}
