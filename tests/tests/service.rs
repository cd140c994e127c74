//! The daemon as a service: systemd notifications and watchdog (through a notify socket
//! of this test's own), socket activation (Debian's `systemd-socket-activate`), and
//! SIGTERM draining in-flight calls.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use milvus_connd_client::{Client, ConnectParams};
use milvus_connd_proto::health::HealthCheckRequest;
use milvus_connd_proto::health::health_client::HealthClient;
use milvus_connd_tests::daemon::{Daemon, Options, Signal};
use milvus_connd_tests::fake_upstream;
use serde_json::json;
use tonic::codegen::tokio_stream::StreamExt as _;

/// Collects notify messages until one contains `needle` (or `within` passes).
fn receive_until(socket: &UnixDatagram, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = message.contains(needle);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
    panic!("no {needle:?} within {within:?}; got {seen:?}");
}

#[test]
fn notifies_systemd_of_readiness_status_watchdog_and_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut daemon = Daemon::start_with(Options {
        env: vec![
            ("NOTIFY_SOCKET".into(), path.display().to_string()),
            ("WATCHDOG_USEC".into(), "200000".into()),
        ],
        ..Default::default()
    });
    let first = receive_until(&socket, "READY=1", Duration::from_secs(5));
    assert!(
        first.iter().any(|m| m.contains("STATUS=0/0 aliases ready")),
        "{first:?}"
    );
    receive_until(&socket, "WATCHDOG=1", Duration::from_secs(2));
    receive_until(&socket, "WATCHDOG=1", Duration::from_secs(2));
    daemon.signal(Signal::SIGTERM);
    receive_until(&socket, "STOPPING=1", Duration::from_secs(5));
    let status = daemon.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn socket_activation_serves_the_control_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("activated.sock");
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(milvus_connd_tests::binary("milvus-connd"))
        .arg("--runtime-dir")
        .arg(dir.path().join("rt"))
        .arg("--no-state-file")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian package systemd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the activator did not bind its socket"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first connection starts the daemon on the passed socket.
    let status = tokio::time::timeout(Duration::from_secs(10), Client::new(&socket).status())
        .await
        .expect("answered in time")
        .expect("status through the activated socket");
    assert_eq!(status.aliases, 0);
    assert!(
        !dir.path().join("rt/control.sock").exists(),
        "no socket of its own when one is passed"
    );
    let pid = nix::unistd::Pid::from_raw(activator.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = activator.wait();
}

/// An endless stream through the daemon (the harness's fake upstream: Milvus's own Watch
/// ends after its first answer), open when this returns.
/// The returned sender keeps the upstream running.
async fn open_watch(
    daemon: &Daemon,
) -> (
    tonic::Streaming<milvus_connd_proto::health::HealthCheckResponse>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (addr, _seen, stop) = fake_upstream::start().await;
    let params: ConnectParams =
        serde_json::from_value(json!({"address": addr.to_string()})).expect("params");
    let lease = daemon
        .client()
        .connect("draining", &params)
        .await
        .expect("connect");
    let mut health = HealthClient::new(lease.channel());
    let mut stream = health
        .watch(HealthCheckRequest::default())
        .await
        .expect("watch")
        .into_inner();
    stream
        .next()
        .await
        .expect("first answer")
        .expect("not an error");
    lease.detach();
    (stream, stop)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_call_finish_then_exits_and_removes_its_sockets() {
    let mut daemon = Daemon::start();
    let (stream, _upstream) = open_watch(&daemon).await;
    let alias_socket = daemon.runtime_dir().join("aliases/draining.sock");
    assert!(alias_socket.exists());
    daemon.signal(Signal::SIGTERM);
    // The stream is in flight: the daemon waits for it, but accepts nothing new.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        daemon.is_running(),
        "the daemon did not wait for the in-flight call"
    );
    assert!(
        !alias_socket.exists(),
        "the alias socket is closed while draining"
    );
    drop(stream);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits once the call is over");
    assert!(status.success(), "{status:?}");
    assert!(!daemon.socket().exists(), "the control socket is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_ends_the_drain_at_once() {
    let mut daemon = Daemon::start();
    let (_stream, _upstream) = open_watch(&daemon).await;
    daemon.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(daemon.is_running());
    let started = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(3))
        .expect("a fast exit");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shutdown_grace_bounds_the_drain() {
    let mut daemon = Daemon::start_with(Options {
        args: vec!["--shutdown-grace".into(), "1s".into()],
        ..Default::default()
    });
    let (_stream, _upstream) = open_watch(&daemon).await;
    let started = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits after the grace");
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let mut daemon = Daemon::start_with(Options {
        args: vec!["--log-format".into(), "json".into()],
        ..Default::default()
    });
    daemon.client().status().await.expect("status");
    daemon.stop();
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            value.get("level").is_some() && value.get("fields").is_some(),
            "{line}"
        );
    }
}

