//! The admin HTTP endpoint (opt-in, loopback by default): `/livez` (the event loop
//! answers), `/readyz` and `/startupz` (sockets bound and serving; independent of Milvus,
//! so an orchestrator does not restart the daemon for Milvus's sake), and `/metrics` in
//! Prometheus text format, built from the registry at each scrape.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use milvus_connd_protocol::AliasState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;

use crate::defaults;
use crate::proxy::stats::{CallSnapshot, LATENCY_BUCKETS};
use crate::registry::Registry;

/// What `/metrics` reads about one alias.
#[derive(Debug, Clone)]
pub struct AliasMetrics {
    pub alias: String,
    pub state: AliasState,
    pub channels_ready: usize,
    pub leases: usize,
    pub calls_total: u64,
    pub in_flight: usize,
    pub authority_rewrites_total: u64,
    pub probe_failures_total: u64,
    pub calls: CallSnapshot,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    alias: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AliasLabel {
    alias: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    alias: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// Everything the endpoint needs.
#[derive(Debug)]
pub struct Admin {
    pub registry: Arc<Registry>,
    pub started: Instant,
    /// Sockets bound and not draining.
    pub ready: AtomicBool,
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

impl Admin {
    /// The Prometheus exposition of the registry right now.
    pub fn metrics(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::with_prefix("milvus_connd");
        let state = Family::<StateLabels, Gauge>::default();
        let channels = Family::<AliasLabel, Gauge>::default();
        let leases = Family::<AliasLabel, Gauge>::default();
        let in_flight = Family::<AliasLabel, Gauge>::default();
        let calls = Family::<AliasLabel, Counter>::default();
        let rewrites = Family::<AliasLabel, Counter>::default();
        let by_code = Family::<CodeLabels, Counter>::default();
        let received = Family::<AliasLabel, Counter>::default();
        let sent = Family::<AliasLabel, Counter>::default();
        let probe_failures = Family::<AliasLabel, Counter>::default();
        let aliases = self.registry.metrics();
        for alias in &aliases {
            let label = AliasLabel {
                alias: alias.alias.clone(),
            };
            state
                .get_or_create(&StateLabels {
                    alias: alias.alias.clone(),
                    state: alias.state.as_str().into(),
                })
                .set(1);
            channels
                .get_or_create(&label)
                .set(alias.channels_ready as i64);
            leases.get_or_create(&label).set(alias.leases as i64);
            in_flight.get_or_create(&label).set(alias.in_flight as i64);
            calls.get_or_create(&label).inc_by(alias.calls_total);
            rewrites
                .get_or_create(&label)
                .inc_by(alias.authority_rewrites_total);
            for (code, count) in &alias.calls.codes {
                let labels = CodeLabels {
                    alias: alias.alias.clone(),
                    code: (*code).into(),
                };
                by_code.get_or_create(&labels).inc_by(*count);
            }
            received.get_or_create(&label).inc_by(alias.calls.bytes_in);
            sent.get_or_create(&label).inc_by(alias.calls.bytes_out);
            probe_failures
                .get_or_create(&label)
                .inc_by(alias.probe_failures_total);
        }
        let status = self.registry.status(&crate::peer::Peer::internal());
        let opened = Counter::<u64>::default();
        opened.inc_by(status.channels_opened_total);
        let open = Gauge::<i64>::default();
        open.set(status.channels_open as i64);
        let transitions = Counter::<u64>::default();
        transitions.inc_by(status.transitions_total);
        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        uptime.set(self.started.elapsed().as_secs_f64());
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("alias_state", "1 for the alias's current state", state);
        registry.register(
            "alias_channels_ready",
            "Open channels of the alias's pool",
            channels,
        );
        registry.register("alias_leases", "Leases held on the alias", leases);
        registry.register(
            "alias_calls_in_flight",
            "Proxied calls in flight",
            in_flight,
        );
        registry.register("alias_calls", "Proxied calls", calls);
        registry.register(
            "alias_authority_rewrites",
            "Requests whose :authority was replaced",
            rewrites,
        );
        registry.register(
            "alias_calls_by_code",
            "Finished calls by gRPC status code",
            by_code,
        );
        registry.register(
            "alias_received_bytes",
            "Request bytes from clients",
            received,
        );
        registry.register("alias_sent_bytes", "Answer bytes to clients", sent);
        registry.register(
            "alias_probe_failures",
            "Failed health probes of the alias's pool",
            probe_failures,
        );
        registry.register("channels_open", "Upstream channels open", open);
        registry.register(
            "channels_opened",
            "Upstream channels opened (first connects, reconnects, rotations)",
            opened,
        );
        registry.register("state_transitions", "Alias state changes", transitions);
        registry.register("uptime_seconds", "Seconds since the daemon started", uptime);
        registry.register("build_info", "The daemon's version", build);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        // The latency histogram is kept in lock-free counters of our own; its exposition
        // goes in before the closing `# EOF`.
        let body = out.strip_suffix("# EOF\n").unwrap_or(&out).to_owned();
        body + &latency_histogram(&aliases) + "# EOF\n"
    }

    fn answer(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
        }
        match request.uri().path() {
            "/livez" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" | "/startupz" if self.ready.load(Ordering::Relaxed) => {
                text(StatusCode::OK, "ok\n".into())
            }
            "/readyz" | "/startupz" => {
                text(StatusCode::SERVICE_UNAVAILABLE, "not serving\n".into())
            }
            "/metrics" => {
                let mut response = text(StatusCode::OK, self.metrics());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
            _ => text(StatusCode::NOT_FOUND, "no such endpoint\n".into()),
        }
    }
}

/// `milvus_connd_alias_call_duration_seconds` in the text exposition format.
fn latency_histogram(aliases: &[AliasMetrics]) -> String {
    use std::fmt::Write as _;
    let name = "milvus_connd_alias_call_duration_seconds";
    let mut out = format!(
        "# HELP {name} Duration of proxied calls, until the answer ended.\n# TYPE {name} histogram\n"
    );
    for alias in aliases {
        let calls = &alias.calls;
        // Alias names are [A-Za-z0-9_.-]: nothing to escape in a label value.
        let label = &alias.alias;
        let bounds = LATENCY_BUCKETS
            .iter()
            .map(|le| le.to_string())
            .chain(["+Inf".to_owned()]);
        for (le, count) in bounds.zip(&calls.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{alias=\"{label}\",le=\"{le}\"}} {count}"
            );
        }
        let _ = writeln!(out, "{name}_sum{{alias=\"{label}\"}} {}", calls.seconds);
        let count = calls.buckets.last().copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_count{{alias=\"{label}\"}} {count}");
    }
    out
}

/// Binds the admin endpoint; warns when it is reachable beyond loopback.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "admin endpoint bound beyond loopback: metrics name every alias");
    }
    TcpListener::bind(addr).await
}

/// Serves the admin endpoint until the task is dropped.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = admin.answer(&request);
                async move { Ok::<_, Infallible>(response) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(defaults::REQUEST_TIMEOUT);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
