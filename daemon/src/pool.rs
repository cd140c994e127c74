//! A pool: `pool_size` channels to one endpoint, each its own HTTP/2 connection with its
//! own handshake, each watched by a health monitor (see [`crate::health`]).
//!
//! Calls go to the usable channel with the fewest calls in flight. A channel the monitor
//! finds dead is dropped and replaced in the background with backoff, while the others
//! keep serving; with none left the pool reports `transient_failure` and calls fail at
//! once instead of hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use milvus_connd_protocol::{AliasState, ServerInfo};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::alias_config::{EndpointConfig, PoolSettings};
use crate::defaults;
use crate::error::{Error, Result};
use crate::health::{self, ProbeOutcome};
use crate::upstream::{Calls, ChannelCounters, Connection, Upstream};

/// What the pool as a whole is, for the aliases using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolHealth {
    pub state: AliasState,
    pub cause: Option<String>,
}

/// The state of one channel slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    Ready,
    /// Probes failed but not (yet) often enough to give the channel up.
    Suspect(String),
    /// Milvus answers but says it is unhealthy.
    ServerUnhealthy(String),
    Connecting,
    /// No channel; the monitor reconnects with backoff.
    Down(String),
}

#[derive(Debug)]
pub struct Member {
    pub upstream: Upstream,
    in_flight: AtomicUsize,
}

/// One channel slot, shared with its monitor task.
#[derive(Debug)]
pub struct Slot {
    member: ArcSwapOption<Member>,
    state: Mutex<(SlotState, u32)>,
    /// Woken when the proxy sees a transport error on this slot's channel.
    pub wake: Notify,
}

impl Slot {
    fn new(member: Option<Member>) -> Self {
        let state = if member.is_some() {
            SlotState::Ready
        } else {
            SlotState::Connecting
        };
        Self {
            member: ArcSwapOption::new(member.map(Arc::new)),
            state: Mutex::new((state, 0)),
            wake: Notify::new(),
        }
    }

    pub fn member(&self) -> Option<Arc<Member>> {
        self.member.load_full()
    }

    fn set_member(&self, member: Option<Arc<Member>>) {
        self.member.store(member);
    }

    pub fn state(&self) -> (SlotState, u32) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, state: SlotState, failures: u32) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (state, failures);
    }
}

#[derive(Debug)]
pub struct Pool {
    slots: Vec<Arc<Slot>>,
    /// The `authorization` value every proxied call gets.
    pub authorization: Option<http::HeaderValue>,
    pub endpoint: EndpointConfig,
    pub counters: Arc<ChannelCounters>,
    /// Size, lifetime and backoff of the pool's channels.
    pub settings: PoolSettings,
    health: watch::Sender<PoolHealth>,
    /// HTTP/2 ping interval for new connections; doubled when Milvus says too_many_pings.
    keepalive: Mutex<Duration>,
    /// When an alias using the pool last had a lease or a call (probes are rarer after).
    last_held: Mutex<Instant>,
    /// Health probes that failed, for `/metrics`.
    pub probe_failures: std::sync::atomic::AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The monitors hold the slots, not the pool: let go of the channels now and wake
        // the monitors so they see the pool is gone.
        for slot in &self.slots {
            slot.set_member(None);
            slot.wake.notify_one();
        }
    }
}

/// A slot's state after a probe, given the failures before it. A probe that shows the
/// connection is gone gives the channel up (`keep` is false) so it is replaced; failures
/// on a live connection (timeouts, errors) make it suspect, and from the third in a row
/// on it counts as unhealthy, but it keeps serving: Milvus answers slowly while it
/// recovers, and dropping its channels then would only fail calls that would succeed.
pub fn after_probe(failures: u32, outcome: ProbeOutcome) -> (SlotState, u32, bool) {
    match outcome {
        ProbeOutcome::Healthy => (SlotState::Ready, 0, true),
        ProbeOutcome::Unhealthy(reasons) => (SlotState::ServerUnhealthy(reasons), 0, true),
        ProbeOutcome::Failed {
            cause,
            connection_lost: true,
        } => (SlotState::Down(cause), failures + 1, false),
        ProbeOutcome::Failed {
            cause,
            connection_lost: false,
        } => {
            let failures = failures + 1;
            if failures >= defaults::UNHEALTHY_AFTER {
                (
                    SlotState::ServerUnhealthy(format!(
                        "{failures} health probes failed in a row: {cause}"
                    )),
                    failures,
                    true,
                )
            } else {
                (SlotState::Suspect(cause), failures, true)
            }
        }
    }
}

