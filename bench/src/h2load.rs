//! Runs h2load (nghttp2's HTTP/2 load generator) against one endpoint and reads back what
//! it measured: requests per second from its summary, and every request's latency from
//! its per-request log, so percentiles are exact rather than h2load's mean and sd.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Where a variant is reached.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// One way of reaching an upstream: directly, through the daemon, through HAProxy.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: &'static str,
    pub endpoint: Endpoint,
    /// What the client itself sends as `authorization` (direct connections only: a proxy
    /// adds the credentials).
    pub authorization: Option<String>,
}

/// How much load: connections × concurrent streams on each, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: u32,
    pub streams: u32,
    pub length: Length,
}

#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// Measure for this long after a warm-up of the given length.
    Timed {
        warm_up: Duration,
        measure: Duration,
    },
    /// Exactly this many requests (used for smoke runs and CPU counts).
    Requests(u32),
}

/// What one h2load run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub requests_per_second: f64,
    pub succeeded: u64,
    pub failed: u64,
    /// Per-request latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Measured {
    pub fn mean_us(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.iter().sum::<u64>() as f64 / self.latencies_us.len() as f64
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn quantile_us(&self, q: f64) -> f64 {
        crate::stats::quantile(&self.latencies_us, q)
    }
}

fn seconds_arg(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// Runs h2load once: POSTs the gRPC request in `body` to `path` of `variant`.
pub fn run(
    variant: &Variant,
    path: &str,
    body: &Path,
    load: Load,
    scratch: &Path,
) -> anyhow::Result<Measured> {
    let log = scratch.join("h2load.log");
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new("h2load");
    command
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("--clients={}", load.connections))
        .arg(format!("--max-concurrent-streams={}", load.streams))
        .arg("--threads=1")
        .arg(format!("--data={}", body.display()))
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"]);
    if let Some(authorization) = &variant.authorization {
        command.args(["-H", &format!("authorization: {authorization}")]);
    }
    match load.length {
        Length::Timed { warm_up, measure } => command
            .arg(format!("--warm-up-time={}", seconds_arg(warm_up)))
            .arg(format!("--duration={}", seconds_arg(measure))),
        Length::Requests(n) => command.arg(format!("--requests={n}")),
    };
    let url = match &variant.endpoint {
        Endpoint::Tcp(addr) => format!("http://{addr}{path}"),
        Endpoint::Unix(socket) => {
            command.arg(format!("--base-uri=unix:{}", socket.display()));
            format!("http://localhost{path}")
        }
    };
    let output = command
        .arg(&url)
        .output()
        .context("cannot run h2load (is nghttp2-client installed?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "h2load {url} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut measured =
        parse_summary(&stdout).with_context(|| format!("h2load output for {url}:\n{stdout}"))?;
    measured.latencies_us = read_log(&log)?;
    if measured.failed > 0 || measured.succeeded == 0 {
        bail!(
            "{}: {} of {} requests failed",
            variant.name,
            measured.failed,
            measured.failed + measured.succeeded
        );
    }
    Ok(measured)
}

/// Reads `finished in …, N req/s` and the request counts from h2load's summary.
fn parse_summary(stdout: &str) -> anyhow::Result<Measured> {
    let finished = stdout
        .lines()
        .find(|l| l.starts_with("finished in"))
        .context("no 'finished in' line")?;
    let requests_per_second = finished
        .split(", ")
        .find_map(|part| part.strip_suffix(" req/s"))
        .and_then(|n| n.trim().parse().ok())
        .context("no req/s figure")?;
    let requests = stdout
        .lines()
        .find(|l| l.starts_with("requests:"))
        .context("no 'requests:' line")?;
    let count = |label: &str| -> anyhow::Result<u64> {
        requests
            .split(", ")
            .find_map(|part| part.trim_start_matches("requests: ").strip_suffix(label))
            .and_then(|n| n.trim().split(' ').next_back()?.parse().ok())
            .with_context(|| format!("no '{label}' count"))
    };
    let errored = count(" errored")? + count(" timeout")?;
    Ok(Measured {
        requests_per_second,
        succeeded: count(" succeeded")?,
        failed: count(" failed")? + errored,
        latencies_us: Vec::new(),
    })
}

/// h2load's log: one tab-separated line per request (start time, HTTP status, µs).
fn read_log(path: &Path) -> anyhow::Result<Vec<u64>> {
    let text = std::fs::read_to_string(path).context("read h2load's log")?;
    let mut latencies = Vec::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(_), Some(status), Some(us)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        match status {
            "200" => {}
            // Requests still in flight when a timed run ends are logged without a status.
            "0" => continue,
            _ => bail!("h2load logged HTTP status {status}"),
        }
        latencies.push(us.trim().parse().context("latency in h2load's log")?);
    }
    latencies.sort_unstable();
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_figures_are_read() {
        let out = "finished in 3.00s, 15170.50 req/s, 2.00MB/s\n\
                   requests: 30341 total, 30341 started, 30341 done, 30340 succeeded, 1 failed, 0 errored, 0 timeout\n";
        let m = parse_summary(out).expect("parse");
        assert_eq!(m.requests_per_second, 15170.50);
        assert_eq!((m.succeeded, m.failed), (30340, 1));
    }
}