/// Checks the lines of a Prometheus text exposition: comments, or `name{labels} value`.
fn assert_prometheus_text(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no closing # EOF");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(value.parse::<f64>().is_ok(), "not a number in {line}");
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line}"
            );
        }
    }
}

fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .map(|v| v.trim().parse().unwrap_or(f64::NAN))
        })
        .unwrap_or_else(|| panic!("{series} missing"))
}

/// GET `path` from the admin endpoint: (status, body).
fn admin_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("admin endpoint");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_http_reports_health_and_prometheus_metrics() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let mut daemon = Daemon::start_with(Options {
        args: vec!["--admin-listen".into(), addr.to_string()],
        ..Default::default()
    });
    assert_eq!(admin_get(addr, "/livez").0, 200);
    assert_eq!(
        admin_get(addr, "/readyz").0,
        200,
        "ready without any Milvus"
    );
    assert_eq!(admin_get(addr, "/startupz").0, 200);
    let (stream, upstream) = open_watch(&daemon).await;
    let (status, metrics) = admin_get(addr, "/metrics");
    assert_eq!(status, 200);
    for needle in [
        "milvus_connd_alias_state{alias=\"draining\",state=\"ready\"} 1",
        "milvus_connd_alias_channels_ready{alias=\"draining\"} 2",
        "milvus_connd_alias_calls_in_flight{alias=\"draining\"} 1",
        "milvus_connd_alias_calls_total{alias=\"draining\"} 1",
        "milvus_connd_channels_opened_total 2",
        "milvus_connd_build_info{version=",
        "milvus_connd_uptime_seconds ",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }
    assert_prometheus_text(&metrics);

    // Counters move with traffic.
    let socket = daemon.runtime_dir().join("aliases/draining.sock");
    let mut stub = milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(
        milvus_connd_client::data_channel(socket),
    );
    for _ in 0..5 {
        stub.get_version(milvus_connd_proto::milvus::GetVersionRequest {})
            .await
            .expect("call");
    }
    // A call is counted when the daemon lets go of its answer, a moment after the client
    // has it: scrape until the figures arrive.
    let needles = [
        "milvus_connd_alias_calls_total{alias=\"draining\"} 6",
        "milvus_connd_alias_calls_by_code_total{alias=\"draining\",code=\"OK\"} 5",
        "milvus_connd_alias_call_duration_seconds_count{alias=\"draining\"} 5",
    ];
    let deadline = Instant::now() + Duration::from_secs(3);
    let after = loop {
        let (_, after) = admin_get(addr, "/metrics");
        if needles.iter().all(|n| after.contains(n)) || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_prometheus_text(&after);
    for needle in needles {
        assert!(after.contains(needle), "{needle} missing from:\n{after}");
    }
    let sent = metric_value(
        &after,
        "milvus_connd_alias_sent_bytes_total{alias=\"draining\"}",
    );
    assert!(sent > 0.0, "answer bytes counted");

    // Milvus (here: the upstream) going away does not make the daemon unready.
    drop(upstream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        admin_get(addr, "/readyz").0,
        200,
        "readiness does not depend on Milvus"
    );

    // Draining: no longer ready, still alive.
    daemon.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(admin_get(addr, "/readyz").0, 503);
    assert_eq!(admin_get(addr, "/livez").0, 200);
    drop(stream);
    assert!(
        daemon
            .wait_exit(Duration::from_secs(5))
            .expect("exits")
            .success()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_added_through_the_api_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt as _;
    let milvus = milvus_connd_tests::milvus::shared(milvus_connd_tests::milvus::Flavor::Auth);
    let keep = tempfile::tempdir().expect("tempdir");
    let state = keep.path().join("state.json");
    let options = Options {
        state_file: Some(state.clone()),
        ..Default::default()
    };
    let mut first = Daemon::start_with(options.clone());
    let params: ConnectParams = serde_json::from_value(json!({
        "uri": format!("http://{}", milvus.address()), "user": "root", "password": "Milvus", "pool_size": 1,
    }))
    .expect("params");
    first
        .client()
        .connect("kept", &params)
        .await
        .expect("connect")
        .detach();
    first
        .client()
        .add("added-only", &params)
        .await
        .expect("add");
    first.client().add("gone", &params).await.expect("add");
    first.client().remove("gone").await.expect("remove");
    assert!(first.stop().success());
    let mode = std::fs::metadata(&state)
        .expect("state file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the state file holds secrets");

    let second = Daemon::start_with(options);
    let list = second.client().list().await.expect("list");
    let names: Vec<&str> = list.aliases.iter().map(|a| a.alias.as_str()).collect();
    assert_eq!(names, ["added-only", "kept"]);
    let info = second.client().get("kept").await.expect("get");
    assert_eq!(info.owner_uid, nix::unistd::geteuid().as_raw());
    assert!(!info.connected, "restored aliases connect when asked");
    // The credentials came back too: an empty connect authenticates.
    let lease = second
        .client()
        .connect("kept", &ConnectParams::default())
        .await
        .expect("connect restored");
    assert!(lease.alias.connected);
}

#[tokio::test]
async fn post_shutdown_drains_like_sigterm_and_only_for_root() {
    let mut daemon = Daemon::start_with(Options {
        args: vec!["--socket-group".into(), "65534".into()],
        ..Default::default()
    });
    if nix::unistd::geteuid().is_root() {
        let denied =
            milvus_connd_tests::daemon::connctl(&daemon, &["shutdown"], None, Some((65534, 65534)));
        assert_eq!(denied.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied"));
        assert!(daemon.is_running());
    }
    daemon.client().shutdown().await.expect("shutdown accepted");
    let status = daemon.wait_exit(Duration::from_secs(5)).expect("stops");
    assert!(status.success(), "{status:?}");
    assert!(!daemon.socket().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_aliases_with_systemd_credentials_serve_and_are_not_persisted() {
    let milvus = milvus_connd_tests::milvus::shared(milvus_connd_tests::milvus::Flavor::Auth);
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).expect("mkdir");
    std::fs::write(credentials.join("milvus-token"), "root:Milvus\n").expect("token");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nshutdown_grace = \"5s\"\n\n[aliases.fromconfig]\nuri = \"http://{}\"\ntoken_file = \"milvus-token\"\npool_size = 1\n",
            milvus.address()
        ),
    )
    .expect("config");
    let state = dir.path().join("state.json");
    let daemon = Daemon::start_with(Options {
        args: vec!["--config".into(), config.display().to_string()],
        env: vec![(
            "CREDENTIALS_DIRECTORY".into(),
            credentials.display().to_string(),
        )],
        state_file: Some(state.clone()),
        ..Default::default()
    });
    let info = daemon
        .client()
        .get("fromconfig")
        .await
        .expect("the config alias exists");
    assert_eq!(info.owner_uid, 0);
    assert_eq!(info.auth, milvus_connd_client::AuthKind::Token);
    // A call on its socket connects it lazily, authenticated with the credential file.
    let ping = milvus_connd_tests::daemon::connctl(&daemon, &["ping", "fromconfig"], None, None);
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stderr)
    );
    daemon
        .client()
        .add(
            "fromapi",
            &serde_json::from_value(json!({"uri": "http://127.0.0.1:1"})).expect("params"),
        )
        .await
        .expect("add");
    let saved = std::fs::read_to_string(&state).expect("state file");
    assert!(
        saved.contains("fromapi") && !saved.contains("fromconfig"),
        "{saved}"
    );
    assert!(
        !saved.contains("root:Milvus"),
        "the credential stays in its file"
    );
}

