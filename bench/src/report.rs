//! Writes what a run measured: `docs/benchmarks.md` (tables, targets, the machine, the
//! command) and an SVG chart of latency and throughput per variant.

use std::fmt::Write as _;

use crate::stats::quantile;
use crate::suite::{Figures, Results};

/// The variant every ratio is taken against.
pub const DIRECT: &str = "direct";
/// The daemon's main data path, which the targets are judged on.
pub const DAEMON: &str = "connd-unix";

#[derive(Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn this() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Self {
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kib| kib / (1 << 20) as f64),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

/// Memory and CPU figures.
#[derive(Debug, Default)]
pub struct Footprint {
    pub idle_rss_kib: u64,
    pub aliases: usize,
    pub aliases_rss_kib: u64,
    pub connections: usize,
    pub bytes_per_connection: f64,
    /// CPU milliseconds per 10 000 calls at concurrency 16, per process measured.
    pub cpu_ms_per_10k: Vec<(&'static str, f64)>,
}

/// Control-API connect latencies (µs, sorted).
#[derive(Debug, Default)]
pub struct Connects {
    pub warm: Vec<u64>,
    pub cold: Vec<u64>,
}

#[derive(Debug)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub tools: Vec<String>,
    pub repeats: u32,
    pub null: Results,
    pub milvus: Option<Results>,
    pub footprint: Footprint,
    pub connects: Connects,
}

fn fmt(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "–".into()
    } else {
        format!("{value:.decimals$}")
    }
}

fn ratio(value: f64, base: f64) -> String {
    if value.is_nan() || base.is_nan() || base == 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", value / base)
    }
}

fn unary_table(out: &mut String, results: &Results) {
    let base = results.figures("c1", DIRECT).unwrap_or_default();
    let base16 = results.figures("c16", DIRECT).unwrap_or_default();
    let base64 = results.figures("c64", DIRECT).unwrap_or_default();
    out.push_str(
        "| variant | mean µs | p50 µs | p99 µs | p99.9 µs | added mean µs | req/s at 16 | vs direct | req/s at 64 | vs direct |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &variant in &results.variants {
        let c1 = results.figures("c1", variant).unwrap_or_default();
        let c16 = results.figures("c16", variant).unwrap_or_default();
        let c64 = results.figures("c64", variant).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {variant} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(c1.mean_us, 1),
            fmt(c1.p50_us, 0),
            fmt(c1.p99_us, 0),
            fmt(c1.p999_us, 0),
            if variant == DIRECT {
                "–".into()
            } else {
                format!("{:+.1}", c1.mean_us - base.mean_us)
            },
            fmt(c16.requests_per_second, 0),
            ratio(c16.requests_per_second, base16.requests_per_second),
            fmt(c64.requests_per_second, 0),
            ratio(c64.requests_per_second, base64.requests_per_second),
        );
    }
}

fn large_table(out: &mut String, results: &Results) {
    let base1 = results.figures("1MiB", DIRECT).unwrap_or_default();
    let base16 = results.figures("16MiB", DIRECT).unwrap_or_default();
    out.push_str("| variant | 1 MiB: MiB/s | vs direct | 16 MiB: MiB/s | vs direct |\n|---|---:|---:|---:|---:|\n");
    for &variant in &results.variants {
        let one = results.figures("1MiB", variant).unwrap_or_default();
        let sixteen = results.figures("16MiB", variant).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {variant} | {} | {} | {} | {} |",
            fmt(one.mib_per_second, 1),
            ratio(one.mib_per_second, base1.mib_per_second),
            fmt(sixteen.mib_per_second, 1),
            ratio(sixteen.mib_per_second, base16.mib_per_second),
        );
    }
}

struct Target {
    name: &'static str,
    goal: &'static str,
    measured: String,
    met: Option<bool>,
}

