//! `milvus-connd-bench`: measures what milvus-connd costs — per call, per message byte,
//! per connect, in memory and CPU — beside direct connections and HAProxy, and writes
//! `docs/benchmarks.md` and `docs/benchmarks.svg`. Loopback only; everything it starts
//! (null upstream, daemons, HAProxy, Milvus) is stopped when it ends.
//!
//! Run it with `scripts/bench.sh`, which builds release binaries and installs h2load and
//! HAProxy first.

#![allow(clippy::print_stdout)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Parser;
use milvus_connd_bench::h2load::{self, Endpoint, Length, Load, Variant};
use milvus_connd_bench::report::{self, Connects, Footprint, Machine, Report};
use milvus_connd_bench::suite::{self, Lengths};
use milvus_connd_bench::{
    check, control, haproxy::HaProxy, memory, payload, procfs, stats, upstream,
};
use milvus_connd_client::{Client, ConnectParams};
use milvus_connd_tests::daemon::{Daemon, Options};
use milvus_connd_tests::milvus::{Dedicated, Flavor};

#[derive(Parser)]
#[command(about = "Benchmarks milvus-connd beside direct connections and HAProxy")]
struct Args {
    /// Repeats of every scenario (figures are medians over them).
    #[arg(long, default_value_t = 3)]
    repeats: u32,
    /// A smoke run: tiny counts, no Milvus, report to --out only. Proves the suite works;
    /// its figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Skip the phases that need a real Milvus.
    #[arg(long)]
    skip_milvus: bool,
    /// Where the Markdown report goes; the SVG chart goes beside it.
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
}

const NULL_USER: &str = "bench";
const NULL_PASSWORD: &str = "bench-secret";
const MILVUS_USER: &str = "root";
const MILVUS_PASSWORD: &str = "Milvus";

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The null upstream in a process of its own; it stops when its stdin closes.
struct NullUpstream {
    child: Child,
    tcp: SocketAddr,
    unix: PathBuf,
}

impl NullUpstream {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let unix = dir.join("null-upstream.sock");
        let binary = milvus_connd_tests::binary("null-upstream");
        let mut child = Command::new(binary)
            .arg("--unix")
            .arg(&unix)
            .env(
                "NULL_UPSTREAM_AUTHORIZATION",
                basic(NULL_USER, NULL_PASSWORD),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start the null upstream")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("null upstream stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let tcp = line
            .trim()
            .strip_prefix("listening tcp=")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("null upstream said {line:?}"))?;
        Ok(Self { child, tcp, unix })
    }
}

impl Drop for NullUpstream {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn start_daemon(extra: &[&str]) -> Daemon {
    Daemon::start_with(Options {
        args: extra.iter().map(|s| (*s).to_owned()).collect(),
        env: vec![("RUST_LOG".into(), "warn".into())],
        ..Options::default()
    })
}

fn params(value: serde_json::Value) -> anyhow::Result<ConnectParams> {
    Ok(serde_json::from_value(value)?)
}

/// Connects `alias` with a loopback TCP listener; returns its (unix, tcp) endpoints.
async fn connect_alias(
    client: &Client,
    alias: &str,
    params: &ConnectParams,
) -> anyhow::Result<(PathBuf, SocketAddr)> {
    let lease = client.connect(alias, params).await?;
    let endpoints = lease.alias.endpoints.clone();
    lease.detach();
    let tcp = endpoints
        .tcp
        .context("alias has no TCP listener")?
        .parse()?;
    Ok((PathBuf::from(endpoints.unix), tcp))
}

/// The three ways through a proxy: the alias's Unix socket and TCP listener, and HAProxy.
fn proxied(unix: PathBuf, tcp: SocketAddr, haproxy: SocketAddr) -> [Variant; 3] {
    [
        (report::DAEMON, Endpoint::Unix(unix)),
        ("connd-tcp", Endpoint::Tcp(tcp)),
        ("haproxy", Endpoint::Tcp(haproxy)),
    ]
    .map(|(name, endpoint)| Variant {
        name,
        endpoint,
        authorization: None,
    })
}

fn tool_version(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("{program} (version unknown)"))
}