/// Counts a call against its channel until dropped.
#[derive(Debug)]
pub struct InFlight {
    member: Arc<Member>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.member.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The channel a call goes to.
#[derive(Debug)]
pub struct Picked {
    pub connection: Connection,
    pub slot: usize,
    pub in_flight: InFlight,
}

impl Pool {
    /// Opens `size` channels at once (failing, and closing what was opened, if any fails)
    /// and starts their monitors.
    pub async fn open(
        endpoint: &EndpointConfig,
        settings: PoolSettings,
        counters: Arc<ChannelCounters>,
    ) -> Result<Arc<Self>> {
        let size = settings.size;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..size {
            let endpoint = endpoint.clone();
            let counters = counters.clone();
            tasks.spawn(async move {
                Upstream::open(&endpoint, defaults::KEEPALIVE_INTERVAL, counters).await
            });
        }
        let mut slots = Vec::with_capacity(size as usize);
        while let Some(joined) = tasks.join_next().await {
            let upstream =
                joined.map_err(|e| Error::Internal(format!("channel task failed: {e}")))??;
            slots.push(Arc::new(Slot::new(Some(Member {
                upstream,
                in_flight: AtomicUsize::new(0),
            }))));
        }
        let authorization = endpoint.credentials.authorization_header();
        let (health, _) = watch::channel(PoolHealth {
            state: AliasState::Ready,
            cause: None,
        });
        let pool = Arc::new(Self {
            slots,
            authorization,
            endpoint: endpoint.clone(),
            counters,
            settings,
            health,
            keepalive: Mutex::new(defaults::KEEPALIVE_INTERVAL),
            last_held: Mutex::new(Instant::now()),
            probe_failures: Default::default(),
        });
        for (index, slot) in pool.slots.iter().enumerate() {
            tokio::spawn(health::monitor(Arc::downgrade(&pool), slot.clone(), index));
        }
        Ok(pool)
    }

    /// The least-loaded usable channel, or why there is none.
    pub fn pick(&self) -> Result<Picked, String> {
        let mut best: Option<(usize, Arc<Member>)> = None;
        for (index, slot) in self.slots.iter().enumerate() {
            let Some(member) = slot.member() else {
                continue;
            };
            let load = member.in_flight.load(Ordering::Relaxed);
            if best
                .as_ref()
                .is_none_or(|(_, b)| load < b.in_flight.load(Ordering::Relaxed))
            {
                best = Some((index, member));
            }
        }
        let Some((slot, member)) = best else {
            let cause = self.health.borrow().cause.clone();
            return Err(cause.unwrap_or_else(|| "no channel to Milvus is open".into()));
        };
        member.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Picked {
            connection: member.upstream.connection.clone(),
            slot,
            in_flight: InFlight { member },
        })
    }

    /// A transport error on `slot`'s channel: have its monitor probe now.
    pub fn report_failure(&self, slot: usize) {
        if let Some(slot) = self.slots.get(slot) {
            slot.wake.notify_one();
        }
    }

    /// Applies a probe's outcome to a slot.
    pub fn record_probe(&self, slot: &Slot, outcome: ProbeOutcome) {
        if matches!(outcome, ProbeOutcome::Failed { .. }) {
            self.probe_failures.fetch_add(1, Ordering::Relaxed);
        }
        let (state, failures, keep) = after_probe(slot.state().1, outcome);
        if !keep {
            slot.set_member(None);
        }
        slot.set_state(state, failures);
        self.recompute();
    }