fn targets(report: &Report) -> Vec<Target> {
    let null = &report.null;
    let get = |r: &Results, s: &'static str, v: &'static str| r.figures(s, v).unwrap_or_default();
    let added = get(null, "c1", DAEMON).mean_us - get(null, "c1", DIRECT).mean_us;
    let mut targets = vec![Target {
        name: "added mean latency, concurrency 1, null upstream",
        goal: "≤ 30 µs",
        measured: format!("{added:+.1} µs"),
        met: (!added.is_nan()).then_some(added <= 30.0),
    }];
    let mut throughput = |r: &Results,
                          label: &'static str,
                          scenario: &'static str,
                          goal: f64,
                          goal_text: &'static str,
                          value: fn(&Figures) -> f64| {
        let x = value(&get(r, scenario, DAEMON)) / value(&get(r, scenario, DIRECT));
        targets.push(Target {
            name: label,
            goal: goal_text,
            measured: format!("{x:.2}×"),
            met: (!x.is_nan()).then_some(x >= goal),
        });
    };
    let rps = |f: &Figures| f.requests_per_second;
    let mib = |f: &Figures| f.mib_per_second;
    throughput(
        null,
        "throughput at 16, null upstream",
        "c16",
        0.7,
        "≥ 0.7× direct",
        rps,
    );
    throughput(
        null,
        "throughput at 64, null upstream",
        "c64",
        0.7,
        "≥ 0.7× direct",
        rps,
    );
    if let Some(milvus) = &report.milvus {
        throughput(
            milvus,
            "throughput at 16, Milvus GetVersion",
            "c16",
            0.9,
            "≥ 0.9× direct",
            rps,
        );
        throughput(
            milvus,
            "throughput at 64, Milvus GetVersion",
            "c64",
            0.9,
            "≥ 0.9× direct",
            rps,
        );
    }
    throughput(null, "1 MiB messages", "1MiB", 0.7, "≥ 0.7× direct", mib);
    throughput(null, "16 MiB messages", "16MiB", 0.8, "≥ 0.8× direct", mib);
    let warm_p99 = quantile(&report.connects.warm, 0.99);
    targets.push(Target {
        name: "warm connect over the control API, p99",
        goal: "≤ 200 µs",
        measured: format!("{} µs", fmt(warm_p99, 0)),
        met: (!warm_p99.is_nan()).then_some(warm_p99 <= 200.0),
    });
    let idle = report.footprint.idle_rss_kib as f64 / 1024.0;
    targets.push(Target {
        name: "idle RSS",
        goal: "≤ 20 MiB",
        measured: format!("{idle:.1} MiB"),
        met: Some(idle <= 20.0),
    });
    let per = report.footprint.bytes_per_connection / 1024.0;
    targets.push(Target {
        name: "memory per idle client connection",
        goal: "≤ 64 KiB",
        measured: format!("{per:.1} KiB"),
        met: Some(per <= 64.0),
    });
    targets
}

/// The Markdown report.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by `milvus-connd-bench` on {date}. Regenerate with:\n\n```sh\n{command}\n```\n\n\
         Machine: {cpu}, {cores} cores, {mem:.1} GiB, Linux {kernel}. Tools: {tools}. \
         Everything runs on this one machine over loopback — load generator, proxy and upstream \
         share its {cores} cores, as they would on an app host.\n\n\
         Load is generated by h2load (one thread) for every variant, so no side's own client flatters it. \
         Variants run interleaved (A B C A B C …), {repeats} repeats each; figures are medians over the repeats. \
         Before a variant is measured one real gRPC call through it must succeed.\n\n\
         Variants: **direct** — h2load to the upstream, sending the credentials itself; \
         **direct-unix** — the same over the upstream's Unix socket; \
         **connd-unix** — through milvus-connd's alias socket (the path applications use); \
         **connd-tcp** — through the alias's loopback TCP listener; \
         **haproxy** — HAProxy with one thread (like the daemon), HTTP/2 on both sides, injecting `authorization`, the same job. \
         The daemon runs with its defaults (one worker thread, pool of 2 upstream connections).\n\n",
        date = report.date,
        command = report.command,
        cpu = m.cpu,
        cores = m.cores,
        mem = m.memory_gib,
        kernel = m.kernel,
        tools = report.tools.join(", "),
        repeats = report.repeats,
    );
    out.push_str(
        "## Targets\n\n| target | goal | measured (connd-unix) | met |\n|---|---|---:|---|\n",
    );
    for t in targets(report) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(out, "| {} | {} | {} | {met} |", t.name, t.goal, t.measured);
    }
    out.push_str(
        "\n## Small calls: null upstream\n\n\
         A tonic server echoing a 100-byte message. Latency at concurrency 1 (one connection, one stream); \
         throughput at 16 and 64 concurrent calls (4 connections × 4 or 16 streams).\n\n",
    );
    unary_table(&mut out, &report.null);
    if let Some(milvus) = &report.milvus {
        out.push_str(
            "\n## Small calls: Milvus 2.3.5 `GetVersion`, authentication on\n\n\
             A real Milvus standalone (PyPI `milvus`), `root:Milvus` checked on every call.\n\n",
        );
        unary_table(&mut out, milvus);
    }
    out.push_str("\n## Large messages: null upstream\n\nEchoes of 1 MiB and 16 MiB on one stream, back to back; MiB/s of payload each way.\n\n");
    large_table(&mut out, &report.null);
    out.push_str(
        "\n## Control API: connect\n\n| | calls | p50 µs | p99 µs |\n|---|---:|---:|---:|\n",
    );
    for (name, samples) in [
        (
            "warm: alias already connected with the same parameters",
            &report.connects.warm,
        ),
        (
            "cold: TLS (mutual) + authentication handshake to Milvus, pool of 2",
            &report.connects.cold,
        ),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            samples.len(),
            fmt(quantile(samples, 0.5), 0),
            fmt(quantile(samples, 0.99), 0)
        );
    }
    let f = &report.footprint;
    let _ = write!(
        out,
        "\nMeasured with the Rust client (`milvus_connd_client::Client`), which keeps its control connection between requests, so a warm connect is one HTTP request and answer on the Unix socket.\n\n\
         ## Memory and CPU\n\n| | |\n|---|---:|\n\
         | daemon RSS, idle, no aliases | {:.1} MiB |\n\
         | daemon RSS with {} aliases configured (idle) | {:.1} MiB |\n\
         | memory per idle client connection ({} connections, HTTP/2 handshake done) | {:.1} KiB |\n",
        f.idle_rss_kib as f64 / 1024.0,
        f.aliases,
        f.aliases_rss_kib as f64 / 1024.0,
        f.connections,
        f.bytes_per_connection / 1024.0,
    );
    for (who, ms) in &f.cpu_ms_per_10k {
        let _ = writeln!(
            out,
            "| CPU time per 10 000 calls at concurrency 16: {who} | {ms:.0} ms |"
        );
    }
    out.push_str(
        "\n![latency and throughput per variant](benchmarks.svg)\n\n\
         How a call travels through the daemon, and what each change to that path bought: \
         [performance.md](performance.md).\n",
    );
    out
}

