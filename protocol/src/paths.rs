//! Where the daemon's sockets live, by the rule both sides follow.
//!
//! `--runtime-dir` wins; else `$RUNTIME_DIRECTORY` (set by systemd); else
//! `/run/milvus-connd` for root; else `$XDG_RUNTIME_DIR/milvus-connd`. Clients look at
//! `$MILVUS_CONND_SOCKET` first. The functions take the environment as a lookup so they
//! stay pure and testable.

use std::path::{Path, PathBuf};

/// Environment variable naming the control socket, for clients.
pub const SOCKET_ENV: &str = "MILVUS_CONND_SOCKET";
/// File name of the control socket inside the runtime directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// Directory (inside the runtime directory) holding one data socket per alias.
pub const ALIAS_SOCKET_DIR: &str = "aliases";
/// Runtime directory of a daemon running as root.
pub const SYSTEM_RUNTIME_DIR: &str = "/run/milvus-connd";

/// The runtime directory when none is given on the command line.
pub fn default_runtime_dir(env: impl Fn(&str) -> Option<String>, is_root: bool) -> PathBuf {
    if let Some(dir) = env("RUNTIME_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several directories separated by ':'; the first is ours.
        let first = dir.split(':').next().unwrap_or(&dir);
        return PathBuf::from(first);
    }
    if is_root {
        return PathBuf::from(SYSTEM_RUNTIME_DIR);
    }
    match env("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(xdg) => Path::new(&xdg).join("milvus-connd"),
        None => PathBuf::from(SYSTEM_RUNTIME_DIR),
    }
}

/// The control socket a client should use.
pub fn default_control_socket(env: impl Fn(&str) -> Option<String>, is_root: bool) -> PathBuf {
    if let Some(path) = env(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    default_runtime_dir(env, is_root).join(CONTROL_SOCKET)
}

/// The data socket of `alias` in `runtime_dir`.
pub fn alias_socket(runtime_dir: &Path, alias: &str) -> PathBuf {
    runtime_dir
        .join(ALIAS_SOCKET_DIR)
        .join(format!("{alias}.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn systemd_directory_wins() {
        let e = env(&[
            ("RUNTIME_DIRECTORY", "/run/a:/run/b"),
            ("XDG_RUNTIME_DIR", "/x"),
        ]);
        assert_eq!(default_runtime_dir(e, false), PathBuf::from("/run/a"));
    }

    #[test]
    fn root_and_users_differ() {
        let e = env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]);
        assert_eq!(
            default_runtime_dir(&e, true),
            PathBuf::from(SYSTEM_RUNTIME_DIR)
        );
        assert_eq!(
            default_runtime_dir(&e, false),
            PathBuf::from("/run/user/1000/milvus-connd")
        );
    }

    #[test]
    fn client_socket_env_wins() {
        let e = env(&[(SOCKET_ENV, "/tmp/c.sock"), ("RUNTIME_DIRECTORY", "/run/a")]);
        assert_eq!(
            default_control_socket(&e, true),
            PathBuf::from("/tmp/c.sock")
        );
        let e = env(&[("RUNTIME_DIRECTORY", "/run/a")]);
        assert_eq!(
            default_control_socket(e, true),
            PathBuf::from("/run/a/control.sock")
        );
    }
}
