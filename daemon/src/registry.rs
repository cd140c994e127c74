//! The registry: every alias, its configuration, its owner and its live channel.
//!
//! Operations on one alias are serialised by a per-alias async lock (a connect may wait
//! seconds for Milvus and must not block other aliases); the maps themselves sit behind
//! short synchronous locks that are never held across an `.await`. A failed operation
//! leaves the alias exactly as it was.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use milvus_connd_protocol::{
    AliasInfo, AliasList, AliasState, AliasSummary, ConnectParams, ConnectResponse, ErrorCode,
    PoolMode, validate_alias_name,
};
use tokio::sync::OwnedMutexGuard;

use crate::alias_config::{AliasConfig, EndpointConfig};
use crate::error::{Error, Result};
use crate::peer::Peer;
use crate::resolve;
use crate::upstream::{ChannelCounters, Upstream, tls};

/// One configured alias.
#[derive(Debug)]
struct Alias {
    owner_uid: u32,
    /// The parameters as merged by the last successful add or connect.
    params: ConnectParams,
    config: AliasConfig,
    state: AliasState,
    upstream: Option<Arc<Upstream>>,
}

impl Alias {
    fn info(&self, name: &str) -> AliasInfo {
        let mut info = self.config.info(name, self.owner_uid, self.state);
        info.server = self.upstream.as_ref().map(|up| up.server.clone());
        info
    }
}

/// What a connect needs to know of an alias before it talks to Milvus.
struct Stored {
    owner_uid: u32,
    params: ConnectParams,
    config: AliasConfig,
    /// The alias's details when it is connected.
    live: Option<AliasInfo>,
}

#[derive(Debug, Default)]
struct Counters {
    connect_requests: AtomicU64,
}

/// Counts shown by `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    pub aliases: usize,
    pub aliases_connected: usize,
    pub channels_open: u64,
    pub channels_opened_total: u64,
    pub connect_requests_total: u64,
}

#[derive(Debug)]
pub struct Registry {
    aliases: Mutex<BTreeMap<String, Alias>>,
    /// Per-alias operation locks; an entry lives while someone holds or waits for it.
    op_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Channels that aliases with `pool = "shared"` and equal endpoints share.
    shared: Mutex<HashMap<EndpointConfig, Weak<Upstream>>>,
    channels: Arc<ChannelCounters>,
    counters: Counters,
    /// `MILVUS_URI` of the daemon's environment or `.env`.
    env_uri: Option<String>,
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
    // A panic while holding one of these short locks leaves consistent data behind (every
    // critical section is a single map operation), so poisoning is not a reason to stop.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    pub fn new(env_uri: Option<String>) -> Self {
        Self {
            aliases: Mutex::default(),
            op_locks: Mutex::default(),
            shared: Mutex::default(),
            channels: Arc::default(),
            counters: Counters::default(),
            env_uri,
        }
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

    /// Looks up an alias the peer may use, mapping absence and foreign ownership to the
    /// API's errors. Another user's alias is reported as denied, not as absent, so that a
    /// name collision is not mistaken for a free name.
    fn with_alias<T>(&self, peer: &Peer, name: &str, f: impl FnOnce(&mut Alias) -> T) -> Result<T> {
        let mut aliases = lock(&self.aliases);
        let alias = aliases
            .get_mut(name)
            .ok_or_else(|| Error::AliasNotFound(name.to_owned()))?;
        if !peer.may_use(alias.owner_uid) {
            return Err(denied(name));
        }
        Ok(f(alias))
    }

    /// `list_connections`: the aliases this peer may see.
    pub fn list(&self, peer: &Peer) -> AliasList {
        let aliases = lock(&self.aliases);
        AliasList {
            aliases: aliases
                .iter()
                .filter(|(_, alias)| peer.may_use(alias.owner_uid))
                .map(|(name, alias)| AliasSummary {
                    alias: name.clone(),
                    connected: alias.upstream.is_some(),
                    state: alias.state,
                    address: alias.config.endpoint.target.to_string(),
                })
                .collect(),
        }
    }

    /// `get_connection_addr`.
    pub fn get(&self, peer: &Peer, name: &str) -> Result<AliasInfo> {
        self.with_alias(peer, name, |alias| alias.info(name))
    }

    /// `add_connection`: stores the configuration and connects nothing.
    pub async fn add(&self, peer: &Peer, name: &str, params: ConnectParams) -> Result<AliasInfo> {
        check_name(name, &params)?;
        let _op = self.lock_alias(name).await;
        let config = resolve::resolve(&params)?;
        if let Some(tls) = &config.endpoint.tls {
            tls::check_access(tls, peer)?;
        }
        let mut aliases = lock(&self.aliases);
        match aliases.get_mut(name) {
            Some(alias) if !peer.may_use(alias.owner_uid) => Err(denied(name)),
            Some(alias) if alias.upstream.is_some() && !alias.config.same_connection(&config) => {
                Err(Error::ConnDiffConf(name.to_owned()))
            }
            Some(alias) => {
                alias.params = params;
                alias.config = config;
                Ok(alias.info(name))
            }
            None => {
                let alias = Alias {
                    owner_uid: peer.uid,
                    params,
                    config,
                    state: AliasState::Idle,
                    upstream: None,
                };
                let info = alias.info(name);
                aliases.insert(name.to_owned(), alias);
                Ok(info)
            }
        }
    }

