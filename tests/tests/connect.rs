//! Connecting aliases to a real Milvus 2.3.5: plaintext, authentication, one-way and mutual
//! TLS, and every failure cause the daemon must name.

use std::time::{Duration, Instant};

use milvus_connd_client::{ApiError, ClientError, ConnectParams, ErrorCode};
use milvus_connd_tests::daemon::{Daemon, Options};
use milvus_connd_tests::milvus::{Flavor, shared};
use milvus_connd_tests::{certs, params};
use serde_json::json;

async fn connect_err(daemon: &Daemon, alias: &str, value: serde_json::Value) -> ApiError {
    match daemon.client().connect(alias, &params(value)).await {
        Err(ClientError::Api(err)) => err,
        other => panic!("connect {alias} should fail, got {other:?}"),
    }
}

#[tokio::test]
async fn plaintext_alias_is_ready_and_shows_the_server_version() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let answer = daemon
        .client()
        .connect(
            "plain",
            &params(json!({"uri": format!("http://{}", milvus.address())})),
        )
        .await
        .expect("connect");
    assert!(!answer.reused);
    let info = daemon.client().get("plain").await.expect("get");
    assert_eq!(info.state.as_str(), "ready");
    assert!(info.connected);
    let server = info.server.expect("server info");
    assert_eq!(server.version, "v2.3.5-lite");
    assert_ne!(server.identifier, 0, "Connect's identifier is kept");
}

