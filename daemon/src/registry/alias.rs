//! One alias's record in the registry, and the rule for when an idle one closes.

use std::collections::VecDeque;
use std::sync::Arc;

use milvus_connd_protocol::{AliasInfo, AliasState, ConnectParams, Event};
use tokio::time::Instant;

use crate::alias_config::AliasConfig;
use crate::events::Events;
use crate::leases::Lease;
use crate::pool::Pool;
use crate::proxy::Endpoints;
use crate::proxy::route::AliasHandle;

/// One configured alias.
#[derive(Debug)]
pub(super) struct Alias {
    /// The parameters as merged by the last successful add or connect.
    pub(super) params: ConnectParams,
    pub(super) config: AliasConfig,
    pub(super) state: AliasState,
    /// Why the alias is in its state, when that is not `ready`.
    pub(super) cause: Option<String>,
    pub(super) history: VecDeque<Event>,
    pub(super) handle: Arc<AliasHandle>,
    pub(super) pool: Option<Arc<Pool>>,
    pub(super) leases: Vec<Lease>,
    pub(super) endpoints: Endpoints,
}

impl Alias {
    pub(super) fn owner_uid(&self) -> u32 {
        self.handle.owner_uid
    }

    pub(super) fn info(&self) -> AliasInfo {
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
    pub(super) fn transition(&mut self, events: &Events, to: AliasState, cause: Option<String>) {
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
    pub(super) fn close(&mut self, events: &Events, cause: &str) {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resolve;

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
