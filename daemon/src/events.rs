//! Alias state changes: recorded per alias (the last 100), logged one line each, counted,
//! and broadcast to `GET /v1/events` readers.
//!
//! The broadcast channel is bounded: a reader that falls behind loses the oldest events
//! (and is told how many) instead of making the daemon wait or grow.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use milvus_connd_protocol::{AliasState, Event};
use tokio::sync::broadcast;

use crate::defaults::{HISTORY, STREAM_BUFFER};

#[derive(Debug)]
pub struct Events {
    sender: broadcast::Sender<Event>,
    total: AtomicU64,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(STREAM_BUFFER).0,
            total: AtomicU64::new(0),
        }
    }
}

impl Events {
    /// Records a change of `alias` from `from` to `to` into `history` and tells everyone.
    pub fn record(
        &self,
        history: &mut VecDeque<Event>,
        alias: &str,
        from: AliasState,
        to: AliasState,
        cause: Option<String>,
    ) {
        let event = Event {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            alias: alias.to_owned(),
            from,
            to,
            cause,
        };
        tracing::info!(
            alias,
            from = from.as_str(),
            to = to.as_str(),
            cause = event.cause.as_deref().unwrap_or(""),
            "alias state changed"
        );
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        self.total.fetch_add(1, Ordering::Relaxed);
        // No readers is fine: the event is in the history.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_a_slow_reader_loses_the_oldest() {
        let events = Events::default();
        let mut reader = events.subscribe();
        let mut history = VecDeque::new();
        for i in 0..(STREAM_BUFFER + 10) {
            let (from, to) = if i % 2 == 0 {
                (AliasState::Ready, AliasState::Degraded)
            } else {
                (AliasState::Degraded, AliasState::Ready)
            };
            events.record(&mut history, "a", from, to, None);
        }
        assert_eq!(history.len(), HISTORY);
        assert_eq!(events.total(), (STREAM_BUFFER + 10) as u64);
        match reader.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(missed)) => assert_eq!(missed, 10),
            other => panic!("expected a lag marker, got {other:?}"),
        }
        assert!(
            reader.try_recv().is_ok(),
            "the newest events are still there"
        );
    }
}
