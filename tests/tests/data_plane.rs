//! The data plane with real clients: pymilvus 3.0.2 (MilvusClient and the ORM) through an
//! alias's Unix socket and TCP listener against a Milvus with authentication and mutual
//! TLS, many client processes at once, large messages, the header policy, leases and idle
//! closing.

use std::time::{Duration, Instant};

use milvus_connd_client::{ConnectParams, ErrorCode, data_channel};
use milvus_connd_proto::milvus::GetVersionRequest;
use milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient;
use milvus_connd_tests::daemon::{Daemon, Options, connctl};
use milvus_connd_tests::milvus::{Flavor, Milvus, run_python, shared};
use milvus_connd_tests::net::established_to;
use milvus_connd_tests::{certs, params};
use serde_json::{Value, json};

/// Alias parameters for the mutual-TLS + auth server.
fn secure_alias(milvus: &Milvus, extra: Value) -> ConnectParams {
    let certs = certs::shared();
    let mut value = json!({
        "address": milvus.address(), "secure": true, "token": "root:Milvus",
        "server_name": "localhost", "ca_pem_path": certs.path("ca.pem"),
        "client_pem_path": certs.path("client.pem"), "client_key_path": certs.path("client.key"),
    });
    if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    params(value)
}

/// MilvusClient arguments for a direct connection to the mutual-TLS + auth server.
fn direct_kwargs(milvus: &Milvus) -> String {
    let certs = certs::shared();
    json!({
        "uri": format!("https://{}", milvus.address()), "token": "root:Milvus",
        "server_name": "localhost", "ca_pem_path": certs.path("ca.pem"),
        "client_pem_path": certs.path("client.pem"), "client_key_path": certs.path("client.key"),
    })
    .to_string()
}

