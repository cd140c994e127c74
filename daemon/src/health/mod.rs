//! Health: what keeps each channel honest.
//!
//! Every channel of a pool has a monitor task. While the channel is open it probes it
//! (`CheckHealth`, falling back to `grpc.health.v1` Check, then `GetVersion`) every 10 s
//! with jitter, at once when its connection closes or the proxy saw a transport error on
//! it, and every second while probes fail. A probe that finds the connection gone drops
//! the channel, and the monitor reconnects it with [`backoff`]; three failures in a row on
//! a live connection mark it unhealthy (`degraded`). The pool turns its slots' states into
//! the alias state the registry records.

pub mod backoff;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use milvus_connd_protocol::ErrorCode;
use tokio::time::Instant;

use self::backoff::{Backoff, BackoffPolicy};
use crate::defaults::{IDLE_PROBE_INTERVAL, PROBE_INTERVAL, PROBE_TIMEOUT, RETRY_INTERVAL};
use crate::pool::{Pool, Slot};
use crate::upstream::Upstream;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Healthy,
    /// Milvus answered and said it is not healthy, with its reasons.
    Unhealthy(String),
    Failed {
        cause: String,
        /// The connection itself is gone (refused, closed, TLS): no point in asking again.
        connection_lost: bool,
    },
}

/// `interval` ±10 %, so that channels opened together do not probe together.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * fastrand::f64())
}

async fn probe(slot: &Slot) -> Option<ProbeOutcome> {
    let member = slot.member()?;
    let mut calls = member.upstream.calls();
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, calls.probe()).await {
        Ok(Ok(None)) => ProbeOutcome::Healthy,
        Ok(Ok(Some(reasons))) => ProbeOutcome::Unhealthy(reasons),
        Ok(Err(err)) => ProbeOutcome::Failed {
            connection_lost: matches!(err.code(), ErrorCode::Unavailable | ErrorCode::TlsError),
            cause: err.to_string(),
        },
        Err(_) => ProbeOutcome::Failed {
            cause: format!(
                "health probe got no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            connection_lost: false,
        },
    };
    Some(outcome)
}

/// `lifetime` ±10 %, so that channels opened together are not replaced together.
fn rotation_deadline(lifetime: Option<Duration>) -> Option<Instant> {
    lifetime.map(|lifetime| Instant::now() + jittered(lifetime))
}

/// What woke a monitor that watches an open channel.
enum Wake {
    Probe,
    Rotate,
}

/// Watches one slot of a pool until the pool is dropped: probes its channel, replaces it
/// when it dies (with backoff) and, with `max_lifetime`, when it has lived long enough.
pub async fn monitor(weak: Weak<Pool>, slot: Arc<Slot>, index: usize) {
    let Some(settings) = weak.upgrade().map(|p| p.settings) else {
        return;
    };
    let mut backoff = Backoff::new(settings.backoff());
    let lifetime = settings.max_lifetime;
    let mut rotate_at = rotation_deadline(lifetime);
    loop {
        let Some(member) = slot.member() else {
            if !reconnect(&weak, &slot, index, &mut backoff).await {
                return;
            }
            rotate_at = rotation_deadline(lifetime);
            continue;
        };
        let Some(held) = weak.upgrade().map(|p| p.recently_held()) else {
            return;
        };
        let wait = match (slot.state().1 > 0, held) {
            (true, _) => RETRY_INTERVAL,
            (false, true) => jittered(PROBE_INTERVAL),
            (false, false) => jittered(IDLE_PROBE_INTERVAL),
        };
        let rotation = async {
            match rotate_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            () = tokio::time::sleep(wait) => Wake::Probe,
            () = slot.wake.notified() => Wake::Probe,
            () = member.upstream.signals.closed.notified() => Wake::Probe,
            () = rotation => Wake::Rotate,
        };
        if member
            .upstream
            .signals
            .too_many_pings
            .swap(false, Ordering::Relaxed)
            && let Some(pool) = weak.upgrade()
        {
            pool.slow_down_pings();
        }
        drop(member);
        match wake {
            Wake::Rotate => {
                let Some(rotated) = rotate(&weak, &slot, index).await else {
                    return;
                };
                rotate_at = if rotated {
                    rotation_deadline(lifetime)
                } else {
                    // The old channel keeps serving; try again a little later.
                    Some(Instant::now() + 10 * RETRY_INTERVAL)
                };
            }
            Wake::Probe => {
                if weak.strong_count() == 0 {
                    return;
                }
                let Some(outcome) = probe(&slot).await else {
                    continue;
                };
                let Some(pool) = weak.upgrade() else { return };
                if outcome != ProbeOutcome::Healthy {
                    tracing::warn!(slot = index, address = %pool.endpoint.target, ?outcome, "channel probe failed");
                }
                pool.record_probe(&slot, outcome);
            }
        }
    }
}

