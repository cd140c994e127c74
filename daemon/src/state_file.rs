//! Persisted state: aliases added through the API survive a restart.
//!
//! The file holds each alias's owner and parameters, secrets included, so it is written
//! with mode 0600, atomically (a temporary file in the same directory, fsync, rename,
//! fsync of the directory): a crash leaves the old file or the new one, never half of one.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use milvus_connd_protocol::ConnectParams;
use serde::{Deserialize, Serialize};

/// One persisted alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedAlias {
    pub alias: String,
    pub owner_uid: u32,
    pub params: ConnectParams,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    aliases: Vec<PersistedAlias>,
}

const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The aliases in `path`; none if the file does not exist yet.
pub fn load(path: &Path) -> Result<Vec<PersistedAlias>, StateError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let state: StateFile = serde_json::from_slice(&text).map_err(|source| StateError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(state.aliases)
}

/// Replaces `path` with `aliases`, atomically and durably.
pub fn save(path: &Path, aliases: Vec<PersistedAlias>) -> Result<(), StateError> {
    let wrap = |source| StateError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let temp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let body = serde_json::to_vec_pretty(&StateFile {
        version: VERSION,
        aliases,
    })
    .map_err(|e| wrap(std::io::Error::other(e)))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(wrap)?;
    file.write_all(&body).map_err(wrap)?;
    file.sync_all().map_err(wrap)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(wrap)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(wrap)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use milvus_connd_protocol::Secret;

    use super::*;

    #[test]
    fn round_trips_with_mode_0600_and_no_temp_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/state.json");
        assert!(load(&path).expect("missing is empty").is_empty());
        let alias = PersistedAlias {
            alias: "a".into(),
            owner_uid: 1000,
            params: ConnectParams {
                uri: Some("http://h:1".into()),
                password: Some(Secret::new("pw")),
                user: Some("u".into()),
                ..Default::default()
            },
        };
        save(&path, vec![alias.clone()]).expect("save");
        assert_eq!(load(&path).expect("load"), vec![alias]);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        std::fs::write(&path, b"{ not json").expect("corrupt");
        assert!(matches!(load(&path), Err(StateError::Parse { .. })));
    }
}