fn assert_workload(output: &str) {
    let result: Value = serde_json::from_str(output.trim()).expect("workload json");
    assert_eq!(
        result["proxy"], result["direct"],
        "search results differ from a direct connection"
    );
    assert_eq!(result["proxy"][0][0], 0, "a vector finds itself first");
    assert_eq!(result["proxy"].as_array().map(Vec::len), Some(5));
    assert_eq!(result["queried"], 100);
    assert_eq!(result["after_delete"], 0);
    assert_eq!(result["dropped"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn pymilvus_workload_through_the_unix_socket_and_the_tcp_listener_without_credentials() {
    let milvus = shared(Flavor::MutualTlsAuth);
    let daemon = Daemon::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let tcp = listener.local_addr().expect("addr");
    drop(listener);
    let lease = daemon
        .client()
        .connect(
            "secure",
            &secure_alias(milvus, json!({"listen_tcp": tcp.to_string()})),
        )
        .await
        .expect("connect");
    let socket = lease.alias.endpoints.unix.clone();
    assert_eq!(
        lease.alias.endpoints.tcp.as_deref(),
        Some(tcp.to_string().as_str())
    );
    // Stock pymilvus on `unix:` (grpcio sends the socket path as :authority).
    let direct = direct_kwargs(milvus);
    let unix_uri = format!("unix:{socket}");
    let tcp_uri = format!("http://{tcp}");
    let (unix_run, tcp_run) = tokio::join!(
        tokio::task::spawn_blocking({
            let direct = direct.clone();
            move || run_python("workload.py", &[&unix_uri, &direct])
        }),
        tokio::task::spawn_blocking(move || run_python("workload.py", &[&tcp_uri, &direct])),
    );
    assert_workload(&unix_run.expect("unix run"));
    assert_workload(&tcp_run.expect("tcp run"));

    let orm: Value =
        serde_json::from_str(run_python("orm.py", &[&format!("unix:{socket}")]).trim())
            .expect("json");
    assert_eq!(orm["version"], "v2.3.5-lite");
    assert_eq!(orm["connected"], true);
    // grpcio did send its percent-encoded socket path, and the adapter replaced it.
    let status = daemon.client().status().await.expect("status");
    assert!(
        status.authority_rewrites_total > 0,
        "no :authority was rewritten"
    );
    assert!(
        !daemon.log().contains("cm9vdDpNaWx2dXM"),
        "authorization in the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_processes_share_exactly_pool_size_upstream_connections() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let lease = daemon
        .client()
        .connect(
            "many",
            &params(
                json!({"uri": format!("http://root:Milvus@{}", milvus.address()), "pool_size": 2}),
            ),
        )
        .await
        .expect("connect");
    let uri = format!("unix:{}", lease.alias.endpoints.unix);
    run_python("collection.py", &[&uri, "many_clients", "prepare"]);
    let workers: Vec<_> = (0..16)
        .map(|_| {
            std::process::Command::new(milvus_connd_tests::milvus::python())
                .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/searcher.py"))
                .args([&uri, "many_clients", "200"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn searcher")
        })
        .collect();
    let mut peak = 0;
    let started = Instant::now();
    let mut outputs = Vec::new();
    for worker in workers {
        peak = peak.max(established_to(daemon.pid(), milvus.port));
        outputs.push(
            tokio::task::spawn_blocking(move || worker.wait_with_output())
                .await
                .expect("join")
                .expect("wait"),
        );
    }
    for output in &outputs {
        assert!(
            output.status.success(),
            "a searcher failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        established_to(daemon.pid(), milvus.port),
        2,
        "exactly pool_size upstream connections"
    );
    assert!(peak <= 2, "peak upstream connections {peak}");
    let status = daemon.client().status().await.expect("status");
    assert_eq!(status.channels_opened_total, 2);
    eprintln!("16 x 200 searches in {:?}", started.elapsed());
    run_python("collection.py", &[&uri, "many_clients", "drop"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_64_mib_insert_and_a_large_search_answer_pass_through() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let lease = daemon
        .client()
        .connect(
            "big",
            &params(json!({"uri": format!("http://{}", milvus.address())})),
        )
        .await
        .expect("connect");
    let uri = format!("unix:{}", lease.alias.endpoints.unix);
    run_python("collection.py", &[&uri, "big_messages", "prepare"]);
    let out: Value = serde_json::from_str(
        run_python("collection.py", &[&uri, "big_messages", "big", "64"]).trim(),
    )
    .expect("json");
    assert_eq!(out["inserted"], out["rows"]);
    assert_eq!(out["rows"], 131_072);
    assert_eq!(out["hits"], 200_000);
    run_python("collection.py", &[&uri, "big_messages", "drop"]);
}

#[tokio::test]
async fn the_clients_own_authorization_never_reaches_milvus() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let lease = daemon
        .client()
        .connect(
            "auth",
            &params(json!({"uri": format!("http://{}", milvus.address()), "token": "root:Milvus"})),
        )
        .await
        .expect("connect");
    let bogus = tonic::metadata::MetadataValue::from_static("Ym9ndXM6Ym9ndXM=");
    let mut request = tonic::Request::new(GetVersionRequest {});
    request
        .metadata_mut()
        .insert("authorization", bogus.clone());
    // Directly, Milvus rejects the bogus credentials.
    let direct = tonic::transport::Endpoint::from_shared(format!("http://{}", milvus.address()))
        .expect("uri")
        .connect()
        .await
        .expect("dial");
    let err = MilvusServiceClient::new(direct)
        .get_version(request)
        .await
        .expect_err("bogus rejected");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // Through the daemon the same request succeeds: its authorization was replaced.
    let mut request = tonic::Request::new(GetVersionRequest {});
    request.metadata_mut().insert("authorization", bogus);
    let answer = MilvusServiceClient::new(lease.channel())
        .get_version(request)
        .await
        .expect("through the proxy");
    assert_eq!(answer.into_inner().version, "v2.3.5-lite");
}

#[tokio::test]
async fn leases_are_counted_and_released_and_unknown_ones_refused() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let client = daemon.client();
    let p = params(json!({"uri": format!("http://{}", milvus.address())}));
    let first = client.connect("leased", &p).await.expect("connect");
    let second = client.connect("leased", &p).await.expect("connect again");
    assert!(second.reused);
    assert_eq!(client.get("leased").await.expect("get").leases.len(), 2);
    let holder = &client.get("leased").await.expect("get").leases[0];
    assert_eq!(holder.pid, std::process::id() as i32);
    second.release().await.expect("release");
    assert_eq!(client.get("leased").await.expect("get").leases.len(), 1);
    let err = client
        .release("leased", "no-such-lease")
        .await
        .expect_err("unknown lease");
    assert_eq!(err.code(), Some(ErrorCode::LeaseNotFound));

    drop(first);
}

#[tokio::test]
async fn a_killed_holder_is_reaped_and_disconnect_respects_other_holders() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let client = daemon.client();
    let uri = format!("http://{}", milvus.address());
    // A Python process connects through the control socket and holds its lease.
    let holder = std::process::Command::new(milvus_connd_tests::milvus::python())
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/hold_lease.py"))
        .args([daemon.socket().to_str().expect("utf8"), "held", &uri])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn holder");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get("held")
        .await
        .map(|i| i.leases.len())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "holder never took its lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let info = client.get("held").await.expect("get");
    assert_eq!(info.leases[0].pid, holder.id() as i32);
    // Another process's lease blocks a plain disconnect.
    let err = client.disconnect("held", false).await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::ParamError));
    assert!(err.to_string().contains("force"), "{err}");
    // kill -9 the holder: its lease is reaped within a few seconds.
    let mut holder = holder;
    holder.kill().expect("kill -9");
    holder.wait().expect("reap");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !client.get("held").await.expect("get").leases.is_empty() {
        assert!(Instant::now() < deadline, "dead holder's lease not reaped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .disconnect("held", false)
        .await
        .expect("disconnect once nobody holds it");
}

#[tokio::test]
async fn idle_aliases_close_their_upstream_connections_and_reopen_on_the_next_call() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let client = daemon.client();
    let lease = client
        .connect(
            "idle",
            &params(json!({"uri": format!("http://{}", milvus.address()), "idle_timeout": 2})),
        )
        .await
        .expect("connect");
    let socket = lease.alias.endpoints.unix.clone();
    assert_eq!(established_to(daemon.pid(), milvus.port), 2);
    lease.release().await.expect("release");
    let deadline = Instant::now() + Duration::from_secs(8);
    while established_to(daemon.pid(), milvus.port) != 0 {
        assert!(Instant::now() < deadline, "idle channels not closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.get("idle").await.expect("get").state.as_str(),
        "idle"
    );
    // The next call on the socket reconnects (lazy connect), with no control call.
    let mut stub = MilvusServiceClient::new(data_channel(socket.into()));
    let version = stub
        .get_version(GetVersionRequest {})
        .await
        .expect("call reopens")
        .into_inner()
        .version;
    assert_eq!(version, "v2.3.5-lite");
    assert_eq!(
        client.get("idle").await.expect("get").state.as_str(),
        "ready"
    );
    assert_eq!(established_to(daemon.pid(), milvus.port), 2);
}

#[tokio::test]
async fn keep_warm_aliases_stay_open() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let lease = daemon
        .client()
        .connect("warm", &params(json!({"uri": format!("http://{}", milvus.address()), "idle_timeout": 1, "keep_warm": true})))
        .await
        .expect("connect");
    lease.release().await.expect("release");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(daemon.client().get("warm").await.expect("get").connected);
}

#[tokio::test]
async fn a_uid_without_access_gets_permission_denied_on_the_data_socket() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start_with(Options {
        args: vec!["--socket-group".into(), "65534".into()],
        ..Default::default()
    });
    daemon
        .client()
        .connect(
            "private",
            &params(json!({"uri": format!("http://{}", milvus.address())})),
        )
        .await
        .expect("connect")
        .detach();
    let own = connctl(&daemon, &["ping", "private"], None, None);
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    // nobody reaches the socket (its group may connect) but may not use the alias; the
    // control API would not even name the socket to it, so the path is given directly.
    let socket = daemon.runtime_dir().join("aliases/private.sock");
    let socket = socket.to_str().expect("utf8");
    let denied = connctl(
        &daemon,
        &["ping", "private", "--data-socket", socket],
        None,
        Some((65534, 65534)),
    );
    assert_eq!(denied.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("PermissionDenied"), "{stderr}");
}
