//! Shutdown phases and the signals that move between them (DESIGN.md §9): the first
//! SIGTERM or SIGINT drains (stop accepting, let in-flight calls finish within
//! `shutdown_grace`), a second one ends the drain at once, and SIGQUIT skips it.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Stop accepting; in-flight calls may finish.
    Draining,
    /// Stop now.
    Now,
}

/// Moves `phases` along as signals arrive, until it reaches [`Phase::Now`].
pub async fn follow_signals(phases: std::sync::Arc<watch::Sender<Phase>>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    loop {
        let (name, immediate) = tokio::select! {
            _ = term.recv() => ("SIGTERM", false),
            _ = int.recv() => ("SIGINT", false),
            _ = quit.recv() => ("SIGQUIT", true),
        };
        let next = match (*phases.borrow(), immediate) {
            (Phase::Running, false) => Phase::Draining,
            _ => Phase::Now,
        };
        match next {
            Phase::Draining => {
                tracing::info!(signal = name, "draining: in-flight calls may finish")
            }
            _ => tracing::info!(signal = name, "stopping now"),
        }
        phases.send_replace(next);
        if next == Phase::Now {
            return Ok(());
        }
    }
}

/// Waits until the phase is at least `phase` (or nobody can move it any more).
pub async fn reached(phases: &mut watch::Receiver<Phase>, phase: Phase) {
    let _ = phases.wait_for(|current| *current >= phase).await;
}
