//! The operations that open channels: add (store only), connect, reconnect, and the
//! lazy connect a data-plane call makes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use milvus_connd_protocol::{
    AliasInfo, AliasState, ConnectParams, ConnectResponse, ErrorCode, PoolMode, ReconnectMode,
    paths,
};

use super::{Alias, Registry, check_name, denied, lock};
use crate::alias_config::AliasConfig;
use crate::error::{Error, Result};
use crate::leases::Lease;
use crate::peer::Peer;
use crate::pool::Pool;
use crate::proxy::Endpoints;
use crate::proxy::route::{AliasHandle, LazyConnect, Route};
use crate::upstream::tls;
use crate::{resolve, secrets};

/// What a connect needs to know of an alias before it talks to Milvus.
struct Stored {
    params: ConnectParams,
    config: AliasConfig,
    connected: bool,
}

impl Registry {
    /// Opens the alias's endpoints.
    async fn open_endpoints(
        &self,
        handle: &Arc<AliasHandle>,
        tcp: Option<SocketAddr>,
    ) -> Result<Endpoints> {
        let unix = paths::alias_socket(&self.endpoints.runtime_dir, &handle.name);
        let activated = lock(&self.activated).remove(&handle.name);
        Endpoints::open(
            unix,
            activated,
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
    pub(super) async fn store(
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
        let config = resolve::resolve(&secrets::fill(&params, peer)?)?;
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
        let info = self.store(peer, name, params, config, None).await?;
        self.persist().await;
        Ok(info)
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
        let config = resolve::resolve(&secrets::fill(&merged, peer)?)?;
        if let Some(tls) = &config.endpoint.tls {
            tls::check_access(tls, peer)?;
        }
        let lease = peer.pid.and_then(|pid| Lease::new(pid, peer.uid));
        let lease_id = lease.as_ref().map(|l| l.id.clone());
        if let Some(stored) = &stored
            && stored.connected
        {
            // The same parameters are the same connection even when a secret file has
            // changed since (that takes a reconnect).
            if merged != stored.params && !stored.config.same_connection(&config) {
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
        self.persist().await;
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
    pub async fn connect_for_data_plane(&self, name: &str) -> Result<Arc<Route>> {
        self.connect(&Peer::internal(), name, ConnectParams::default())
            .await?;
        let aliases = lock(&self.aliases);
        aliases
            .get(name)
            .and_then(|alias| alias.handle.route())
            .ok_or_else(|| Error::AliasNotFound(name.to_owned()))
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
    pub(super) async fn open_pool(&self, config: &AliasConfig, fresh: bool) -> Result<Arc<Pool>> {
        let key = (config.endpoint.clone(), config.pool_settings());
        let shared = config.pool == PoolMode::Shared;
        let existing = (shared && !fresh)
            .then(|| lock(&self.shared).get(&key).and_then(Weak::upgrade))
            .flatten();
        let pool = match existing {
            Some(pool) => pool,
            None => {
                let pool = Pool::open(
                    &config.endpoint,
                    config.pool_settings(),
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
        let params = self.with_alias(peer, name, |alias| Ok(alias.params.clone()))?;
        // Resolved again so that certificate and secret files are read again.
        let config = resolve::resolve(&secrets::fill(&params, peer)?)?;
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
}

pub(super) fn timeout_error(config: &AliasConfig) -> Error {
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
