//! The operations that close channels or reap leases: disconnect, release, remove, and
//! the periodic sweep that reaps dead holders and closes idle aliases.

use std::sync::Arc;
use std::time::Duration;

use milvus_connd_protocol::AliasInfo;
use tokio::time::Instant;

use super::{Registry, idle_expired, lock};
use crate::error::{Error, Result};
use crate::peer::Peer;

impl Registry {
    /// Draining: every alias stops accepting data connections.
    pub fn stop_endpoints(&self) {
        for alias in lock(&self.aliases).values_mut() {
            alias.endpoints.stop();
        }
    }

    /// Returns once no call is in flight on any alias.
    pub async fn wait_idle(&self) {
        loop {
            let busy: usize = lock(&self.aliases)
                .values()
                .map(|a| a.handle.in_flight())
                .sum();
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Per-alias figures for `/metrics`.
    pub fn metrics(&self) -> Vec<crate::admin::AliasMetrics> {
        use std::sync::atomic::Ordering::Relaxed;
        lock(&self.aliases)
            .iter()
            .map(|(name, alias)| crate::admin::AliasMetrics {
                alias: name.clone(),
                state: alias.state,
                channels_ready: alias.pool.as_ref().map_or(0, |p| p.ready_channels()),
                leases: alias.leases.len(),
                calls_total: alias.handle.calls_total.load(Relaxed),
                in_flight: alias.handle.in_flight(),
                authority_rewrites_total: alias.handle.authority_rewrites.load(Relaxed),
                probe_failures_total: alias
                    .pool
                    .as_ref()
                    .map_or(0, |p| p.probe_failures.load(Relaxed)),
                calls: alias.handle.stats.snapshot(),
            })
            .collect()
    }

    /// `ready/total aliases ready, N calls/s` for systemd's STATUS= line.
    pub fn summary_line(&self) -> String {
        let aliases = lock(&self.aliases);
        let ready = aliases.values().filter(|a| a.pool.is_some()).count();
        format!("{ready}/{} aliases ready", aliases.len())
    }

    fn calls_total(&self) -> u64 {
        lock(&self.aliases)
            .values()
            .map(|a| {
                a.handle
                    .calls_total
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Refreshes systemd's STATUS= every `interval` with aliases ready and the call rate.
    pub fn spawn_status_reporter(self: &Arc<Self>, interval: Duration) {
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            let mut last = (Instant::now(), 0u64);
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else {
                    break;
                };
                let (now, calls) = (Instant::now(), registry.calls_total());
                let rate = calls.saturating_sub(last.1) as f64
                    / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, calls);
                crate::systemd::status(&format!("{}, {rate:.0} calls/s", registry.summary_line()));
            }
        });
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
        self.persist().await;
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
}
