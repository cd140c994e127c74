//! The resolved configuration of an alias: what the daemon connects to and how.
//!
//! `ConnectParams` is what a caller typed; an `AliasConfig` is what it means, after the
//! address-priority rules, URI parsing and TLS rules of `resolve`. Two aliases whose
//! `EndpointConfig`s are equal can share channels.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use milvus_connd_protocol::{AliasInfo, AliasState, AuthKind, PoolMode, Secret, TlsInfo};

use crate::health::backoff::BackoffPolicy;

/// Where Milvus listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Tcp { host: String, port: u16 },
    Unix { path: PathBuf },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// What the daemon sends as `authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credentials {
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    /// `user:password` or an API key.
    Token(Secret),
}

impl Credentials {
    /// The `authorization` metadata Milvus expects: base64 of the token or of
    /// `user:password`, with no scheme prefix.
    pub fn authorization(&self) -> Option<String> {
        let raw = match self {
            Self::None => return None,
            Self::UserPassword { user, password } => format!("{user}:{}", password.expose()),
            Self::Token(token) => token.expose().to_owned(),
        };
        Some(base64::engine::general_purpose::STANDARD.encode(raw))
    }

    /// [`Credentials::authorization`] as a header value, marked sensitive so that it is
    /// never printed. Base64 is always a valid header value, so `None` means no
    /// credentials.
    pub fn authorization_header(&self) -> Option<http::HeaderValue> {
        let mut value = http::HeaderValue::try_from(self.authorization()?).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    pub fn kind(&self) -> AuthKind {
        match self {
            Self::None => AuthKind::None,
            Self::UserPassword { .. } => AuthKind::UserPassword,
            Self::Token(_) => AuthKind::Token,
        }
    }

    /// The user name, where one is known; an API key has none.
    pub fn user(&self) -> &str {
        match self {
            Self::None => "",
            Self::UserPassword { user, .. } => user,
            Self::Token(token) => token.expose().split_once(':').map_or("", |(user, _)| user),
        }
    }
}

/// TLS settings; files are read each time a channel is made, so rotated files take effect
/// on the next connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsConfig {
    /// Name checked in the certificate and sent as SNI; the target host when absent.
    pub server_name: Option<String>,
    /// PEM files of trusted roots; the system roots when empty.
    pub roots: Vec<PathBuf>,
    /// Client certificate chain and key, for mutual TLS.
    pub identity: Option<ClientIdentity>,
    /// The parameters as given, for display.
    pub given: TlsInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything that decides which upstream connection an alias needs. Aliases with equal
/// endpoint configs may share channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointConfig {
    pub target: Target,
    pub tls: Option<TlsConfig>,
    pub credentials: Credentials,
}

/// How a pool behaves; aliases share a pool only when they agree on it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSettings {
    pub size: u32,
    pub max_lifetime: Option<Duration>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl PoolSettings {
    /// The gRPC backoff schedule with this pool's bounds.
    pub fn backoff(&self) -> BackoffPolicy {
        BackoffPolicy {
            initial: self.backoff_initial,
            max: self.backoff_max,
            ..BackoffPolicy::default()
        }
    }
}

/// The resolved configuration of one alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasConfig {
    pub endpoint: EndpointConfig,
    pub db_name: String,
    pub pool: PoolMode,
    pub pool_size: u32,
    pub listen_tcp: Option<SocketAddr>,
    pub allow_client_db: bool,
    /// Channels are replaced after about this long.
    pub max_lifetime: Option<Duration>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long `connect` waits; this and the two below are not part of the connection's
    /// identity and may change while it is open.
    pub timeout: Duration,
    pub keep_warm: bool,
    pub idle_timeout: Duration,
}

impl AliasConfig {
    /// Whether a live connection made for `self` serves `other` unchanged (the
    /// idempotent-connect rule; everything but the wait time counts).
    pub fn same_connection(&self, other: &AliasConfig) -> bool {
        self.endpoint == other.endpoint
            && self.db_name == other.db_name
            && self.pool == other.pool
            && self.pool_size == other.pool_size
            && self.listen_tcp == other.listen_tcp
            && self.allow_client_db == other.allow_client_db
            && self.pool_settings() == other.pool_settings()
    }

    /// How the alias's pool behaves.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            size: self.pool_size,
            max_lifetime: self.max_lifetime,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
        }
    }

    /// The alias as `get` shows it: no password, no token. Channels, endpoints and leases
    /// are the registry's to fill in.
    pub fn info(&self, alias: &str, owner_uid: u32, state: AliasState) -> AliasInfo {
        let endpoint = &self.endpoint;
        AliasInfo {
            alias: alias.to_owned(),
            owner_uid,
            state,
            connected: matches!(state, AliasState::Ready | AliasState::Degraded),
            address: endpoint.target.to_string(),
            user: endpoint.credentials.user().to_owned(),
            db_name: self.db_name.clone(),
            auth: endpoint.credentials.kind(),
            tls: endpoint
                .tls
                .as_ref()
                .map(|tls| tls.given.clone())
                .unwrap_or_default(),
            timeout_seconds: self.timeout.as_secs_f64(),
            pool: self.pool,
            pool_size: self.pool_size,
            channels_ready: 0,
            keep_warm: self.keep_warm,
            idle_timeout_seconds: self.idle_timeout.as_secs_f64(),
            allow_client_db: self.allow_client_db,
            max_lifetime_seconds: self.max_lifetime.map(|d| d.as_secs_f64()),
            endpoints: Default::default(),
            leases: Vec::new(),
            cause: None,
            transitions: Vec::new(),
            server: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_is_plain_base64() {
        let creds = Credentials::UserPassword {
            user: "root".into(),
            password: Secret::new("Milvus"),
        };
        assert_eq!(creds.authorization().as_deref(), Some("cm9vdDpNaWx2dXM="));
        let token = Credentials::Token(Secret::new("root:Milvus"));
        assert_eq!(token.authorization().as_deref(), Some("cm9vdDpNaWx2dXM="));
        assert_eq!(token.user(), "root");
        assert_eq!(Credentials::Token(Secret::new("apikey")).user(), "");
        assert_eq!(Credentials::None.authorization(), None);
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        let t = Target::Tcp {
            host: "::1".into(),
            port: 19530,
        };
        assert_eq!(t.to_string(), "[::1]:19530");
    }
}