#[test]
fn check_config_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[aliases.a]\nuri = \"http://127.0.0.1:19530\"\n").expect("write");
    let out = std::process::Command::new(milvus_connd_tests::binary("milvus-connd"))
        .args(["check-config"])
        .arg(&good)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid, 1 alias"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[aliases.a]\nuri = \"http://127.0.0.1:19530\"\ntimeuot = 3\n",
    )
    .expect("write");
    let out = std::process::Command::new(milvus_connd_tests::binary("milvus-connd"))
        .args(["check-config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("timeuot") && stderr.contains("line 3"),
        "{stderr}"
    );
    // The daemon refuses to start on it, too.
    let out = std::process::Command::new(milvus_connd_tests::binary("milvus-connd"))
        .arg("--config")
        .arg(&bad)
        .args([
            "--runtime-dir",
            dir.path().join("rt").to_str().expect("utf8"),
            "--no-state-file",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

fn alias_toml(name: &str, address: &str, pool_size: u32) -> String {
    format!("[aliases.{name}]\nuri = \"http://{address}\"\npool_size = {pool_size}\n\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_aliases_without_failing_calls_on_unchanged_ones() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let milvus = milvus_connd_tests::milvus::shared(milvus_connd_tests::milvus::Flavor::Plain);
    let address = milvus.address();
    let dir = tempfile::tempdir().expect("tempdir");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let config = dir.path().join("config.toml");
    let first = [
        alias_toml("steady", &address, 1),
        alias_toml("grows", &address, 1),
        alias_toml("goes", &address, 1),
    ];
    std::fs::write(&config, first.concat()).expect("config");
    let daemon = Daemon::start_with(Options {
        args: vec!["--config".into(), config.display().to_string()],
        env: vec![("NOTIFY_SOCKET".into(), notify_path.display().to_string())],
        ..Default::default()
    });
    receive_until(&notify, "READY=1", Duration::from_secs(5));
    let steady = daemon
        .client()
        .connect("steady", &ConnectParams::default())
        .await
        .expect("connect steady");
    daemon
        .client()
        .connect("grows", &ConnectParams::default())
        .await
        .expect("connect grows")
        .detach();
    let steady_id = steady.alias.server.clone().expect("server").identifier;

    // Calls on the unchanged alias all through the reload.
    let (ok, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let worker = {
        let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
        let mut stub = milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(
            steady.channel(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match stub
                    .get_version(milvus_connd_proto::milvus::GetVersionRequest {})
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = [
        alias_toml("steady", &address, 1),
        alias_toml("grows", &address, 2),
        alias_toml("arrives", &address, 1),
    ];
    std::fs::write(&config, second.concat()).expect("new config");
    daemon.signal(Signal::SIGHUP);
    let seen = receive_until(&notify, "RELOADING=1", Duration::from_secs(5));
    assert!(
        seen.last().is_some_and(|m| m.contains("MONOTONIC_USEC=")),
        "{seen:?}"
    );
    receive_until(&notify, "READY=1", Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    worker.await.expect("worker");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "calls on the unchanged alias failed"
    );
    assert!(ok.load(Ordering::SeqCst) > 20);

    let client = daemon.client();
    let steady_now = client.get("steady").await.expect("steady");
    assert_eq!(
        steady_now.server.expect("server").identifier,
        steady_id,
        "steady kept its channel"
    );
    assert_eq!(steady_now.leases.len(), 1, "and its lease");
    let grows = client.get("grows").await.expect("grows");
    assert_eq!(
        (grows.pool_size, grows.channels_ready),
        (2, 2),
        "the changed alias reconnected with its new settings"
    );
    assert!(client.get("arrives").await.is_ok());
    assert!(
        client.get("goes").await.is_err(),
        "the removed alias is gone"
    );

    // A broken file is refused whole; the running configuration stays.
    std::fs::write(&config, "[aliases.steady]\nuri = 5\n").expect("broken config");
    let err = client.reload().await.expect_err("refused");
    assert_eq!(err.code(), Some(milvus_connd_client::ErrorCode::ParamError));
    assert!(err.to_string().contains("reload refused"), "{err}");
    assert!(client.get("arrives").await.is_ok() && client.get("steady").await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn alias_sockets_can_be_socket_activated_by_name() {
    let milvus = milvus_connd_tests::milvus::shared(milvus_connd_tests::milvus::Flavor::Plain);
    let dir = tempfile::tempdir().expect("tempdir");
    let control = dir.path().join("control.sock");
    let data = dir.path().join("foo.sock");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[aliases.foo]\nuri = \"http://{}\"\npool_size = 1\n",
            milvus.address()
        ),
    )
    .expect("config");
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&control)
        .arg("-l")
        .arg(&data)
        .arg("--fdname=control:alias-foo")
        .arg(milvus_connd_tests::binary("milvus-connd"))
        .arg("--runtime-dir")
        .arg(dir.path().join("rt"))
        .arg("--no-state-file")
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(control.exists() && data.exists()) {
        assert!(
            Instant::now() < deadline,
            "the activator did not bind its sockets"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = tokio::time::timeout(Duration::from_secs(10), Client::new(&control).get("foo"))
        .await
        .expect("answered in time")
        .expect("the config alias");
    assert_eq!(
        info.endpoints.unix,
        data.display().to_string(),
        "served on the passed socket"
    );
    // A call on the passed data socket reaches Milvus (connecting the alias lazily).
    let mut stub = milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(
        milvus_connd_client::data_channel(data.clone()),
    );
    let version = stub
        .get_version(milvus_connd_proto::milvus::GetVersionRequest {})
        .await
        .expect("through the activated alias socket")
        .into_inner()
        .version;
    assert_eq!(version, "v2.3.5-lite");
    let pid = nix::unistd::Pid::from_raw(activator.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = activator.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigquit_stops_at_once_even_with_calls_in_flight() {
    let mut daemon = Daemon::start();
    let (_stream, _upstream) = open_watch(&daemon).await;
    let started = Instant::now();
    daemon.signal(Signal::SIGQUIT);
    let status = daemon
        .wait_exit(Duration::from_secs(3))
        .expect("stops at once");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
