//! The control API against bad input, slow clients and other users, and the CLI; each
//! bad request is sent to a running daemon, which must answer with a stable code, change
//! nothing and keep serving.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use milvus_connd_client::{ConnectParams, ErrorBody};
use milvus_connd_tests::daemon::{Daemon, Options, connctl};
use milvus_connd_tests::milvus::{Flavor, shared};
use serde_json::json;

/// Sends raw bytes on a new control connection and returns the status and body.
fn raw(daemon: &Daemon, request: &[u8]) -> (u16, String) {
    let mut stream = UnixStream::connect(daemon.socket()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn error_of(body: &str) -> ErrorBody {
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("not an error body ({e}): {body}"))
}

#[tokio::test]
async fn bad_requests_get_stable_codes_and_change_nothing() {
    let daemon = Daemon::start();
    daemon
        .client()
        .add(
            "keep",
            &serde_json::from_value::<ConnectParams>(json!({"address": "127.0.0.1:1"}))
                .expect("params"),
        )
        .await
        .expect("add");
    let before = daemon.client().list().await.expect("list");
    let big = format!("{{\"uri\":\"{}\"}}", "x".repeat(70 * 1024));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            request("PUT", "/v1/aliases/keep", "{\"uri\":"),
            400,
            "invalid request body",
        ),
        (
            "unknown field",
            request(
                "PUT",
                "/v1/aliases/keep",
                r#"{"uri":"http://h","pasword":"x"}"#,
            ),
            400,
            "unknown field `pasword`",
        ),
        (
            "wrong type",
            request("PUT", "/v1/aliases/keep", r#"{"secure":"yes"}"#),
            400,
            "invalid type",
        ),
        (
            "oversized body",
            request("PUT", "/v1/aliases/keep", &big),
            413,
            "larger than 64 KiB",
        ),
        (
            "bad alias name",
            request("PUT", "/v1/aliases/..evil", "{}"),
            400,
            "invalid alias name",
        ),
        (
            "alias too long",
            request("PUT", &format!("/v1/aliases/{}", "a".repeat(65)), "{}"),
            400,
            "longer than 64",
        ),
        (
            "wrong method",
            request("PATCH", "/v1/aliases/keep", "{}"),
            405,
            "method not allowed",
        ),
        (
            "unknown path",
            request("GET", "/v1/nothing", ""),
            404,
            "no such route",
        ),
        (
            "unreadable certificate",
            request(
                "PUT",
                "/v1/aliases/keep",
                r#"{"address":"127.0.0.1:1","ca_pem_path":"/nonexistent/ca.pem"}"#,
            ),
            400,
            "ca_pem_path",
        ),
        (
            "bad uri",
            request(
                "PUT",
                "/v1/aliases/keep",
                r#"{"uri":"ftp://root:s3cret@h"}"#,
            ),
            400,
            "is illegal",
        ),
        (
            "body alias differs",
            request("PUT", "/v1/aliases/keep", r#"{"alias":"other"}"#),
            400,
            "differs",
        ),
        (
            "connect unknown alias with nothing",
            request("POST", "/v1/aliases/ghost/connect", ""),
            400,
            "ConnLackConf",
        ),
        (
            "get unknown alias",
            request("GET", "/v1/aliases/ghost", ""),
            404,
            "AliasNotFound",
        ),
    ];
    for (what, bytes, want_status, needle) in cases {
        let (status, body) = raw(&daemon, &bytes);
        assert_eq!(status, want_status, "{what}: {body}");
        let err = error_of(&body);
        let text = format!("{}: {}", err.error.code, err.error.message);
        assert!(text.contains(needle), "{what}: {text}");
        assert!(!text.contains("s3cret"), "{what}: secret echoed: {text}");
    }
    // Not HTTP at all.
    let (status, _) = raw(&daemon, b"\x16\x03\x01garbage\r\n\r\n");
    assert_eq!(status, 400);
    assert_eq!(
        daemon.client().list().await.expect("list"),
        before,
        "bad input changed nothing"
    );
    let info = daemon.client().get("keep").await.expect("get");
    assert_eq!(info.address, "127.0.0.1:1");
    assert!(!daemon.log().contains("s3cret"), "secret in log");
}

#[tokio::test]
async fn a_stalled_client_is_timed_out_and_holds_up_nobody() {
    let daemon = Daemon::start_with(Options {
        args: vec!["--request-timeout".into(), "1s".into()],
        ..Default::default()
    });
    let mut stalled = UnixStream::connect(daemon.socket()).expect("connect");
    stalled
        .write_all(b"PUT /v1/aliases/slow HTTP/1.1\r\nHost: x\r\nContent-Le")
        .expect("half a request");
    let mut stalled_body = UnixStream::connect(daemon.socket()).expect("connect");
    stalled_body
        .write_all(
            b"PUT /v1/aliases/slow2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"uri\":",
        )
        .expect("headers and part of the body");
    // Others are served meanwhile.
    let started = Instant::now();
    daemon
        .client()
        .status()
        .await
        .expect("status while others stall");
    assert!(started.elapsed() < Duration::from_millis(500));
    // The stalled connections are closed after the request timeout.
    for (what, stream) in [("headers", &mut stalled), ("body", &mut stalled_body)] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let started = Instant::now();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{what}: not closed in time"
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty() || text.contains(" 408 ") || text.contains(" 400 "),
            "{what}: {text}"
        );
    }
    assert!(
        daemon
            .client()
            .list()
            .await
            .expect("list")
            .aliases
            .is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn sockets_and_directories_have_restricted_modes() {
    let daemon = Daemon::start();
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&daemon.runtime_dir()), 0o750);
    assert_eq!(mode(&daemon.runtime_dir().join("aliases")), 0o750);
    assert_eq!(mode(&daemon.socket()), 0o660);
}