/// Opens a channel like the pool's others (without holding the pool meanwhile, so a
/// disconnect is not kept waiting), bounded by the spec's minimum connect timeout.
async fn open_like(weak: &Weak<Pool>, timeout: Duration) -> Option<Result<Upstream, String>> {
    let (endpoint, keepalive, counters) = {
        let pool = weak.upgrade()?;
        (
            pool.endpoint.clone(),
            pool.keepalive(),
            pool.counters.clone(),
        )
    };
    let opened =
        tokio::time::timeout(timeout, Upstream::open(&endpoint, keepalive, counters)).await;
    Some(match opened {
        Ok(Ok(upstream)) => Ok(upstream),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "connecting to {} timed out after {} s",
            endpoint.target,
            timeout.as_secs()
        )),
    })
}

/// Replaces the slot's channel with a new one; the old one's calls finish on it. `None`
/// when the pool is gone.
async fn rotate(weak: &Weak<Pool>, slot: &Slot, index: usize) -> Option<bool> {
    let result = open_like(weak, BackoffPolicy::default().min_connect_timeout).await?;
    let pool = weak.upgrade()?;
    Some(match result {
        Ok(upstream) => {
            tracing::info!(slot = index, address = %pool.endpoint.target, "channel rotated (max_lifetime)");
            pool.replace_member(slot, upstream);
            true
        }
        Err(cause) => {
            tracing::warn!(
                slot = index,
                cause,
                "channel rotation failed; the old channel stays"
            );
            false
        }
    })
}

/// One reconnect attempt of a slot without a channel, then the backoff wait if it failed.
/// False when the pool is gone.
async fn reconnect(weak: &Weak<Pool>, slot: &Slot, index: usize, backoff: &mut Backoff) -> bool {
    let attempt = backoff.next_attempt(fastrand::f64());
    match weak.upgrade() {
        Some(pool) => pool.set_connecting(slot),
        None => return false,
    }
    let Some(result) = open_like(weak, attempt.connect_timeout).await else {
        return false;
    };
    let Some(pool) = weak.upgrade() else {
        return false;
    };
    match &result {
        Ok(_) => {
            tracing::info!(slot = index, address = %pool.endpoint.target, "channel reconnected");
            backoff.reset();
        }
        Err(cause) => tracing::warn!(
            slot = index,
            address = %pool.endpoint.target,
            retry_in = ?attempt.retry_after,
            cause,
            "channel reconnect failed"
        ),
    }
    let failed = result.is_err();
    pool.record_reconnect(slot, result);
    drop(pool);
    if failed {
        tokio::time::sleep(attempt.retry_after).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lifetimes_and_probe_intervals_are_jittered_within_ten_percent() {
        let lifetime = Duration::from_secs(100);
        for _ in 0..200 {
            let now = Instant::now();
            let at = rotation_deadline(Some(lifetime)).expect("a deadline");
            let after = at.duration_since(now);
            assert!(
                after >= Duration::from_secs(90) && after <= Duration::from_secs(110),
                "{after:?}"
            );
            let wait = jittered(PROBE_INTERVAL);
            assert!(
                wait >= Duration::from_secs(9) && wait <= Duration::from_secs(11),
                "{wait:?}"
            );
        }
        assert_eq!(rotation_deadline(None), None, "no lifetime, no rotation");
        // The clock is paused: a rotation deadline is reached only when time advances.
        let at = rotation_deadline(Some(lifetime)).expect("a deadline");
        tokio::time::advance(Duration::from_secs(111)).await;
        assert!(Instant::now() >= at);
    }
}
