//! The daemon's memory: idle, with many configured aliases, and per idle client
//! connection (one that finished the HTTP/2 handshake and then sends nothing).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use crate::procfs;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// RSS once the daemon has settled.
pub async fn settled_rss_kib(pid: u32) -> anyhow::Result<u64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    procfs::rss_kib(pid)
}

/// A config file with `count` aliases to `upstream`, none of them connected until used.
pub fn many_aliases_config(
    dir: &Path,
    count: usize,
    upstream: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!(
            "[aliases.a{i:04}]\nuri = \"http://{upstream}\"\nuser = \"bench\"\npassword = \"bench-secret\"\n\n"
        ));
    }
    let path = dir.join("many-aliases.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Opens `count` HTTP/2 connections to `socket` and keeps them idle; returns the RSS
/// growth per connection in bytes, with the connections still open.
pub async fn per_idle_connection(
    pid: u32,
    socket: &Path,
    count: usize,
) -> anyhow::Result<(f64, Vec<UnixStream>)> {
    let before = settled_rss_kib(pid).await?;
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = UnixStream::connect(socket)
            .await
            .context("connect to the alias socket")?;
        stream.write_all(PREFACE).await?;
        stream.write_all(&SETTINGS).await?;
        // The server's SETTINGS says hyper took the connection on.
        let mut header = [0u8; 9];
        stream
            .read_exact(&mut header)
            .await
            .context("no SETTINGS from the daemon")?;
        connections.push(stream);
    }
    let after = settled_rss_kib(pid).await?;
    let per = (after.saturating_sub(before) * 1024) as f64 / count as f64;
    Ok((per, connections))
}
