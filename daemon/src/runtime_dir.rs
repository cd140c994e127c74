//! The runtime directory and the control socket, with the modes of DESIGN.md §8:
//! directory 0750, sockets 0660, both owned by the socket group so that its members (and
//! only they, besides root and the daemon) can reach the daemon.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use milvus_connd_protocol::paths;
use tokio::net::UnixListener;

use crate::defaults;

/// Why the daemon could not set up its sockets.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot prepare runtime directory {path}")]
    Directory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another milvus-connd is already serving {path}")]
    AlreadyRunning { path: PathBuf },
    #[error("cannot listen on {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// After a failed `accept` (EMFILE and friends): log it and wait a little, so the accept
/// loop does not spin while the condition lasts.
pub async fn accept_failed(socket: &str, err: &io::Error) {
    tracing::warn!(socket, error = %err, "accept failed");
    tokio::time::sleep(defaults::ACCEPT_RETRY).await;
}

/// Creates the runtime directory (and its aliases directory) with mode 0750.
pub fn prepare(dir: &Path, group: Option<u32>) -> Result<(), SetupError> {
    let wrap = |source| SetupError::Directory {
        path: dir.to_owned(),
        source,
    };
    for path in [dir.to_owned(), dir.join(paths::ALIAS_SOCKET_DIR)] {
        std::fs::create_dir_all(&path).map_err(wrap)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).map_err(wrap)?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&path, None, Some(gid)).map_err(wrap)?;
        }
    }
    Ok(())
}

/// Binds a Unix socket at `path` with mode 0660, owned by `owner` and `group` where given.
/// A stale socket file left by a daemon that died is replaced; a live one means another
/// daemon owns it.
pub async fn bind(
    path: &Path,
    owner: Option<u32>,
    group: Option<u32>,
) -> Result<UnixListener, SetupError> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(SetupError::AlreadyRunning {
                path: path.to_owned(),
            });
        }
        std::fs::remove_file(path).map_err(|source| SetupError::Bind {
            path: path.to_owned(),
            source,
        })?;
    }
    let wrap = |source| SetupError::Bind {
        path: path.to_owned(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(wrap)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(wrap)?;
    if owner.is_some() || group.is_some() {
        std::os::unix::fs::chown(path, owner, group).map_err(wrap)?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn modes_and_stale_sockets() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("rt");
        prepare(&dir, None).expect("prepare");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
        let sock = dir.join("control.sock");
        let listener = bind(&sock, None, None).await.expect("bind");
        let mode = std::fs::metadata(&sock).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(
            bind(&sock, None, None).await,
            Err(SetupError::AlreadyRunning { .. })
        ));
        drop(listener);
        // The file is left behind by a dead daemon: it is replaced.
        bind(&sock, None, None)
            .await
            .expect("rebind over a stale socket");
    }
}