/// A horizontal bar chart: one panel per (title, bars).
pub fn svg(report: &Report) -> String {
    let mut panels: Vec<(String, Vec<(&'static str, f64)>)> = Vec::new();
    let mut panel =
        |title: String, results: &Results, scenario: &'static str, value: fn(&Figures) -> f64| {
            let bars = results
                .variants
                .iter()
                .filter_map(|&v| Some((v, value(&results.figures(scenario, v)?))))
                .filter(|(_, x)| !x.is_nan())
                .collect();
            panels.push((title, bars));
        };
    panel(
        "Null upstream: mean latency at concurrency 1 (µs, lower is better)".into(),
        &report.null,
        "c1",
        |f| f.mean_us,
    );
    panel(
        "Null upstream: requests/s at concurrency 64 (higher is better)".into(),
        &report.null,
        "c64",
        |f| f.requests_per_second,
    );
    if let Some(milvus) = &report.milvus {
        panel(
            "Milvus GetVersion: mean latency at concurrency 1 (µs)".into(),
            milvus,
            "c1",
            |f| f.mean_us,
        );
        panel(
            "Milvus GetVersion: requests/s at concurrency 64".into(),
            milvus,
            "c64",
            |f| f.requests_per_second,
        );
    }
    panel(
        "Null upstream: 16 MiB echoes (MiB/s)".into(),
        &report.null,
        "16MiB",
        |f| f.mib_per_second,
    );

    const WIDTH: f64 = 760.0;
    const LABEL: f64 = 110.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 6.0;
    let height: f64 = panels
        .iter()
        .map(|(_, bars)| 34.0 + bars.len() as f64 * (BAR + GAP) + 14.0)
        .sum();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let mut y = 0.0;
    for (title, bars) in &panels {
        y += 22.0;
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{y:.0}\" font-weight=\"bold\">{title}</text>"
        );
        y += 12.0;
        let max = bars
            .iter()
            .map(|(_, x)| *x)
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        for (name, value) in bars {
            let width = (WIDTH - LABEL - 90.0) * value / max;
            let colour = match *name {
                DIRECT | "direct-unix" => "#8a8a8a",
                "haproxy" => "#d9822b",
                _ => "#2b6cb0",
            };
            let _ = writeln!(
                out,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{name}</text>\
                 <rect x=\"{LABEL}\" y=\"{y:.0}\" width=\"{width:.1}\" height=\"{BAR}\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
                LABEL - 6.0,
                y + 13.0,
                LABEL + width + 4.0,
                y + 13.0,
                fmt(*value, if *value < 100.0 { 1 } else { 0 }),
            );
            y += BAR + GAP;
        }
        y += 14.0;
    }
    out.push_str("</svg>\n");
    out
}
