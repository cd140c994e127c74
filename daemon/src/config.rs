//! The config file (TOML, `--config`, default `/etc/milvus-connd/config.toml`): a
//! `[daemon]` table with the daemon's settings and `[aliases.NAME]` tables with the
//! connection parameters of DESIGN.md §4 (plus `password_file` / `token_file`).
//!
//! Unknown keys and bad values are errors that name the key and the line (toml's own
//! messages), and `check` validates every alias as `connect` would, without connecting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use milvus_connd_protocol::{ConnectParams, validate_alias_name};
use serde::Deserialize;

use crate::peer::Peer;
use crate::{resolve, secrets};

/// Default place of the config file.
pub const DEFAULT_PATH: &str = "/etc/milvus-connd/config.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub aliases: BTreeMap<String, ConnectParams>,
}

/// The `[daemon]` table; each key is also a command-line option, which wins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    pub runtime_dir: Option<PathBuf>,
    pub socket_group: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub shutdown_grace: Option<Duration>,
    pub admin_listen: Option<SocketAddr>,
    pub state_file: Option<PathBuf>,
    /// Parameters every `[aliases.*]` table starts from (its own keys win).
    #[serde(default)]
    pub alias_defaults: ConnectParams,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: [aliases.{alias}]: {message}")]
    Alias {
        path: PathBuf,
        alias: String,
        message: String,
    },
}

/// Reads and parses `path`.
/// Reads and parses `path`; each alias comes with `[daemon.alias_defaults]` applied.
pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut config: ConfigFile = toml::from_str(&text).map_err(|source| ConfigError::Syntax {
        path: path.to_owned(),
        source,
    })?;
    let defaults = &config.daemon.alias_defaults;
    config.aliases = config
        .aliases
        .iter()
        .map(|(name, params)| (name.clone(), resolve::with_defaults(params, defaults)))
        .collect();
    Ok(config)
}

/// Loads `path` and checks every alias as a connect would (names, addresses, TLS and
/// secret files), connecting nothing.
pub fn check(path: &Path) -> Result<ConfigFile, ConfigError> {
    let config = load(path)?;
    for (alias, params) in &config.aliases {
        let fail = |message: String| ConfigError::Alias {
            path: path.to_owned(),
            alias: alias.clone(),
            message,
        };
        validate_alias_name(alias).map_err(|e| fail(e.to_string()))?;
        let filled = secrets::fill(params, &Peer::internal()).map_err(|e| fail(e.to_string()))?;
        let resolved = resolve::resolve(&filled).map_err(|e| fail(e.to_string()))?;
        if let Some(tls) = &resolved.endpoint.tls {
            crate::upstream::tls::check_access(tls, &Peer::internal())
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn the_shipped_example_parses() {
        let example: ConfigFile = toml::from_str(include_str!("../../systemd/config.toml.example"))
            .expect("example parses");
        assert_eq!(example.daemon.shutdown_grace, Some(Duration::from_secs(30)));
        assert!(example.aliases.contains_key("default"));
    }

    #[test]
    fn alias_defaults_apply_under_each_alias() {
        let (_dir, path) = write(
            "[daemon.alias_defaults]\npool_size = 3\nkeep_warm = true\n\n[aliases.a]\nuri = \"http://h\"\n\n[aliases.b]\nuri = \"http://h\"\npool_size = 1\n",
        );
        let config = check(&path).expect("valid");
        assert_eq!(
            (config.aliases["a"].pool_size, config.aliases["a"].keep_warm),
            (Some(3), Some(true))
        );
        assert_eq!(
            config.aliases["b"].pool_size,
            Some(1),
            "the alias's own key wins"
        );
    }

    #[test]
    fn a_good_file_loads_with_durations_and_aliases() {
        let (_dir, path) = write(
            "[daemon]\nshutdown_grace = \"2s 500ms\"\nadmin_listen = \"127.0.0.1:9464\"\n\n[aliases.prod]\nuri = \"http://milvus:19530\"\ntoken = \"root:Milvus\"\npool_size = 4\n",
        );
        let config = check(&path).expect("valid");
        assert_eq!(
            config.daemon.shutdown_grace,
            Some(Duration::from_millis(2500))
        );
        assert_eq!(config.aliases["prod"].pool_size, Some(4));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let (_dir, path) = write("[aliases.prod]\nuri = \"http://h\"\npasword = \"x\"\n");
        let err = check(&path).expect_err("unknown key").to_string();
        assert!(err.contains("pasword") && err.contains("line 3"), "{err}");
        let (_dir, path) = write("[daemon]\nshutdown_grace = \"soon\"\n");
        let err = check(&path).expect_err("bad duration").to_string();
        assert!(
            err.contains("shutdown_grace") || err.contains("line 2"),
            "{err}"
        );
        let (_dir, path) = write("[aliases.\"bad/name\"]\nuri = \"http://h\"\n");
        assert!(
            check(&path)
                .expect_err("bad name")
                .to_string()
                .contains("bad/name")
        );
        let (_dir, path) = write("[aliases.prod]\naddress = \"nohostport\"\n");
        let err = check(&path).expect_err("bad address").to_string();
        assert!(
            err.contains("[aliases.prod]") && err.contains("Illegal address"),
            "{err}"
        );
        let (_dir, path) =
            write("[aliases.prod]\nuri = \"http://h\"\ntoken_file = \"/nonexistent/token\"\n");
        assert!(
            check(&path)
                .expect_err("missing secret file")
                .to_string()
                .contains("token_file")
        );
    }
}
