//! systemd integration: readiness and status notifications, the watchdog, and socket
//! activation of the control socket. Outside systemd (no `NOTIFY_SOCKET`, no
//! `LISTEN_FDS`) every function here does nothing.

use std::collections::HashMap;
use std::os::unix::net::UnixListener;
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

/// Sockets systemd passed (socket activation).
#[derive(Debug, Default)]
pub struct Activated {
    /// `FileDescriptorName=control`, or the only socket passed.
    pub control: Option<UnixListener>,
    /// `FileDescriptorName=alias-<name>`: the data socket of alias `<name>`.
    pub aliases: HashMap<String, UnixListener>,
}

/// Takes the Unix sockets passed in `LISTEN_FDS`, by their `LISTEN_FDNAMES`.
pub fn activated_sockets() -> std::io::Result<Activated> {
    let mut fds = listenfd::ListenFd::from_env();
    let count = fds.len();
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|names| names.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut activated = Activated::default();
    for index in 0..count {
        let Some(listener) = fds.take_unix_listener(index)? else {
            continue;
        };
        let name = names.get(index).map_or("unknown", String::as_str);
        if let Some(alias) = name.strip_prefix("alias-") {
            activated.aliases.insert(alias.to_owned(), listener);
        } else if activated.control.is_none() && (name == "control" || count == 1) {
            activated.control = Some(listener);
        } else {
            tracing::warn!(
                name,
                "ignoring a socket-activated descriptor with an unknown name"
            );
        }
    }
    Ok(activated)
}