/// CPU time `pid` spends while h2load makes 10 000 calls through `variant`.
fn cpu_per_10k(
    pid: u32,
    variant: &Variant,
    path: &str,
    body: &Path,
    scratch: &Path,
    smoke: bool,
) -> anyhow::Result<f64> {
    let calls = if smoke { 200 } else { 10_000 };
    let load = Load {
        connections: 4,
        streams: 4,
        length: Length::Requests(calls),
    };
    let before = procfs::cpu_time(pid)?;
    h2load::run(variant, path, body, load, scratch)?;
    let used = procfs::cpu_time(pid)? - before;
    Ok(used.as_secs_f64() * 1e3 * 10_000.0 / f64::from(calls))
}

/// Warm connects, measured on a thread of their own (see `control::on_one_thread`).
async fn warm_connects(
    client: &Client,
    alias: &'static str,
    params: &ConnectParams,
    calls: u32,
) -> anyhow::Result<Vec<u64>> {
    let (client, params) = (client.clone(), params.clone());
    control::on_one_thread(
        move || async move { control::warm(&client, alias, &params, calls).await },
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path();
    let lengths = if args.smoke {
        Lengths::smoke()
    } else {
        Lengths::full()
    };
    let repeats = if args.smoke { 1 } else { args.repeats.max(1) };
    for tool in ["h2load", "haproxy"] {
        if Command::new(tool).arg("-v").output().is_err() {
            bail!(
                "{tool} is not installed: scripts/bench.sh installs it (apt-get install nghttp2-client haproxy)"
            );
        }
    }

    eprintln!("null upstream, daemon, HAProxy…");
    let null = NullUpstream::start(dir)?;
    let daemon = start_daemon(&[]);
    let client = daemon.client();
    let null_params = params(serde_json::json!({
        "uri": format!("http://{}", null.tcp),
        "user": NULL_USER, "password": NULL_PASSWORD, "listen_tcp": "127.0.0.1:0",
    }))?;
    let (null_unix, null_tcp) = connect_alias(&client, "null", &null_params).await?;
    let null_haproxy = HaProxy::start(null.tcp, &basic(NULL_USER, NULL_PASSWORD), 1, dir)?;
    let auth = Some(basic(NULL_USER, NULL_PASSWORD));
    let mut null_variants = vec![
        Variant {
            name: report::DIRECT,
            endpoint: Endpoint::Tcp(null.tcp),
            authorization: auth.clone(),
        },
        Variant {
            name: "direct-unix",
            endpoint: Endpoint::Unix(null.unix.clone()),
            authorization: auth,
        },
    ];
    null_variants.extend(proxied(null_unix.clone(), null_tcp, null_haproxy.listen));
    for variant in &null_variants {
        check::echo(variant).await?;
    }
    let small = payload::echo_request(dir, 100)?;
    let (one_mib, sixteen_mib) = (1 << 20, if args.smoke { 1 << 20 } else { 16 << 20 });
    let mut scenarios = suite::unary(upstream::ECHO_PATH, &small, lengths.small);
    for (key, size) in [("1MiB", one_mib), ("16MiB", sixteen_mib)] {
        let body = payload::echo_request(dir, size)?;
        scenarios.push(suite::large(
            upstream::ECHO_PATH,
            key,
            &body,
            size,
            lengths.large,
        ));
    }
    eprintln!(
        "null upstream: {} scenarios × {} variants × {repeats}",
        scenarios.len(),
        null_variants.len()
    );
    let null_results = suite::run(&scenarios, &null_variants, repeats, dir)?;

    eprintln!("CPU per 10 000 calls…");
    let mut cpu = Vec::new();
    for (who, pid, variant) in [
        ("milvus-connd (connd-unix)", daemon.pid(), &null_variants[2]),
        ("HAProxy", null_haproxy.pid(), &null_variants[4]),
        (
            "the null upstream itself, direct",
            null.child.id(),
            &null_variants[0],
        ),
    ] {
        let samples = (0..repeats)
            .map(|_| cpu_per_10k(pid, variant, upstream::ECHO_PATH, &small, dir, args.smoke))
            .collect::<anyhow::Result<Vec<_>>>()?;
        cpu.push((who, stats::median(samples)));
    }

    eprintln!("memory…");
    let (aliases, connections) = if args.smoke { (50, 50) } else { (1000, 1000) };
    let (bytes_per_connection, open) =
        memory::per_idle_connection(daemon.pid(), &null_unix, connections).await?;
    drop(open);
    let idle_rss_kib = {
        let idle = start_daemon(&[]);
        memory::settled_rss_kib(idle.pid()).await?
    };
    let aliases_rss_kib = {
        let config = memory::many_aliases_config(dir, aliases, &null.tcp.to_string())?;
        let many = start_daemon(&["--config", &config.display().to_string()]);
        anyhow::ensure!(
            many.client().list().await?.aliases.len() == aliases,
            "not every alias was configured"
        );
        memory::settled_rss_kib(many.pid()).await?
    };
    drop(null_haproxy);

    let mut connects = Connects::default();
    let milvus_results = if args.smoke || args.skip_milvus {
        None
    } else {
        eprintln!("Milvus with authentication…");
        let milvus = Dedicated::start(Flavor::Auth);
        let address = milvus.milvus.address();
        let milvus_params = params(serde_json::json!({
            "address": address, "user": MILVUS_USER, "password": MILVUS_PASSWORD, "listen_tcp": "127.0.0.1:0",
        }))?;
        let (unix, tcp) = connect_alias(&client, "milvus", &milvus_params).await?;
        let proxy = HaProxy::start(
            address.parse()?,
            &basic(MILVUS_USER, MILVUS_PASSWORD),
            1,
            dir,
        )?;
        let mut variants = vec![Variant {
            name: report::DIRECT,
            endpoint: Endpoint::Tcp(address.parse()?),
            authorization: Some(basic(MILVUS_USER, MILVUS_PASSWORD)),
        }];
        variants.extend(proxied(unix, tcp, proxy.listen));
        for variant in &variants {
            check::get_version(variant).await?;
        }
        let empty = payload::empty_request(dir)?;
        let scenarios = suite::unary(
            milvus_connd_proto::paths::GET_VERSION,
            &empty,
            lengths.small,
        );
        let results = suite::run(&scenarios, &variants, repeats, dir)?;
        eprintln!("warm connects…");
        connects.warm = warm_connects(&client, "milvus", &milvus_params, 1000).await?;
        drop(proxy);
        drop(milvus);

        eprintln!("Milvus with mutual TLS and authentication: cold connects…");
        let tls = Dedicated::start(Flavor::MutualTlsAuth);
        let certs = milvus_connd_tests::certs::shared();
        let tls_params = params(serde_json::json!({
            "address": tls.milvus.address(), "secure": true,
            "user": MILVUS_USER, "password": MILVUS_PASSWORD,
            "ca_pem_path": certs.path("ca.pem"),
            "client_pem_path": certs.path("client.pem"), "client_key_path": certs.path("client.key"),
        }))?;
        connects.cold = control::cold(&client, "tls", &tls_params, 20).await?;
        Some(results)
    };
    if connects.warm.is_empty() {
        let calls = if args.smoke { 50 } else { 1000 };
        connects.warm = warm_connects(&client, "null", &null_params, calls).await?;
    }

    let report = Report {
        date: String::from_utf8_lossy(
            &Command::new("date")
                .arg("-u")
                .arg("+%Y-%m-%d %H:%M UTC")
                .output()?
                .stdout,
        )
        .trim()
        .to_owned(),
        command: "bash scripts/bench.sh".into(),
        machine: Machine::this(),
        tools: vec![
            tool_version("h2load", "--version"),
            tool_version("haproxy", "-v"),
        ],
        repeats,
        null: null_results,
        milvus: milvus_results,
        footprint: Footprint {
            idle_rss_kib,
            aliases,
            aliases_rss_kib,
            connections,
            bytes_per_connection,
            cpu_ms_per_10k: cpu,
        },
        connects,
    };
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, report::markdown(&report))?;
    std::fs::write(
        args.out.with_file_name("benchmarks.svg"),
        report::svg(&report),
    )?;
    println!("{}", report::markdown(&report));
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
