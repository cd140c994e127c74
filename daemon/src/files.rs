//! Files a caller names (certificates, keys, secrets): the daemon usually runs with more
//! rights than its callers, so it refuses a file the caller could not read itself —
//! otherwise any local user could borrow the daemon's client key or another alias's
//! password.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::peer::Peer;

/// Checks that `path` (given as parameter `param`) is an absolute path to a regular file
/// that `peer` may read by the file's permission bits.
pub fn check_readable(param: &str, path: &Path, peer: &Peer) -> Result<()> {
    if !path.is_absolute() {
        return Err(Error::param(format!(
            "{param} must be an absolute path, got {}",
            path.display()
        )));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::param(format!("cannot read {param} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::param(format!(
            "{param} {} is not a regular file",
            path.display()
        )));
    }
    if peer.is_privileged() {
        return Ok(());
    }
    let mode = meta.mode();
    let readable = (meta.uid() == peer.uid && mode & 0o400 != 0)
        || (meta.gid() == peer.gid && mode & 0o040 != 0)
        || mode & 0o004 != 0;
    if !readable {
        return Err(Error::PermissionDenied(format!(
            "{param} {} is not readable by uid {}",
            path.display(),
            peer.uid
        )));
    }
    Ok(())
}
