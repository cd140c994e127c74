//! The registry: every alias, its configuration, owner, pool, endpoints and leases.
//!
//! Operations on one alias are serialised by a per-alias async lock (a connect may wait
//! seconds for Milvus and must not block other aliases); the alias map sits behind a short
//! synchronous lock that is never held across an `.await`. A failed operation leaves the
//! alias exactly as it was. The data plane never touches this map: it reads the route that
//! the registry publishes in each alias's [`AliasHandle`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use milvus_connd_protocol::{
    AliasInfo, AliasList, AliasState, AliasSummary, ConnectParams, ConnectResponse, ErrorCode,
    Event, PoolMode, ReconnectMode, paths, validate_alias_name,
};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use crate::alias_config::{AliasConfig, EndpointConfig};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::leases::Lease;
use crate::peer::Peer;
use crate::pool::Pool;
use crate::proxy::Endpoints;
use crate::proxy::route::{AliasHandle, LazyConnect, Route};
use crate::resolve;
use crate::upstream::{ChannelCounters, tls};

/// One configured alias.
#[derive(Debug)]
struct Alias {
    /// The parameters as merged by the last successful add or connect.
    params: ConnectParams,
    config: AliasConfig,
    state: AliasState,
    /// Why the alias is in its state, when that is not `ready`.
    cause: Option<String>,
    history: VecDeque<Event>,
    handle: Arc<AliasHandle>,
    pool: Option<Arc<Pool>>,
    leases: Vec<Lease>,
    endpoints: Endpoints,
}

impl Alias {
    fn owner_uid(&self) -> u32 {
        self.handle.owner_uid
    }

    fn info(&self) -> AliasInfo {
        let mut info = self
            .config
            .info(&self.handle.name, self.owner_uid(), self.state);
        if let Some(pool) = &self.pool {
            info.server = Some(pool.server());
            info.channels_ready = pool.len();
        }
        info.endpoints.unix = self.endpoints.unix.display().to_string();
        info.endpoints.tcp = self.endpoints.tcp.map(|a| a.to_string());
        info.leases = self.leases.iter().map(Lease::holder).collect();
        info.cause = self.cause.clone();
        info.transitions = self.history.iter().cloned().collect();
        info
    }

    /// Moves to `to`, recording the change when there is one.
    fn transition(&mut self, events: &Events, to: AliasState, cause: Option<String>) {
        if self.state == to {
            // Not a transition: only the reason is newer.
            self.cause = cause;
            return;
        }
        let from = std::mem::replace(&mut self.state, to);
        self.cause = cause.clone();
        events.record(&mut self.history, &self.handle.name, from, to, cause);
    }

    /// Closes the channels; the configuration, endpoints and handle stay.
    fn close(&mut self, events: &Events, cause: &str) {
        self.handle.set_route(None);
        self.pool = None;
        self.leases.clear();
        self.transition(events, AliasState::Idle, Some(cause.to_owned()));
    }
}

/// Whether an open alias has been idle long enough to close its channels.
pub fn idle_expired(
    config: &AliasConfig,
    leases: usize,
    handle: &AliasHandle,
    now: Instant,
) -> bool {
    !config.keep_warm
        && leases == 0
        && handle.in_flight() == 0
        && now.saturating_duration_since(handle.last_active()) >= config.idle_timeout
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
    pub authority_rewrites_total: u64,
    pub transitions_total: u64,
}

/// Where and how alias endpoints are created.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub runtime_dir: PathBuf,
    pub socket_group: Option<u32>,
}

type PoolKey = (EndpointConfig, u32, Option<Duration>);

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
    daemon_uid: u32,
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

/// What a connect needs to know of an alias before it talks to Milvus.
struct Stored {
    params: ConnectParams,
    config: AliasConfig,
    connected: bool,
}

