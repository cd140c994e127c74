//! Connection parameters: the body of `connect` and `add`, with pymilvus's names.
//!
//! Every field is optional here; which combinations make sense, and what they resolve to,
//! is the daemon's business. Unknown fields are refused, so a typo never goes unnoticed.

use serde::{Deserialize, Serialize};

/// A password or token. Its `Debug` never shows the value, and it has no `Display`, so it
/// cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A port as pymilvus accepts it: a number or a string holding one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Number(i64),
    Text(String),
}

/// Whether an alias may share its upstream channels with other aliases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// Aliases with the same target, identity and TLS settings share channels.
    #[default]
    Shared,
    /// This alias always gets channels of its own.
    Dedicated,
}

/// The parameters of `connect` / `add_connection`, named as in pymilvus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectParams {
    /// Must equal the alias in the path when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    /// `user:password` or an API key; wins over `user` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// A file holding the password; a relative name is a systemd credential
    /// (`$CREDENTIALS_DIRECTORY/<name>`). Read at every connect, so rotation works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// A file holding the token, like `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// `host:port`; wins over `uri`, `host` and `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `http`, `https`, `tcp`, `grpc` or `unix:` URI; wins over `host` and `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_pem_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_pem_path: Option<String>,
    /// Name checked in the server certificate and sent as SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Seconds to wait for a ready channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Only `GRPC` is implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolMode>,
    /// Upstream channels (HTTP/2 connections) of the alias's pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// Also serve the alias's data plane on this TCP address (e.g. `127.0.0.1:19530`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_tcp: Option<String>,
    /// Keep the channels open while nobody holds or uses the alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_warm: Option<bool>,
    /// Seconds without leases and calls after which the channels close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
    /// Let clients choose the database with their own `dbname` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_client_db: Option<bool>,
    /// Seconds after which each channel is replaced (gradually, with jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<f64>,
    /// First reconnect delay in seconds (gRPC connection backoff; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_initial: Option<f64>,
    /// Longest reconnect delay in seconds (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max: Option<f64>,
}

impl ConnectParams {
    /// Whether the parameters name a server (any of `address`, `uri`, `host`, `port`).
    pub fn has_address(&self) -> bool {
        self.address.is_some() || self.uri.is_some() || self.host.is_some() || self.port.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named() {
        let err = serde_json::from_str::<ConnectParams>(r#"{"uri":"http://h","pasword":"x"}"#)
            .expect_err("must fail");
        assert!(err.to_string().contains("unknown field `pasword`"), "{err}");
    }

    #[test]
    fn port_accepts_number_or_text() {
        let p: ConnectParams = serde_json::from_str(r#"{"port": 19530}"#).expect("parse");
        assert_eq!(p.port, Some(Port::Number(19530)));
        let p: ConnectParams = serde_json::from_str(r#"{"port": "19531"}"#).expect("parse");
        assert_eq!(p.port, Some(Port::Text("19531".into())));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let p = ConnectParams {
            password: Some(Secret::new("hunter2")),
            token: Some(Secret::new("root:Milvus")),
            ..Default::default()
        };
        let text = format!("{p:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("Milvus"),
            "{text}"
        );
    }

    #[test]
    fn pool_values_are_checked() {
        let err = serde_json::from_str::<ConnectParams>(r#"{"pool":"QueuePool"}"#)
            .expect_err("must fail");
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