    /// `connect`: waits up to the alias's timeout for a ready channel.
    pub async fn connect(
        &self,
        peer: &Peer,
        name: &str,
        params: ConnectParams,
    ) -> Result<ConnectResponse> {
        check_name(name, &params)?;
        self.counters
            .connect_requests
            .fetch_add(1, Ordering::Relaxed);
        let _op = self.lock_alias(name).await;

        let stored = {
            let aliases = lock(&self.aliases);
            match aliases.get(name) {
                Some(alias) if !peer.may_use(alias.owner_uid) => return Err(denied(name)),
                Some(alias) => Some(Stored {
                    owner_uid: alias.owner_uid,
                    params: alias.params.clone(),
                    live: alias.upstream.as_ref().map(|_| alias.info(name)),
                    config: alias.config.clone(),
                }),
                None => None,
            }
        };
        let merged = resolve::merge(
            name,
            stored.as_ref().map(|s| &s.params),
            &params,
            self.env_uri.as_deref(),
        )?;
        let config = resolve::resolve(&merged)?;
        if let Some(tls) = &config.endpoint.tls {
            tls::check_access(tls, peer)?;
        }
        if let Some(Stored {
            live: Some(info),
            config: current,
            ..
        }) = &stored
        {
            if !current.same_connection(&config) {
                return Err(Error::ConnDiffConf(name.to_owned()));
            }
            return Ok(ConnectResponse {
                alias: info.clone(),
                reused: true,
            });
        }

        self.set_state(name, AliasState::Connecting);
        let opened = tokio::time::timeout(config.timeout, self.open(&config)).await;
        let upstream = match opened {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(err)) => {
                self.set_state(name, AliasState::Idle);
                tracing::warn!(alias = name, error = %err, cause = err.cause_chain(), "connect failed");
                return Err(err);
            }
            Err(_elapsed) => {
                self.set_state(name, AliasState::Idle);
                let err = timeout_error(&config);
                tracing::warn!(alias = name, error = %err, "connect failed");
                return Err(err);
            }
        };
        tracing::info!(
            alias = name,
            address = %config.endpoint.target,
            version = upstream.server.version,
            identifier = upstream.server.identifier,
            "alias connected"
        );
        let owner_uid = stored.map_or(peer.uid, |s| s.owner_uid);
        let alias = Alias {
            owner_uid,
            params: merged,
            config,
            state: AliasState::Ready,
            upstream: Some(upstream),
        };
        let info = alias.info(name);
        lock(&self.aliases).insert(name.to_owned(), alias);
        Ok(ConnectResponse {
            alias: info,
            reused: false,
        })
    }

    fn set_state(&self, name: &str, state: AliasState) {
        if let Some(alias) = lock(&self.aliases).get_mut(name) {
            alias.state = state;
        }
    }

    /// A ready channel for `config`: a shared one when allowed and available, else new.
    async fn open(&self, config: &AliasConfig) -> Result<Arc<Upstream>> {
        let shared = config.pool == PoolMode::Shared;
        let existing = shared
            .then(|| {
                lock(&self.shared)
                    .get(&config.endpoint)
                    .and_then(Weak::upgrade)
            })
            .flatten();
        let upstream = match existing {
            Some(upstream) => upstream,
            None => {
                let upstream =
                    Arc::new(Upstream::open(&config.endpoint, self.channels.clone()).await?);
                if shared {
                    let mut table = lock(&self.shared);
                    table.retain(|_, weak| weak.strong_count() > 0);
                    table.insert(config.endpoint.clone(), Arc::downgrade(&upstream));
                }
                upstream
            }
        };
        upstream.calls().check_database(&config.db_name).await?;
        Ok(upstream)
    }

    /// `disconnect`: closes the alias's channel and keeps its configuration.
    pub async fn disconnect(&self, peer: &Peer, name: &str) -> Result<AliasInfo> {
        let _op = self.lock_alias(name).await;
        let (info, upstream) = self.with_alias(peer, name, |alias| {
            alias.state = AliasState::Idle;
            (alias.info(name), alias.upstream.take())
        })?;
        if upstream.is_some() {
            tracing::info!(alias = name, "alias disconnected");
        }
        Ok(info)
    }

    /// `remove_connection`: disconnect and forget.
    pub async fn remove(&self, peer: &Peer, name: &str) -> Result<()> {
        let _op = self.lock_alias(name).await;
        self.with_alias(peer, name, |_| ())?;
        lock(&self.aliases).remove(name);
        tracing::info!(alias = name, "alias removed");
        Ok(())
    }

    pub fn stats(&self, peer: &Peer) -> RegistryStats {
        let aliases = lock(&self.aliases);
        let visible = aliases.values().filter(|a| peer.may_use(a.owner_uid));
        let (count, connected) = visible.fold((0, 0), |(n, c), a| {
            (n + 1, c + usize::from(a.upstream.is_some()))
        });
        RegistryStats {
            aliases: count,
            aliases_connected: connected,
            channels_open: self.channels.open.load(Ordering::Relaxed),
            channels_opened_total: self.channels.opened_total.load(Ordering::Relaxed),
            connect_requests_total: self.counters.connect_requests.load(Ordering::Relaxed),
        }
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

fn timeout_error(config: &AliasConfig) -> Error {
    let target = &config.endpoint.target;
    let hint = if config.endpoint.tls.is_none() {
        "; a TLS-only server looks like this to a client without secure=true"
    } else {
        ""
    };
    Error::upstream(
        ErrorCode::Timeout,
        format!(
            "no ready channel to Milvus at {target} within {:.1} s{hint}",
            config.timeout.as_secs_f64()
        ),
        None,
    )
}
