//! Counting a process's TCP connections, from /proc (no `ss` needed on the machine).

use std::collections::HashSet;

/// Socket inodes open in process `pid`.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let text = target.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Established TCP connections of process `pid` to `remote_port` on loopback.
pub fn established_to(pid: u32, remote_port: u16) -> usize {
    let inodes = socket_inodes(pid);
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) =
                (fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode: Option<u64> = inode.parse().ok();
            if port == Some(remote_port)
                && *state == "01"
                && inode.is_some_and(|i| inodes.contains(&i))
            {
                count += 1;
            }
        }
    }
    count
}
