//! A pool: `pool_size` ready channels to one endpoint, each its own HTTP/2 connection with
//! its own handshake. Calls go to the channel with the fewest calls in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use milvus_connd_protocol::ServerInfo;
use tonic::transport::Channel;

use crate::alias_config::EndpointConfig;
use crate::error::{Error, Result};
use crate::upstream::{Calls, ChannelCounters, Upstream};

#[derive(Debug)]
struct Member {
    upstream: Upstream,
    in_flight: AtomicUsize,
}

#[derive(Debug)]
pub struct Pool {
    members: Vec<Member>,
    /// The `authorization` value every proxied call gets.
    pub authorization: Option<http::HeaderValue>,
}

/// Counts a call against its channel until dropped.
#[derive(Debug)]
pub struct InFlight {
    pool: Arc<Pool>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.pool.members[self.index]
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// Opens `size` channels at once; fails (closing what was opened) if any fails.
    pub async fn open(
        endpoint: &EndpointConfig,
        size: u32,
        counters: Arc<ChannelCounters>,
    ) -> Result<Self> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..size {
            let endpoint = endpoint.clone();
            let counters = counters.clone();
            tasks.spawn(async move { Upstream::open(&endpoint, counters).await });
        }
        let mut members = Vec::with_capacity(size as usize);
        while let Some(joined) = tasks.join_next().await {
            let upstream =
                joined.map_err(|e| Error::Internal(format!("channel task failed: {e}")))??;
            members.push(Member {
                upstream,
                in_flight: AtomicUsize::new(0),
            });
        }
        let authorization = endpoint
            .credentials
            .authorization()
            .map(|value| {
                let mut value = http::HeaderValue::try_from(value)
                    .map_err(|_| Error::Internal("base64 is not a header value".into()))?;
                value.set_sensitive(true);
                Ok::<_, Error>(value)
            })
            .transpose()?;
        Ok(Self {
            members,
            authorization,
        })
    }

    /// The least-loaded channel, counted as busy until the guard drops.
    pub fn pick(self: &Arc<Self>) -> (Channel, InFlight) {
        let index = self
            .members
            .iter()
            .enumerate()
            .min_by_key(|(_, m)| m.in_flight.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i);
        self.members[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        let guard = InFlight {
            pool: self.clone(),
            index,
        };
        (self.members[index].upstream.channel.clone(), guard)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// What the first channel's handshake learnt about the server.
    pub fn server(&self) -> ServerInfo {
        self.members
            .first()
            .map(|m| m.upstream.server.clone())
            .unwrap_or_default()
    }

    /// The Connect identifiers of the channels.
    pub fn identifiers(&self) -> Vec<i64> {
        self.members
            .iter()
            .map(|m| m.upstream.server.identifier)
            .collect()
    }

    /// Authenticated calls on the first channel, for the daemon's own requests.
    pub fn calls(&self) -> Option<Calls> {
        self.members.first().map(|m| m.upstream.calls())
    }
}
