//! Who is calling: the peer credentials of a Unix-socket connection (SO_PEERCRED).
//!
//! Read once per accepted connection; every access decision is made from them.

/// The process on the other end of a control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    /// Whether this uid may see and change every alias (root or the daemon's own uid).
    privileged: bool,
}

impl Peer {
    pub fn new(uid: u32, gid: u32, pid: Option<i32>, daemon_uid: u32) -> Self {
        Self {
            uid,
            gid,
            pid,
            privileged: uid == 0 || uid == daemon_uid,
        }
    }

    /// The daemon acting for itself (lazy connects, metrics): sees everything.
    pub fn internal() -> Self {
        Self {
            uid: 0,
            gid: 0,
            pid: None,
            privileged: true,
        }
    }

    pub fn is_privileged(&self) -> bool {
        self.privileged
    }

    /// Whether this peer may see and use an alias owned by `owner_uid`.
    pub fn may_use(&self, owner_uid: u32) -> bool {
        self.privileged || self.uid == owner_uid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_privileged_peers_may_use_an_alias() {
        let daemon_uid = 999;
        let owner = Peer::new(1000, 1000, None, daemon_uid);
        let other = Peer::new(1001, 1001, None, daemon_uid);
        assert!(owner.may_use(1000));
        assert!(!other.may_use(1000));
        assert!(Peer::new(0, 0, None, daemon_uid).may_use(1000));
        assert!(Peer::new(daemon_uid, 0, None, daemon_uid).may_use(1000));
    }
}