const NOBODY: (u32, u32) = (65534, 65534);

#[tokio::test]
async fn another_uid_cannot_see_or_use_roots_alias() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let milvus = shared(Flavor::Plain);
    let daemon = Daemon::start_with(Options {
        args: vec!["--socket-group".into(), NOBODY.1.to_string()],
        ..Default::default()
    });
    let uri = format!("http://{}", milvus.address());
    daemon
        .client()
        .connect(
            "roots",
            &serde_json::from_value::<ConnectParams>(json!({"uri": uri})).expect("params"),
        )
        .await
        .expect("root connects");

    let listed = connctl(&daemon, &["--json", "list"], None, Some(NOBODY));
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json list");
    assert_eq!(list["aliases"], json!([]), "nobody sees no alias");

    for args in [
        vec!["get", "roots"],
        vec!["connect", "roots"],
        vec!["disconnect", "roots"],
        vec!["remove", "roots"],
    ] {
        let out = connctl(&daemon, &args, None, Some(NOBODY));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("PermissionDenied"), "{args:?}: {stderr}");
    }
    // Root's alias is untouched, and nobody may have aliases of its own.
    assert!(daemon.client().get("roots").await.expect("get").connected);
    let own = connctl(
        &daemon,
        &["connect", "mine", "--uri", &uri],
        None,
        Some(NOBODY),
    );
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    let info = daemon
        .client()
        .get("mine")
        .await
        .expect("root sees everything");
    assert_eq!(info.owner_uid, NOBODY.0);
}

#[tokio::test]
async fn cli_manages_aliases_and_reads_secrets_only_from_safe_places() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let uri = format!("http://{}", milvus.address());
    // No --password flag exists: a secret on argv is refused by the parser.
    let argv = connctl(
        &daemon,
        &[
            "connect",
            "a",
            "--uri",
            &uri,
            "--user",
            "root",
            "--password",
            "Milvus",
        ],
        None,
        None,
    );
    assert!(!argv.status.success());

    let out = connctl(
        &daemon,
        &[
            "connect",
            "a",
            "--uri",
            &uri,
            "--user",
            "root",
            "--password-stdin",
        ],
        Some("Milvus\n"),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("connected: a"));

    let token_file = daemon.dir().join("token");
    std::fs::write(&token_file, "root:Milvus\n").expect("token file");
    let out = connctl(
        &daemon,
        &[
            "--json",
            "connect",
            "b",
            "--uri",
            &uri,
            "--token-file",
            token_file.to_str().expect("utf8"),
        ],
        None,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["alias"]["state"], "ready");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("root:Milvus"));

    let out = connctl(&daemon, &["list"], None, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ALIAS") && text.contains("a ") && text.contains("ready"),
        "{text}"
    );
    let out = connctl(&daemon, &["get", "a"], None, None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("v2.3.5-lite"));
    let out = connctl(&daemon, &["--json", "status"], None, None);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json status");
    assert_eq!(status["aliases_connected"], 2);

    let bad = connctl(
        &daemon,
        &[
            "connect",
            "c",
            "--uri",
            &uri,
            "--user",
            "root",
            "--password-stdin",
        ],
        Some("wrong\n"),
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unauthenticated"));

    assert!(
        connctl(&daemon, &["disconnect", "a"], None, None)
            .status
            .success()
    );
    assert!(
        connctl(&daemon, &["remove", "a"], None, None)
            .status
            .success()
    );
    let gone = connctl(&daemon, &["get", "a"], None, None);
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("AliasNotFound"));

    let no_daemon = std::process::Command::new(milvus_connd_tests::binary("milvus-connctl"))
        .args(["--socket", "/nonexistent/control.sock", "list"])
        .output()
        .expect("run");
    assert_eq!(no_daemon.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_daemon.stderr).contains("cannot reach milvus-connd"));
}

#[tokio::test]
async fn sigterm_stops_the_daemon_and_removes_its_socket() {
    let mut daemon = Daemon::start();
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");
    assert!(!daemon.socket().exists());
}