impl Registry {
    pub fn new(env_uri: Option<String>, endpoints: EndpointSettings) -> Arc<Self> {
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
            daemon_uid: nix::unistd::geteuid().as_raw(),
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

    /// Opens the alias's endpoints.
    async fn open_endpoints(
        &self,
        handle: &Arc<AliasHandle>,
        tcp: Option<SocketAddr>,
    ) -> Result<Endpoints> {
        let unix = paths::alias_socket(&self.endpoints.runtime_dir, &handle.name);
        Endpoints::open(
            unix,
            tcp,
            self.endpoints.socket_group,
            handle.clone(),
            self.me.clone() as Weak<dyn LazyConnect>,
        )
        .await
        .map_err(|e| {
            let code = e.to_string();
            Error::upstream(
                ErrorCode::Internal,
                format!("cannot open the alias's endpoints: {code}"),
                Some(Box::new(e) as _),
            )
        })
    }

    /// Stores a new alias or updates an existing one, opening endpoints as needed, and
    /// publishes `pool` (when given) as the alias's route.
    async fn store(
        &self,
        peer: &Peer,
        name: &str,
        params: ConnectParams,
        config: AliasConfig,
        pool: Option<Arc<Pool>>,
    ) -> Result<AliasInfo> {
        // Endpoints stay unless the TCP address changes (possible only while disconnected,
        // since a connected alias refuses a different configuration).
        let (handle, reopen, carried) = {
            let mut aliases = lock(&self.aliases);
            match aliases
                .get(name)
                .map(|a| a.config.listen_tcp == config.listen_tcp)
            {
                Some(true) => (aliases[name].handle.clone(), false, None),
                Some(false) => {
                    let old = aliases
                        .remove(name)
                        .ok_or_else(|| Error::Internal("alias vanished".into()))?;
                    let carried = (
                        old.leases.clone(),
                        old.history.clone(),
                        old.state,
                        old.cause.clone(),
                    );
                    (old.handle.clone(), true, Some(carried))
                }
                None => (Arc::new(AliasHandle::new(name, peer.uid)), true, None),
            }
        };
        let endpoints = match reopen {
            true => Some(self.open_endpoints(&handle, config.listen_tcp).await?),
            false => None,
        };
        let mut aliases = lock(&self.aliases);
        if let Some(endpoints) = endpoints {
            let (leases, history, state, cause) =
                carried.unwrap_or((Vec::new(), VecDeque::new(), AliasState::Idle, None));
            let alias = Alias {
                params: params.clone(),
                config: config.clone(),
                state,
                cause,
                history,
                handle,
                pool: None,
                leases,
                endpoints,
            };
            aliases.insert(name.to_owned(), alias);
        }
        let alias = aliases
            .get_mut(name)
            .ok_or_else(|| Error::Internal(format!("alias '{name}' vanished while locked")))?;
        if let Some(pool) = pool {
            let dbname = http::HeaderValue::try_from(config.db_name.as_str()).map_err(|_| {
                Error::param(format!(
                    "db_name '{}' cannot be sent as a header",
                    config.db_name
                ))
            })?;
            alias.handle.set_route(Some(Route {
                pool: pool.clone(),
                dbname,
                allow_client_db: config.allow_client_db,
            }));
            let health = pool.health().borrow().clone();
            alias.transition(&self.events, health.state, health.cause);
            self.follow(name, &pool);
            alias.pool = Some(pool);
        }
        alias.params = params;
        alias.config = config;
        Ok(alias.info())
    }

    /// Records the pool's health changes as the alias's state, for as long as the alias
    /// uses this pool.
    fn follow(&self, name: &str, pool: &Arc<Pool>) {
        let mut health = pool.health();
        let watched = Arc::downgrade(pool);
        let registry = self.me.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            while health.changed().await.is_ok() {
                let now = health.borrow_and_update().clone();
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                let mut aliases = lock(&registry.aliases);
                let Some(alias) = aliases.get_mut(&name) else {
                    return;
                };
                let current = alias.pool.as_ref().map(Arc::downgrade);
                if current.is_none_or(|p| !p.ptr_eq(&watched)) {
                    return;
                }
                alias.transition(&registry.events, now.state, now.cause);
            }
        });
    }

    /// `add_connection`: stores the configuration and connects nothing.
    pub async fn add(&self, peer: &Peer, name: &str, params: ConnectParams) -> Result<AliasInfo> {
        check_name(name, &params)?;
        let _op = self.lock_alias(name).await;
        let config = resolve::resolve(&params)?;
        if let Some(tls) = &config.endpoint.tls {
            tls::check_access(tls, peer)?;
        }
        if let Some(alias) = lock(&self.aliases).get(name) {
            if !peer.may_use(alias.owner_uid()) {
                return Err(denied(name));
            }
            if alias.pool.is_some() && !alias.config.same_connection(&config) {
                return Err(Error::ConnDiffConf(name.to_owned()));
            }
        }
        self.store(peer, name, params, config, None).await
    }

    /// `connect`: waits up to the alias's timeout for a ready pool; gives the caller a
    /// lease when its pid is known.
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
                Some(alias) if !peer.may_use(alias.owner_uid()) => return Err(denied(name)),
                Some(alias) => Some(Stored {
                    params: alias.params.clone(),
                    config: alias.config.clone(),
                    connected: alias.pool.is_some(),
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
        let lease = peer.pid.and_then(|pid| Lease::new(pid, peer.uid));
        let lease_id = lease.as_ref().map(|l| l.id.clone());
        if let Some(stored) = &stored
            && stored.connected
        {
            if !stored.config.same_connection(&config) {
                return Err(Error::ConnDiffConf(name.to_owned()));
            }
            self.wait_for_recovery(peer, name, &config).await?;
            let info = self.with_alias(peer, name, |alias| {
                // Only the settings that do not change the connection can differ here.
                alias.config.timeout = config.timeout;
                alias.config.keep_warm = config.keep_warm;
                alias.config.idle_timeout = config.idle_timeout;
                alias.leases.extend(lease);
                alias.handle.touch();
                Ok(alias.info())
            })?;
            return Ok(ConnectResponse {
                alias: info,
                reused: true,
                lease: lease_id,
            });
        }

        self.set_state(name, AliasState::Connecting, None);
        let pool = match tokio::time::timeout(config.timeout, self.open_pool(&config, false)).await
        {
            Ok(Ok(pool)) => pool,
            Ok(Err(err)) => return Err(self.failed(name, err)),
            Err(_elapsed) => return Err(self.failed(name, timeout_error(&config))),
        };
        let server = pool.server();
        tracing::info!(
            alias = name,
            address = %config.endpoint.target,
            version = server.version,
            channels = pool.len(),
            identifiers = ?pool.identifiers(),
            "alias connected"
        );
        let mut info = match self.store(peer, name, merged, config, Some(pool)).await {
            Ok(info) => info,
            Err(err) => return Err(self.failed(name, err)),
        };
        if let Some(lease) = lease {
            info = self.with_alias(peer, name, |alias| {
                alias.leases.push(lease);
                Ok(alias.info())
            })?;
        }
        Ok(ConnectResponse {
            alias: info,
            reused: false,
            lease: lease_id,
        })
    }

    fn failed(&self, name: &str, err: Error) -> Error {
        self.set_state(name, AliasState::Idle, Some(err.to_string()));
        tracing::warn!(alias = name, error = %err, cause = err.cause_chain(), "connect failed");
        err
    }

    /// Connects an idle alias on behalf of its data plane (a call arrived on its socket),
    /// with its stored configuration and without a lease.
    pub async fn connect_for_data_plane(&self, name: &str) -> Result<Route> {
        let daemon = Peer::new(self.daemon_uid, 0, None, self.daemon_uid);
        self.connect(&daemon, name, ConnectParams::default())
            .await?;
        let aliases = lock(&self.aliases);
        aliases
            .get(name)
            .and_then(|alias| alias.handle.route())
            .ok_or_else(|| Error::AliasNotFound(name.to_owned()))
    }

    fn set_state(&self, name: &str, state: AliasState, cause: Option<String>) {
        if let Some(alias) = lock(&self.aliases).get_mut(name) {
            alias.transition(&self.events, state, cause);
        }
    }

    /// While the alias's pool has no usable channel, waits up to the connect timeout for
    /// one; then fails with the cause.
    async fn wait_for_recovery(&self, peer: &Peer, name: &str, config: &AliasConfig) -> Result<()> {
        let Some(mut health) = self.with_alias(peer, name, |alias| {
            Ok(alias.pool.as_ref().map(|p| p.health()))
        })?
        else {
            return Ok(());
        };
        let recovered = tokio::time::timeout(
            config.timeout,
            health.wait_for(|h| h.state != AliasState::TransientFailure),
        )
        .await
        .is_ok_and(|seen| seen.is_ok());
        match recovered {
            true => Ok(()),
            false => {
                let cause = health.borrow().cause.clone().unwrap_or_default();
                Err(Error::upstream(
                    ErrorCode::Unavailable,
                    format!(
                        "alias '{name}' has no channel to Milvus at {} (still retrying after {:.1} s): {cause}",
                        config.endpoint.target,
                        config.timeout.as_secs_f64()
                    ),
                    None,
                ))
            }
        }
    }

    /// A ready pool for `config`: a shared one when allowed and available (unless `fresh`),
    /// else new.
    async fn open_pool(&self, config: &AliasConfig, fresh: bool) -> Result<Arc<Pool>> {
        let key = (
            config.endpoint.clone(),
            config.pool_size,
            config.max_lifetime,
        );
        let shared = config.pool == PoolMode::Shared;
        let existing = (shared && !fresh)
            .then(|| lock(&self.shared).get(&key).and_then(Weak::upgrade))
            .flatten();
        let pool = match existing {
            Some(pool) => pool,
            None => {
                let pool = Pool::open(
                    &config.endpoint,
                    config.pool_size,
                    config.max_lifetime,
                    self.channels.clone(),
                )
                .await?;
                if shared {
                    let mut table = lock(&self.shared);
                    table.retain(|_, weak| weak.strong_count() > 0);
                    table.insert(key, Arc::downgrade(&pool));
                }
                pool
            }
        };
        if let Some(mut calls) = pool.calls() {
            calls.check_database(&config.db_name).await?;
        }
        Ok(pool)
    }

    /// `disconnect`: closes the channels and keeps the configuration. Refused while other
    /// processes hold leases, unless `force`.
    pub async fn disconnect(&self, peer: &Peer, name: &str, force: bool) -> Result<AliasInfo> {
        let _op = self.lock_alias(name).await;
        self.with_alias(peer, name, |alias| {
            // Leases of processes that died but are not reaped yet do not count.
            let others: Vec<i32> = alias
                .leases
                .iter()
                .filter(|l| Some(l.pid) != peer.pid && l.holder_alive())
                .map(|l| l.pid)
                .collect();
            if !others.is_empty() && !force {
                return Err(Error::param(format!(
                    "alias '{name}' is leased by {} other process(es) (pids {others:?}); disconnect with force to close it anyway",
                    others.len()
                )));
            }
            alias.close(&self.events, if force { "disconnected (forced)" } else { "disconnected" });
            Ok(alias.info())
        })
    }

    /// `reconnect`: new channels (certificate files are read again). `gradual` opens them
    /// before the old ones stop taking calls, whose in-flight calls finish; `immediate`
    /// closes the old ones first.
    pub async fn reconnect(
        &self,
        peer: &Peer,
        name: &str,
        mode: ReconnectMode,
    ) -> Result<AliasInfo> {
        let _op = self.lock_alias(name).await;
        let (params, config) = self.with_alias(peer, name, |alias| {
            Ok((alias.params.clone(), alias.config.clone()))
        })?;
        if let Some(tls) = &config.endpoint.tls {
            tls::check_access(tls, peer)?;
        }
        if mode == ReconnectMode::Immediate {
            self.with_alias(peer, name, |alias| {
                alias.handle.set_route(None);
                alias.pool = None;
                alias.transition(
                    &self.events,
                    AliasState::Connecting,
                    Some("reconnect (immediate)".into()),
                );
                Ok(())
            })?;
        }
        let pool = match tokio::time::timeout(config.timeout, self.open_pool(&config, true)).await {
            Ok(Ok(pool)) => pool,
            Ok(Err(err)) => return Err(self.reconnect_failed(name, mode, err)),
            Err(_elapsed) => return Err(self.reconnect_failed(name, mode, timeout_error(&config))),
        };
        tracing::info!(alias = name, ?mode, identifiers = ?pool.identifiers(), "alias reconnected");
        self.store(peer, name, params, config, Some(pool)).await
    }

    fn reconnect_failed(&self, name: &str, mode: ReconnectMode, err: Error) -> Error {
        // A failed gradual reconnect leaves the old channels serving.
        if mode == ReconnectMode::Immediate {
            self.set_state(name, AliasState::Idle, Some(err.to_string()));
        }
        tracing::warn!(alias = name, ?mode, error = %err, "reconnect failed");
        err
    }

    /// `release`: drops one lease.
    pub async fn release(&self, peer: &Peer, name: &str, lease_id: &str) -> Result<AliasInfo> {
        self.with_alias(peer, name, |alias| {
            let index = alias
                .leases
                .iter()
                .position(|l| l.id == lease_id)
                .ok_or_else(|| Error::LeaseNotFound(name.to_owned()))?;
            if alias.leases[index].uid != peer.uid && !peer.is_privileged() {
                return Err(Error::PermissionDenied(format!(
                    "the lease on '{name}' belongs to another user"
                )));
            }
            alias.leases.remove(index);
            alias.handle.touch();
            Ok(alias.info())
        })
    }

    /// `remove_connection`: disconnect and forget, endpoints included.
    pub async fn remove(&self, peer: &Peer, name: &str) -> Result<()> {
        let _op = self.lock_alias(name).await;
        self.with_alias(peer, name, |alias| {
            alias.close(&self.events, "removed");
            Ok(())
        })?;
        let removed = lock(&self.aliases).remove(name);
        drop(removed);
        tracing::info!(alias = name, "alias removed");
        Ok(())
    }

    /// Reaps leases of dead processes and closes aliases idle past their timeout.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut aliases = lock(&self.aliases);
        let events = &self.events;
        for (name, alias) in aliases.iter_mut() {
            alias.leases.retain(|lease| {
                let alive = lease.holder_alive();
                if !alive {
                    tracing::info!(
                        alias = name,
                        pid = lease.pid,
                        "lease of a process that is gone reaped"
                    );
                }
                alive
            });
            if let Some(pool) = &alias.pool
                && (!alias.leases.is_empty() || alias.handle.in_flight() > 0)
            {
                pool.mark_held();
            }
            if alias.pool.is_some()
                && idle_expired(&alias.config, alias.leases.len(), &alias.handle, now)
            {
                let cause = format!(
                    "no lease and no call for {:.0} s (idle_timeout)",
                    alias.config.idle_timeout.as_secs_f64()
                );
                alias.close(events, &cause);
            }
        }
    }

    /// Runs [`Registry::sweep`] every `interval` until the registry is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, interval: Duration) {
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match registry.upgrade() {
                    Some(registry) => registry.sweep(),
                    None => break,
                }
            }
        });
    }

    pub fn stats(&self, peer: &Peer) -> RegistryStats {
        let aliases = lock(&self.aliases);
        let visible = aliases.values().filter(|a| peer.may_use(a.owner_uid()));
        let (count, connected, rewrites) = visible.fold((0, 0, 0), |(n, c, r), a| {
            (
                n + 1,
                c + usize::from(a.pool.is_some()),
                r + a.handle.authority_rewrites.load(Ordering::Relaxed),
            )
        });
        RegistryStats {
            aliases: count,
            aliases_connected: connected,
            channels_open: self.channels.open.load(Ordering::Relaxed),
            channels_opened_total: self.channels.opened_total.load(Ordering::Relaxed),
            connect_requests_total: self.counters.connect_requests.load(Ordering::Relaxed),
            authority_rewrites_total: rewrites,
            transitions_total: self.events.total(),
        }
    }
}

