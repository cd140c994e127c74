//! Leases: a process's claim on an alias, bound to its pid (read with SO_PEERCRED).
//!
//! A lease keeps an alias's channels open past its idle timeout. Processes often die
//! without releasing, so leases whose process is gone are reaped; the process start time
//! is kept with the pid so that a recycled pid does not keep a dead lease alive.

use milvus_connd_protocol::LeaseHolder;

/// One lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub pid: i32,
    pub uid: u32,
    /// Start time of the process (clock ticks since boot), when readable.
    start_time: Option<u64>,
}

impl Lease {
    /// A new lease for `pid`; `None` if no random id can be made.
    pub fn new(pid: i32, uid: u32) -> Option<Self> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).ok()?;
        let id = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Some(Self {
            id,
            pid,
            uid,
            start_time: process_start_time(pid),
        })
    }

    /// Whether the process that took the lease still runs.
    pub fn holder_alive(&self) -> bool {
        match (process_start_time(self.pid), self.start_time) {
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    pub fn holder(&self) -> LeaseHolder {
        LeaseHolder {
            pid: self.pid,
            uid: self.uid,
        }
    }
}

/// Field 22 of `/proc/<pid>/stat`; `None` when the process does not exist.
fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_dead_one_is_not() {
        let me = Lease::new(std::process::id() as i32, 0).expect("lease");
        assert_eq!(me.id.len(), 32);
        assert!(me.holder_alive());
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        let gone = Lease::new(pid, 0).expect("lease");
        assert!(!gone.holder_alive());
    }

    #[test]
    fn a_recycled_pid_does_not_revive_a_lease() {
        let mut lease = Lease::new(std::process::id() as i32, 0).expect("lease");
        lease.start_time = lease.start_time.map(|t| t + 1);
        assert!(!lease.holder_alive());
    }
}
