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

use std::sync::{Arc, Weak};
use std::time::Duration;

use milvus_connd_protocol::ErrorCode;

use self::backoff::{Backoff, BackoffPolicy};
use crate::pool::{Pool, Slot};
use crate::upstream::Upstream;

/// Time between probes of a healthy channel.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// Time between probes once one failed: a failing channel is decided on quickly.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long a probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Consecutive failed probes after which a live channel counts as unhealthy.
pub const UNHEALTHY_AFTER: u32 = 3;

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

/// Watches one slot of `pool` until the pool is dropped.
pub async fn monitor(pool: Weak<Pool>, slot: Arc<Slot>, index: usize) {
    let mut backoff = Backoff::new(BackoffPolicy::default());
    loop {
        if let Some(member) = slot.member() {
            let failing = slot.state().1 > 0;
            let wait = if failing {
                RETRY_INTERVAL
            } else {
                jittered(PROBE_INTERVAL)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = slot.wake.notified() => {}
                () = member.upstream.closed.notified() => {}
            }
            drop(member);
            if pool.strong_count() == 0 {
                return;
            }
            let Some(outcome) = probe(&slot).await else {
                continue;
            };
            let Some(pool) = pool.upgrade() else { return };
            if outcome != ProbeOutcome::Healthy {
                tracing::warn!(slot = index, address = %pool.endpoint.target, ?outcome, "channel probe failed");
            }
            pool.record_probe(&slot, outcome);
        } else {
            let attempt = backoff.next_attempt(fastrand::f64());
            let (endpoint, counters) = {
                let Some(pool) = pool.upgrade() else { return };
                pool.set_connecting(&slot);
                (pool.endpoint.clone(), pool.counters.clone())
            };
            let opened =
                tokio::time::timeout(attempt.connect_timeout, Upstream::open(&endpoint, counters))
                    .await;
            let result = match opened {
                Ok(Ok(upstream)) => Ok(upstream),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err(format!(
                    "reconnect to {} timed out after {} s",
                    endpoint.target,
                    attempt.connect_timeout.as_secs()
                )),
            };
            let Some(pool) = pool.upgrade() else { return };
            match &result {
                Ok(_) => {
                    tracing::info!(slot = index, address = %endpoint.target, "channel reconnected");
                    backoff.reset();
                }
                Err(cause) => tracing::warn!(
                    slot = index,
                    address = %endpoint.target,
                    retry_in = ?attempt.retry_after,
                    cause,
                    "channel reconnect failed"
                ),
            }
            let failed = result.is_err();
            pool.record_reconnect(&slot, result);
            drop(pool);
            if failed {
                tokio::time::sleep(attempt.retry_after).await;
            }
        }
    }
}