    /// The ping interval for new connections.
    pub fn keepalive(&self) -> Duration {
        *self.keepalive.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milvus refused our pings as too many: halve their rate (at most every 5 minutes).
    pub fn slow_down_pings(&self) {
        let mut keepalive = self.keepalive.lock().unwrap_or_else(|p| p.into_inner());
        *keepalive = (*keepalive * 2).min(Duration::from_secs(300));
        tracing::warn!(
            address = %self.endpoint.target,
            interval = ?*keepalive,
            "Milvus sent GOAWAY too_many_pings; pinging less often"
        );
    }

    /// Notes that an alias using the pool has a lease or calls right now.
    pub fn mark_held(&self) {
        *self.last_held.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Whether an alias held the pool within the last sweep or two.
    pub fn recently_held(&self) -> bool {
        let last = *self.last_held.lock().unwrap_or_else(|p| p.into_inner());
        last.elapsed() < Duration::from_secs(5)
    }

    /// Installs a rotated channel in place of the old one, whose calls finish on it.
    pub fn replace_member(&self, slot: &Slot, upstream: Upstream) {
        slot.set_member(Some(Arc::new(Member {
            upstream,
            in_flight: AtomicUsize::new(0),
        })));
    }

    /// A slot's reconnect result, from its monitor.
    pub fn record_reconnect(&self, slot: &Slot, result: Result<Upstream, String>) {
        match result {
            Ok(upstream) => {
                slot.set_member(Some(Arc::new(Member {
                    upstream,
                    in_flight: AtomicUsize::new(0),
                })));
                slot.set_state(SlotState::Ready, 0);
            }
            Err(cause) => slot.set_state(SlotState::Down(cause), 0),
        }
        self.recompute();
    }

    pub fn set_connecting(&self, slot: &Slot) {
        let (state, failures) = slot.state();
        if matches!(state, SlotState::Down(_)) {
            // Keep the cause visible while reconnecting: it says why the slot is down.
            return;
        }
        slot.set_state(SlotState::Connecting, failures);
        self.recompute();
    }

    fn recompute(&self) {
        let states: Vec<SlotState> = self.slots.iter().map(|s| s.state().0).collect();
        let usable = self.slots.iter().filter(|s| s.member().is_some()).count();
        let cause = states.iter().find_map(|s| match s {
            SlotState::Suspect(c) | SlotState::ServerUnhealthy(c) | SlotState::Down(c) => {
                Some(c.clone())
            }
            SlotState::Ready | SlotState::Connecting => None,
        });
        let state = if usable == 0 {
            AliasState::TransientFailure
        } else if states.iter().all(|s| *s == SlotState::Ready) {
            AliasState::Ready
        } else {
            AliasState::Degraded
        };
        let health = PoolHealth {
            state,
            cause: if state == AliasState::Ready {
                None
            } else {
                cause
            },
        };
        self.health.send_if_modified(|current| {
            let changed = *current != health;
            *current = health;
            changed
        });
    }

    /// The pool's health, now and as it changes.
    pub fn health(&self) -> watch::Receiver<PoolHealth> {
        self.health.subscribe()
    }

    /// Channels open right now.
    pub fn ready_channels(&self) -> usize {
        self.slots.iter().filter(|s| s.member().is_some()).count()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// What a channel's handshake learnt about the server.
    pub fn server(&self) -> ServerInfo {
        self.slots
            .iter()
            .find_map(|s| s.member().map(|m| m.upstream.server.clone()))
            .unwrap_or_default()
    }

    /// The Connect identifiers of the open channels.
    pub fn identifiers(&self) -> Vec<i64> {
        self.slots
            .iter()
            .filter_map(|s| s.member().map(|m| m.upstream.server.identifier))
            .collect()
    }

    /// Authenticated calls on an open channel, for the daemon's own requests.
    pub fn calls(&self) -> Option<Calls> {
        self.slots
            .iter()
            .find_map(|s| s.member().map(|m| m.upstream.calls()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(connection_lost: bool) -> ProbeOutcome {
        ProbeOutcome::Failed {
            cause: "x".into(),
            connection_lost,
        }
    }

    #[test]
    fn a_lost_connection_drops_the_channel_and_failing_probes_make_it_unhealthy() {
        let (state, failures, keep) = after_probe(0, failed(false));
        assert_eq!(
            (state, failures, keep),
            (SlotState::Suspect("x".into()), 1, true)
        );
        let (_, failures, keep) = after_probe(failures, failed(false));
        assert!(keep);
        let (state, failures, keep) = after_probe(failures, failed(false));
        assert!(matches!(state, SlotState::ServerUnhealthy(_)), "{state:?}");
        assert_eq!(
            (failures, keep),
            (3, true),
            "unhealthy after three, but kept"
        );
        let (state, _, keep) = after_probe(0, failed(true));
        assert_eq!(
            (state, keep),
            (SlotState::Down("x".into()), false),
            "a lost connection is final at once"
        );
        assert_eq!(
            after_probe(5, ProbeOutcome::Healthy),
            (SlotState::Ready, 0, true),
            "one success heals"
        );
        let (state, _, keep) = after_probe(0, ProbeOutcome::Unhealthy("quota".into()));
        assert_eq!(state, SlotState::ServerUnhealthy("quota".into()));
        assert!(keep, "an unhealthy Milvus still answers; its channel stays");
    }
}
