//! The registry: every alias, its configuration, owner, pool, endpoints and leases.
//!
//! Operations on one alias are serialised by a per-alias async lock (a connect may wait
//! seconds for Milvus and must not block other aliases); the alias map sits behind a short
//! synchronous lock that is never held across an `.await`. A failed operation leaves the
//! alias exactly as it was. The data plane never touches this map: it reads the route that
//! the registry publishes in each alias's [`AliasHandle`].

//!
//! [`alias`] holds one alias's record, [`connect`] the operations that open channels
//! (add, connect, reconnect, the data plane's lazy connect), [`lifecycle`] those that close
//! channels or reap leases.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use milvus_connd_protocol::{
    AliasInfo, AliasList, AliasState, AliasSummary, ConnectParams, StatusInfo, validate_alias_name,
};
use tokio::sync::OwnedMutexGuard;

use crate::alias_config::{EndpointConfig, PoolSettings};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::peer::Peer;
use crate::pool::Pool;
use crate::proxy::route::{LazyConnect, Route};
use crate::upstream::ChannelCounters;

mod alias;
mod connect;
mod lifecycle;
mod persist;
mod reload;

use alias::Alias;
pub use alias::idle_expired;

#[derive(Debug, Default)]
struct Counters {
    connect_requests: AtomicU64,
}

/// Where and how alias endpoints are created.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub runtime_dir: PathBuf,
    pub socket_group: Option<u32>,
}

type PoolKey = (EndpointConfig, PoolSettings);

#[derive(Debug)]
pub struct Registry {
    me: Weak<Registry>,
    aliases: Mutex<BTreeMap<String, Alias>>,
    /// Per-alias operation locks; an entry lives while someone holds or waits for it.
    op_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Pools that aliases with `pool = "shared"` and equal endpoints share.
    shared: Mutex<HashMap<PoolKey, Weak<Pool>>>,
    channels: Arc<ChannelCounters>,
    counters: Counters,
    pub events: Events,
    /// `MILVUS_URI` of the daemon's environment or `.env`.
    env_uri: Option<String>,
    endpoints: EndpointSettings,
    /// Where API aliases are persisted, if anywhere.
    state_file: Option<PathBuf>,
    /// Serialises writes of the state file.
    persisting: tokio::sync::Mutex<()>,
    /// Aliases that come from the config file: root's, and never persisted.
    config_aliases: Mutex<std::collections::BTreeSet<String>>,
    /// Data sockets systemd passed, by alias, until the alias opens its endpoints.
    activated: Mutex<HashMap<String, std::os::unix::net::UnixListener>>,
}

/// Holds an alias's operation lock; drops the table entry when nobody else wants it.
struct OpGuard<'a> {
    registry: &'a Registry,
    name: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for OpGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = lock(&self.registry.op_locks);
        if locks
            .get(&self.name)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.name);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a few map operations that leave consistent data even when
    // interrupted, so poisoning is not a reason to stop serving.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    pub fn new(
        env_uri: Option<String>,
        endpoints: EndpointSettings,
        state_file: Option<PathBuf>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            aliases: Mutex::default(),
            op_locks: Mutex::default(),
            shared: Mutex::default(),
            channels: Arc::default(),
            counters: Counters::default(),
            events: Events::default(),
            env_uri,
            endpoints,
            state_file,
            persisting: tokio::sync::Mutex::new(()),
            config_aliases: Mutex::default(),
            activated: Mutex::default(),
        })
    }

    async fn lock_alias(&self, name: &str) -> OpGuard<'_> {
        let mutex = lock(&self.op_locks)
            .entry(name.to_owned())
            .or_default()
            .clone();
        let guard = mutex.lock_owned().await;
        OpGuard {
            registry: self,
            name: name.to_owned(),
            guard: Some(guard),
        }
    }

    /// Runs `f` on an alias the peer may use. Another user's alias is reported as
    /// denied, not as absent, so that a name collision is not mistaken for a free name.
    fn with_alias<T>(
        &self,
        peer: &Peer,
        name: &str,
        f: impl FnOnce(&mut Alias) -> Result<T>,
    ) -> Result<T> {
        let mut aliases = lock(&self.aliases);
        let alias = aliases
            .get_mut(name)
            .ok_or_else(|| Error::AliasNotFound(name.to_owned()))?;
        if !peer.may_use(alias.owner_uid()) {
            return Err(denied(name));
        }
        f(alias)
    }

    /// Keeps socket-activated data sockets for the aliases they are named after.
    pub fn adopt_activated(&self, sockets: HashMap<String, std::os::unix::net::UnixListener>) {
        lock(&self.activated).extend(sockets);
    }

    /// `list_connections`: the aliases this peer may see.
    pub fn list(&self, peer: &Peer) -> AliasList {
        let aliases = lock(&self.aliases);
        AliasList {
            aliases: aliases
                .iter()
                .filter(|(_, alias)| peer.may_use(alias.owner_uid()))
                .map(|(name, alias)| AliasSummary {
                    alias: name.clone(),
                    connected: alias.pool.is_some(),
                    state: alias.state,
                    address: alias.config.endpoint.target.to_string(),
                    leases: alias.leases.len(),
                })
                .collect(),
        }
    }

    /// Whether the peer may see events of `name` (an alias removed since is root's to see).
    pub fn may_see(&self, peer: &Peer, name: &str) -> bool {
        match lock(&self.aliases).get(name) {
            Some(alias) => peer.may_use(alias.owner_uid()),
            None => peer.is_privileged(),
        }
    }

    /// `get_connection_addr`.
    pub fn get(&self, peer: &Peer, name: &str) -> Result<AliasInfo> {
        self.with_alias(peer, name, |alias| Ok(alias.info()))
    }

    fn set_state(&self, name: &str, state: AliasState, cause: Option<String>) {
        if let Some(alias) = lock(&self.aliases).get_mut(name) {
            alias.transition(&self.events, state, cause);
        }
    }

    /// The registry's part of `status`, as the peer may see it (the rest is the daemon's).
    pub fn status(&self, peer: &Peer) -> StatusInfo {
        let aliases = lock(&self.aliases);
        let visible = aliases.values().filter(|a| peer.may_use(a.owner_uid()));
        let (count, connected, rewrites) = visible.fold((0, 0, 0), |(n, c, r), a| {
            (
                n + 1,
                c + usize::from(a.pool.is_some()),
                r + a.handle.authority_rewrites.load(Ordering::Relaxed),
            )
        });
        StatusInfo {
            aliases: count,
            aliases_connected: connected,
            channels_open: self.channels.open.load(Ordering::Relaxed),
            channels_opened_total: self.channels.opened_total.load(Ordering::Relaxed),
            connect_requests_total: self.counters.connect_requests.load(Ordering::Relaxed),
            authority_rewrites_total: rewrites,
            transitions_total: self.events.total(),
            ..StatusInfo::default()
        }
    }
}

impl LazyConnect for Registry {
    fn connect_idle<'a>(
        &'a self,
        alias: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<std::sync::Arc<Route>>> + Send + 'a>,
    > {
        Box::pin(self.connect_for_data_plane(alias))
    }
}

fn check_name(name: &str, params: &ConnectParams) -> Result<()> {
    validate_alias_name(name).map_err(|e| Error::param(format!("invalid alias name: {e}")))?;
    match &params.alias {
        Some(body) if body != name => Err(Error::param(format!(
            "alias '{body}' in the body differs from '{name}' in the path"
        ))),
        _ => Ok(()),
    }
}

fn denied(name: &str) -> Error {
    Error::PermissionDenied(format!("alias '{name}' belongs to another user"))
}
