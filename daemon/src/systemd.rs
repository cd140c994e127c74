//! systemd integration: readiness and status notifications, the watchdog, and socket
//! activation of the control socket. Outside systemd (no `NOTIFY_SOCKET`, no
//! `LISTEN_FDS`) every function here does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn notify(states: &[NotifyState<'_>]) {
    // Failing to reach systemd is not a reason to stop serving; it is logged once per call.
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "sd_notify failed");
    }
}

/// READY=1 with a first status line.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// RELOADING=1 with the monotonic time systemd wants alongside it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// READY=1 again, after a reload.
pub fn reloaded(status: &str) {
    ready(status);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Pings the watchdog at half of `WatchdogSec` from a task on the main runtime, so a
/// wedged runtime stops the pings and systemd restarts the daemon.
pub fn spawn_watchdog() {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (timeout / 2).max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}

/// The control socket systemd passed (socket activation), if any.
pub fn activated_control_socket() -> std::io::Result<Option<std::os::unix::net::UnixListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    fds.take_unix_listener(0)
}
