//! Streaming and cancellation through the proxy.
//!
//! Milvus cannot be asked to stream on demand and shows nothing when a client cancels, so
//! these tests use the harness's small tonic upstream (`fake_upstream`). One test also runs
//! Watch against the real Milvus.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use milvus_connd_client::ConnectParams;
use milvus_connd_proto::health::HealthCheckRequest;
use milvus_connd_proto::health::health_client::HealthClient;
use milvus_connd_proto::milvus::GetVersionRequest;
use milvus_connd_tests::daemon::Daemon;
use milvus_connd_tests::fake_upstream;
use milvus_connd_tests::milvus::{Flavor, shared};
use serde_json::json;
use tonic::codegen::tokio_stream::StreamExt as _;

/// A GetVersion through `lease` whose client asks for its own database.
async fn get_version_asking_for_a_db(lease: &milvus_connd_client::Lease) {
    let mut stub = milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(
        lease.channel(),
    );
    let mut request = tonic::Request::new(GetVersionRequest {});
    request
        .metadata_mut()
        .insert("dbname", "client-choice".parse().expect("value"));
    stub.get_version(request).await.expect("proxied GetVersion");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_stream_arrives_in_order_and_a_cancelled_call_is_reset_upstream() {
    let (addr, seen, _stop) = fake_upstream::start().await;
    let daemon = Daemon::start();
    let params: ConnectParams = serde_json::from_value(json!({
        "address": addr.to_string(), "token": "root:Milvus", "db_name": "default", "pool_size": 1,
    }))
    .expect("params");
    let lease = daemon
        .client()
        .connect("fake", &params)
        .await
        .expect("connect to the fake upstream");
    assert_eq!(
        lease.alias.server.as_ref().map(|s| s.version.as_str()),
        Some("fake-upstream")
    );

    let mut health = HealthClient::new(lease.channel());
    let mut stream = health
        .watch(HealthCheckRequest::default())
        .await
        .expect("watch")
        .into_inner();
    for expected in 0..50 {
        let message = stream
            .next()
            .await
            .expect("a message")
            .expect("not an error");
        assert_eq!(message.status, expected, "out of order");
    }
    assert!(!seen.stream_dropped.load(Ordering::SeqCst));
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !seen.stream_dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the cancelled call was not reset upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The daemon's own handshake sent the alias's credentials; a proxied call too.
    get_version_asking_for_a_db(&lease).await;
    assert_eq!(
        seen.last("authorization").as_deref(),
        Some("cm9vdDpNaWx2dXM=")
    );
    assert_eq!(
        seen.last("dbname").as_deref(),
        Some("default"),
        "the alias's database wins without allow_client_db"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_client_db_lets_the_clients_dbname_through() {
    let (addr, seen, _stop) = fake_upstream::start().await;
    let daemon = Daemon::start();
    let params: ConnectParams =
        serde_json::from_value(json!({"address": addr.to_string(), "allow_client_db": true}))
            .expect("params");
    let lease = daemon
        .client()
        .connect("free-db", &params)
        .await
        .expect("connect");
    get_version_asking_for_a_db(&lease).await;
    assert_eq!(seen.last("dbname").as_deref(), Some("client-choice"));
    assert!(
        seen.last("authorization").is_none(),
        "no credentials configured, none sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn milvus_health_watch_streams_through_the_proxy() {
    let milvus = shared(Flavor::Auth);
    let daemon = Daemon::start();
    let params: ConnectParams =
        serde_json::from_value(json!({"uri": format!("http://root:Milvus@{}", milvus.address())}))
            .expect("params");
    let lease = daemon
        .client()
        .connect("watch", &params)
        .await
        .expect("connect");
    let mut health = HealthClient::new(lease.channel());
    let mut stream = health
        .watch(HealthCheckRequest::default())
        .await
        .expect("Milvus serves Watch")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a first answer")
        .expect("not closed")
        .expect("not an error");
    assert_eq!(first.status, 1, "SERVING");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_ends_at_its_grpc_timeout_even_when_the_client_keeps_no_timer() {
    use http_body_util::BodyExt as _;
    let (addr, _seen, _stop) = fake_upstream::start().await;
    let daemon = Daemon::start();
    let params: ConnectParams =
        serde_json::from_value(json!({"address": addr.to_string()})).expect("params");
    let lease = daemon
        .client()
        .connect("deadline", &params)
        .await
        .expect("connect");
    // A bare HTTP/2 client: it sends grpc-timeout but keeps no timer of its own (tonic's
    // client would cancel by itself and hide what the proxy does).
    let stream = tokio::net::UnixStream::connect(&lease.alias.endpoints.unix)
        .await
        .expect("dial");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::post("http://localhost/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "300m")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(&[
            0, 0, 0, 0, 0,
        ])))
        .expect("request");
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
        .await
        .expect("the proxy answers within the deadline, not the upstream's 30 s")
        .expect("response");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = match status {
        Some(status) => status,
        None => {
            let trailers = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .trailers()
                .cloned();
            trailers
                .and_then(|t| {
                    t.get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
                .unwrap_or_default()
        }
    };
    // The daemon's channel ends the call at the deadline with DEADLINE_EXCEEDED (4); the
    // tonic upstream here keeps the same deadline and may answer first, with CANCELLED (1).
    // Either way the call ends at its deadline, not at the upstream's 30 s.
    assert!(status == "4" || status == "1", "grpc-status {status:?}");
}