impl LazyConnect for Registry {
    fn connect_idle<'a>(
        &'a self,
        alias: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Route>> + Send + 'a>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> AliasConfig {
        resolve::resolve(&serde_json::from_str(json).expect("params")).expect("config")
    }

    #[tokio::test(start_paused = true)]
    async fn idle_aliases_expire_after_their_timeout_only_when_unheld_and_quiet() {
        let handle = Arc::new(AliasHandle::new("a", 0));
        let cfg = config(r#"{"idle_timeout": 2}"#);
        assert!(!idle_expired(&cfg, 0, &handle, Instant::now()));
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(!idle_expired(&cfg, 0, &handle, Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(idle_expired(&cfg, 0, &handle, Instant::now()));
        // A lease, a call in flight or keep_warm keeps it open.
        assert!(!idle_expired(&cfg, 1, &handle, Instant::now()));
        let call = handle.begin();
        assert!(!idle_expired(&cfg, 0, &handle, Instant::now()));
        drop(call);
        // The finished call counts as activity: the timeout starts again.
        assert!(!idle_expired(&cfg, 0, &handle, Instant::now()));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(idle_expired(&cfg, 0, &handle, Instant::now()));
        assert!(!idle_expired(
            &config(r#"{"idle_timeout": 2, "keep_warm": true}"#),
            0,
            &handle,
            Instant::now()
        ));
    }
}
