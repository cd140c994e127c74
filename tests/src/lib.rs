//! Test harness: a real Milvus 2.3.5 (from PyPI) in four flavours, generated certificates,
//! and the real `milvus-connd` binary in a temporary runtime directory.
//!
//! Milvus instances are started once per test binary and shared by its tests; they stop
//! when the test process is gone (the start script watches its pid), so a crashed run
//! leaves nothing behind. Tests in this crate need the workspace binaries built first
//! (`cargo build --workspace --bins`), which the README's test command does.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::print_stdout)]

pub mod certs;
pub mod daemon;
pub mod fake_upstream;
pub mod milvus;
pub mod net;
pub mod relay;

use std::path::PathBuf;

/// Connect parameters from JSON, as a caller would send them.
pub fn params(value: serde_json::Value) -> milvus_connd_client::ConnectParams {
    serde_json::from_value(value).expect("valid params")
}

/// The cargo target directory this binary was built into (`target/debug`): tests live in
/// `target/<profile>/deps`, binaries using the harness (the benchmarks) in `target/<profile>`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("binary lives in a directory");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().expect("target/<profile>/deps"),
        _ => dir,
    }
    .to_path_buf()
}

/// Path of a workspace binary, checked to exist.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the tests",
        path.display()
    );
    path
}

/// Directory for the harness's shared files (the Milvus install, certificates).
pub fn harness_dir() -> PathBuf {
    target_dir().parent().expect("target dir").join("milvus-it")
}
