//! Upstream channels: one authenticated, handshaken HTTP/2 connection to Milvus.
//!
//! `transport` dials and sets up TLS, `handshake` makes the calls that prove the channel
//! reaches a Milvus that accepts our credentials, and `classify` names the cause when
//! either fails.

mod classify;
pub mod connection;
mod handshake;
pub mod tls;
mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use milvus_connd_protocol::ServerInfo;
use tonic::metadata::AsciiMetadataValue;

pub use connection::Connection;
pub use handshake::Calls;
pub use transport::ConnectionSignals;

use crate::alias_config::EndpointConfig;
use crate::error::Result;

/// Counters of upstream channels, shown by `status`.
#[derive(Debug, Default)]
pub struct ChannelCounters {
    pub open: AtomicU64,
    pub opened_total: AtomicU64,
}

/// A ready channel to Milvus. Dropping the last handle closes the connection.
#[derive(Debug)]
pub struct Upstream {
    pub connection: Connection,
    /// What happens to the connection (closed, too many pings).
    pub signals: Arc<ConnectionSignals>,
    pub server: ServerInfo,
    authorization: Option<AsciiMetadataValue>,
    endpoint: EndpointConfig,
    counters: Arc<ChannelCounters>,
}

impl Upstream {
    /// Dials, handshakes and returns a ready channel. The caller bounds the time.
    pub async fn open(
        endpoint: &EndpointConfig,
        keepalive: Duration,
        counters: Arc<ChannelCounters>,
    ) -> Result<Self> {
        let authorization = endpoint
            .credentials
            .authorization_header()
            .and_then(|value| AsciiMetadataValue::try_from(value.as_bytes()).ok())
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        let signals = Arc::new(ConnectionSignals::default());
        let connection = transport::open_connection(endpoint, keepalive, signals.clone()).await?;
        let mut calls = Calls::new(
            connection.clone(),
            authorization.clone(),
            endpoint.target.clone(),
        );
        let server = match calls.handshake(endpoint.credentials.user()).await {
            Ok(server) => server,
            Err(err) => return Err(classify::refine(endpoint, err).await),
        };
        counters.open.fetch_add(1, Ordering::Relaxed);
        counters.opened_total.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            connection,
            signals,
            server,
            authorization,
            endpoint: endpoint.clone(),
            counters,
        })
    }

    /// Calls on this channel, authenticated as the alias.
    pub fn calls(&self) -> Calls {
        Calls::new(
            self.connection.clone(),
            self.authorization.clone(),
            self.endpoint.target.clone(),
        )
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}
