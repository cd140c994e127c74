//! `docs/openapi.json` against the running daemon: every documented route is served, and
//! the documented schemas name exactly the fields the daemon reads and writes.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use milvus_connd_client::{ConnectParams, ErrorCode, PoolMode, Port, Secret};
use milvus_connd_tests::daemon::Daemon;
use serde_json::Value;

fn document() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json"))
        .expect("valid JSON")
}

/// The status line and the start of the body of one request.
fn exchange(daemon: &Daemon, method: &str, path: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(daemon.socket()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let body = if method == "GET" || method == "DELETE" {
        ""
    } else {
        "{}"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = vec![0u8; 4096];
    let mut read = 0;
    // Streams (events) never end: whatever arrived within the timeout will do.
    while let Ok(n) = stream.read(&mut answer[read..]) {
        if n == 0 || read + n == answer.len() {
            read += n;
            break;
        }
        read += n;
    }
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_documented_route_is_served() {
    let daemon = Daemon::start();
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut shutdown = None;
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path.replace("{alias}", "probe");
            if concrete == "/v1/shutdown" {
                shutdown = Some(concrete);
                continue;
            }
            let (status, text) = exchange(&daemon, &method.to_uppercase(), &concrete);
            assert!(status != 0, "{method} {path}: no answer");
            assert!(
                !text.contains("no such route") && status != 405,
                "{method} {path} is not served: {text}"
            );
        }
    }
    // Undocumented methods on documented paths are refused.
    assert_eq!(exchange(&daemon, "PATCH", "/v1/aliases/probe").0, 405);
    // Last, as it stops the daemon.
    let (status, _) = exchange(
        &daemon,
        "POST",
        &shutdown.expect("/v1/shutdown is documented"),
    );
    assert_eq!(status, 202);
}

#[tokio::test]
async fn documented_schemas_match_what_the_daemon_speaks() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    // Every connect parameter the daemon accepts, and no other.
    let every = ConnectParams {
        alias: Some("a".into()),
        user: Some("u".into()),
        password: Some(Secret::new("p")),
        db_name: Some("d".into()),
        token: Some(Secret::new("t")),
        password_file: Some("f".into()),
        token_file: Some("f".into()),
        address: Some("h:1".into()),
        uri: Some("http://h".into()),
        host: Some("h".into()),
        port: Some(Port::Number(1)),
        secure: Some(true),
        client_key_path: Some("k".into()),
        client_pem_path: Some("c".into()),
        ca_pem_path: Some("a".into()),
        server_pem_path: Some("s".into()),
        server_name: Some("n".into()),
        timeout: Some(1.0),
        handler: Some("GRPC".into()),
        pool: Some(PoolMode::Shared),
        pool_size: Some(1),
        listen_tcp: Some("127.0.0.1:1".into()),
        keep_warm: Some(true),
        idle_timeout: Some(1.0),
        allow_client_db: Some(true),
        max_lifetime: Some(1.0),
        backoff_initial: Some(1.0),
        backoff_max: Some(2.0),
    };
    let sent = serde_json::to_value(&every).expect("serialize");
    assert_eq!(keys(&schemas["ConnectParams"]["properties"]), keys(&sent));

    // The answers the daemon gives carry every documented required field.
    let daemon = Daemon::start();
    let info = daemon
        .client()
        .add(
            "documented",
            &serde_json::from_value(serde_json::json!({"uri": "http://127.0.0.1:1"}))
                .expect("params"),
        )
        .await
        .expect("add");
    let info = serde_json::to_value(&info).expect("info");
    let status =
        serde_json::to_value(daemon.client().status().await.expect("status")).expect("status");
    for (schema, answer) in [("AliasInfo", &info), ("StatusInfo", &status)] {
        let required: BTreeSet<String> = schemas[schema]["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let documented = keys(&schemas[schema]["properties"]);
        let given = keys(answer);
        assert!(
            required.is_subset(&given),
            "{schema}: missing {:?}",
            required.difference(&given).collect::<Vec<_>>()
        );
        assert!(
            given.is_subset(&documented),
            "{schema}: undocumented {:?}",
            given.difference(&documented).collect::<Vec<_>>()
        );
    }
    // The error codes are exactly the protocol's.
    let documented: BTreeSet<String> =
        schemas["ErrorBody"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .expect("codes")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
    let actual: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(documented, actual);
}