#[tokio::test]
async fn authenticated_aliases_reach_ready_by_every_credential_path_and_hide_the_secret() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let address = milvus.address();
    let cases = [
        (
            "userpass",
            json!({"address": address, "user": "root", "password": "Milvus"}),
        ),
        (
            "token",
            json!({"uri": format!("http://{address}"), "token": "root:Milvus"}),
        ),
        (
            "userinfo",
            json!({"uri": format!("http://root:Milvus@{address}")}),
        ),
    ];
    for (alias, value) in cases {
        let answer = daemon
            .client()
            .connect(alias, &params(value))
            .await
            .expect(alias);
        assert_eq!(answer.alias.state.as_str(), "ready", "{alias}");
        let info = daemon.client().get(alias).await.expect("get");
        assert_eq!(info.user, "root", "{alias}");
        let shown = serde_json::to_string(&info).expect("json");
        assert!(
            !shown.contains("Milvus\""),
            "{alias}: secret shown in {shown}"
        );
        assert!(
            !shown.contains("cm9vdDpNaWx2dXM"),
            "{alias}: authorization shown"
        );
    }
    let log = daemon.log();
    assert!(
        !log.contains("root:Milvus") && !log.contains("cm9vdDpNaWx2dXM"),
        "secret in log"
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_unauthenticated_with_milvus_message() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let uri = format!("http://{}", milvus.address());
    let err = connect_err(
        &daemon,
        "bad",
        json!({"uri": uri, "user": "root", "password": "wrong-pw-17"}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    assert!(
        err.message.contains("auth check failure"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("wrong-pw-17") && !format!("{err:?}").contains("wrong-pw-17"));
    let err = connect_err(&daemon, "none", json!({"uri": uri})).await;
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    assert!(
        err.message.contains("missing authorization"),
        "{}",
        err.message
    );
    assert!(!daemon.log().contains("wrong-pw-17"), "secret in log");
    // A failed connect creates nothing.
    assert!(
        daemon
            .client()
            .list()
            .await
            .expect("list")
            .aliases
            .is_empty()
    );
}

#[tokio::test]
async fn one_way_tls_needs_the_right_ca_and_name() {
    let milvus = shared(Flavor::Tls);
    let certs = certs::shared();
    let daemon = Daemon::start();
    let address = milvus.address();
    let ok = daemon
        .client()
        .connect("tls", &params(json!({"address": address, "secure": true, "ca_pem_path": certs.path("ca.pem"), "server_name": "localhost"})))
        .await
        .expect("tls connect");
    assert!(ok.alias.tls.secure);
    // server_pem_path alone is pymilvus's one-way form.
    daemon
        .client()
        .connect("tls-server-pem", &params(json!({"address": address, "secure": true, "server_pem_path": certs.path("ca.pem")})))
        .await
        .expect("server_pem_path connect");

    let err = connect_err(
        &daemon,
        "system-roots",
        json!({"uri": format!("https://{address}")}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::TlsError, "{err}");
    assert!(err.message.contains("trusted CA"), "{}", err.message);
    let err = connect_err(
        &daemon,
        "wrong-ca",
        json!({"address": address, "ca_pem_path": certs.path("other-ca.pem")}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::TlsError, "{err}");
    let err = connect_err(&daemon, "wrong-name", json!({"address": address, "ca_pem_path": certs.path("ca.pem"), "server_name": "milvus.example"})).await;
    assert_eq!(err.code, ErrorCode::TlsError, "{err}");
    assert!(err.message.contains("server_name"), "{}", err.message);
    // A plaintext alias pointed at a TLS-only port is told to set secure.
    let err = connect_err(
        &daemon,
        "plaintext",
        json!({"address": address, "timeout": 3}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::TlsError, "{err}");
    assert!(err.message.contains("secure=true"), "{}", err.message);
}

#[tokio::test]
async fn mutual_tls_with_auth_needs_the_client_certificate() {
    let milvus = shared(Flavor::MutualTlsAuth);
    let certs = certs::shared();
    let daemon = Daemon::start();
    let address = milvus.address();
    daemon
        .client()
        .connect("mtls", &params(json!({
            "address": address, "secure": true, "token": "root:Milvus",
            "ca_pem_path": certs.path("ca.pem"),
            "client_pem_path": certs.path("client.pem"), "client_key_path": certs.path("client.key"),
        })))
        .await
        .expect("mtls connect");
    let err = connect_err(
        &daemon,
        "no-client-cert",
        json!({"address": address, "token": "root:Milvus", "ca_pem_path": certs.path("ca.pem")}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::TlsError, "{err}");
    assert!(
        err.message.contains("client certificate"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn refused_silent_and_http_ports_are_named() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let started = Instant::now();
    let err = connect_err(
        &daemon,
        "refused",
        json!({"host": "127.0.0.1", "port": closed_port}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("refused"), "{}", err.message);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refusal took {:?}",
        started.elapsed()
    );

    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let started = Instant::now();
    let err = connect_err(
        &daemon,
        "silent",
        json!({"host": "127.0.0.1", "port": silent_port, "timeout": 1.5}),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    assert!(err.retriable);
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(4),
        "waited {waited:?}"
    );
    drop(silent);

    let err = connect_err(
        &daemon,
        "http-port",
        json!({"host": "127.0.0.1", "port": milvus.http_port()}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::Unimplemented, "{err}");
    assert!(err.message.contains("HTTP port"), "{}", err.message);

    let err = connect_err(
        &daemon,
        "dns",
        json!({"uri": "http://no-such-host.invalid:19530"}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("DNS"), "{}", err.message);
}

#[tokio::test]
async fn databases_are_checked() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let uri = format!("http://{}", milvus.address());
    let err = connect_err(&daemon, "nodb", json!({"uri": format!("{uri}/no_such_db")})).await;
    assert_eq!(err.code, ErrorCode::DatabaseNotFound, "{err}");
    // Create a database directly, then connect to it by the URI path (pymilvus ignores it).
    let channel = tonic::transport::Endpoint::from_shared(uri.clone())
        .expect("uri")
        .connect()
        .await
        .expect("dial");
    let mut stub =
        milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(channel);
    stub.create_database(milvus_connd_proto::milvus::CreateDatabaseRequest {
        base: None,
        db_name: "connd_db".into(),
    })
    .await
    .expect("create database");
    let answer = daemon
        .client()
        .connect("withdb", &params(json!({"uri": format!("{uri}/connd_db")})))
        .await
        .expect("connect");
    assert_eq!(answer.alias.db_name, "connd_db");
}

#[tokio::test]
async fn same_config_is_idempotent_and_different_config_is_refused() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let client = daemon.client();
    let p = params(json!({"uri": format!("http://{}", milvus.address())}));
    client.connect("a", &p).await.expect("first");
    let before = client.status().await.expect("status");
    let again = client.connect("a", &p).await.expect("second");
    assert!(again.reused);
    // An empty body means "as configured".
    assert!(
        client
            .connect("a", &ConnectParams::default())
            .await
            .expect("empty")
            .reused
    );
    let after = client.status().await.expect("status");
    assert_eq!(
        after.channels_opened_total, before.channels_opened_total,
        "no second channel"
    );
    assert_eq!(
        after.channels_open, 2,
        "one pool of the default two channels"
    );

    let err = connect_err(
        &daemon,
        "a",
        json!({"uri": format!("http://{}", milvus.address()), "db_name": "other"}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::ConnDiffConf);
    assert_eq!(
        err.message,
        "Alias of 'a' already creating connections, but the configure is not the same as passed in."
    );
    // The refused call changed nothing.
    assert_eq!(client.get("a").await.expect("get").db_name, "default");
}

#[tokio::test]
async fn shared_pools_share_channels_and_dedicated_ones_do_not() {
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start();
    let client = daemon.client();
    let uri = format!("http://{}", milvus.address());
    client
        .connect("s1", &params(json!({"uri": uri})))
        .await
        .expect("s1");
    client
        .connect("s2", &params(json!({"uri": uri})))
        .await
        .expect("s2");
    // One pool of the default two channels serves both.
    assert_eq!(client.status().await.expect("status").channels_open, 2);
    client
        .connect("d1", &params(json!({"uri": uri, "pool": "dedicated"})))
        .await
        .expect("d1");
    assert_eq!(client.status().await.expect("status").channels_open, 4);
    client.disconnect("s1", false).await.expect("disconnect s1");
    assert_eq!(
        client.status().await.expect("status").channels_open,
        4,
        "s2 still holds the shared pool"
    );
    client.disconnect("s2", false).await.expect("disconnect s2");
    assert_eq!(client.status().await.expect("status").channels_open, 2);
}

#[tokio::test]
async fn disconnect_keeps_the_config_and_remove_forgets_it() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let client = daemon.client();
    // pymilvus: connect(uri=...), disconnect, connect() raises a TypeError on db_name.
    client
        .connect(
            "c1",
            &params(json!({"uri": format!("http://root:Milvus@{}/default", milvus.address())})),
        )
        .await
        .expect("connect");
    let info = client.disconnect("c1", false).await.expect("disconnect");
    assert!(!info.connected);
    let listed = client.list().await.expect("list");
    assert_eq!(listed.aliases.len(), 1);
    assert!(
        !listed.aliases[0].connected,
        "has_connection is false after disconnect"
    );
    let again = client
        .connect("c1", &ConnectParams::default())
        .await
        .expect("reconnect from stored config");
    assert!(again.alias.connected && !again.reused);
    let socket = std::path::PathBuf::from(&again.alias.endpoints.unix);
    assert!(
        socket.exists(),
        "the alias socket exists while the alias does"
    );
    client.remove("c1").await.expect("remove");
    assert!(!socket.exists(), "the alias socket goes with the alias");
    let err = client.get("c1").await.expect_err("gone");
    assert_eq!(err.code(), Some(ErrorCode::AliasNotFound));
}

#[tokio::test]
async fn add_stores_without_connecting_and_connect_overrides_it() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let client = daemon.client();
    let before = client.status().await.expect("status").channels_opened_total;
    let info = client
        .add("cfg", &params(json!({"uri": format!("http://{}", milvus.address()), "user": "root", "password": "nope"})))
        .await
        .expect("add");
    assert!(!info.connected);
    assert!(
        std::path::Path::new(&info.endpoints.unix).exists(),
        "add opens the alias socket"
    );
    assert_eq!(
        client.status().await.expect("status").channels_opened_total,
        before,
        "add connects nothing"
    );
    // The token given to connect wins on the stored-config path (pymilvus drops it there).
    let answer = client
        .connect("cfg", &params(json!({"token": "root:Milvus"})))
        .await
        .expect("connect with token");
    assert!(answer.alias.connected);

    // Address parameters given to connect replace the stored address.
    client
        .add("moved", &params(json!({"address": "127.0.0.1:1"})))
        .await
        .expect("add");
    let answer = client
        .connect(
            "moved",
            &params(json!({"address": milvus.address(), "token": "root:Milvus"})),
        )
        .await
        .expect("connect to the new address");
    assert_eq!(answer.alias.address, milvus.address());
}

#[tokio::test]
async fn milvus_uri_from_environment_or_dotenv_and_conn_lack_conf() {
    let milvus = shared(Flavor::Plain);
    let uri = format!("http://{}", milvus.address());
    let from_env = Daemon::start_with(Options {
        env: vec![("MILVUS_URI".into(), uri.clone())],
        ..Default::default()
    });
    let answer = from_env
        .client()
        .connect("envalias", &ConnectParams::default())
        .await
        .expect("env uri");
    assert_eq!(answer.alias.address, milvus.address());

    let from_dotenv = Daemon::start_with(Options {
        dotenv: Some(format!("MILVUS_URI={uri}\n")),
        ..Default::default()
    });
    let answer = from_dotenv
        .client()
        .connect("dotenv", &ConnectParams::default())
        .await
        .expect(".env uri");
    assert_eq!(answer.alias.address, milvus.address());

    let bare = Daemon::start();
    let err = connect_err(&bare, "nocfg", json!({})).await;
    assert_eq!(err.code, ErrorCode::ConnLackConf);
    assert_eq!(
        err.message,
        "You need to pass in the configuration of the connection named 'nocfg'."
    );
}

#[tokio::test]
async fn handler_and_pool_values_are_checked_against_a_running_daemon() {
    let daemon = Daemon::start();
    let err = connect_err(
        &daemon,
        "h",
        json!({"uri": "http://127.0.0.1:1", "handler": "HTTP"}),
    )
    .await;
    assert_eq!(err.code, ErrorCode::NotImplemented);
    let err = daemon
        .client()
        .add("p", &ConnectParams::default())
        .await
        .map(|_| ());
    assert!(
        err.is_ok(),
        "an empty add stores localhost:19530 as pymilvus does"
    );
    let info = daemon.client().get("p").await.expect("get");
    assert_eq!(info.address, "localhost:19530");
}
