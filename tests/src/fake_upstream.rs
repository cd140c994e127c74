//! A small tonic upstream for the faults a real Milvus cannot produce on demand: it answers
//! GetVersion (enough for the daemon's handshake, which falls back to it when Connect is
//! not implemented), streams numbered `grpc.health.v1` Watch answers until the stream is
//! dropped (and says when), and never answers Health/Check in time. Loopback only.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use milvus_connd_proto::health::health_server::{Health, HealthServer};
use milvus_connd_proto::health::{HealthCheckRequest, HealthCheckResponse};
use milvus_connd_proto::milvus::milvus_service_server::{MilvusService, MilvusServiceServer};
use milvus_connd_proto::milvus::{GetVersionRequest, GetVersionResponse};
use tonic::codegen::tokio_stream::Stream;

/// What the fake upstream saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub stream_dropped: AtomicBool,
    pub headers: Mutex<Vec<(String, String)>>,
}

impl Seen {
    /// The value of the last `name` header the upstream received.
    pub fn last(&self, name: &str) -> Option<String> {
        let headers = self.headers.lock().expect("lock");
        headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Fake(pub Arc<Seen>);

/// Numbered answers every 5 ms; marks the stream dropped when the server lets go of it.
struct Numbered {
    next: i32,
    tick: tokio::time::Interval,
    seen: Arc<Seen>,
}

impl Stream for Numbered {
    type Item = Result<HealthCheckResponse, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.tick.poll_tick(cx).is_pending() {
            return Poll::Pending;
        }
        let status = self.next;
        self.next += 1;
        Poll::Ready(Some(Ok(HealthCheckResponse { status })))
    }
}

impl Drop for Numbered {
    fn drop(&mut self) {
        self.seen.stream_dropped.store(true, Ordering::SeqCst);
    }
}

#[tonic::async_trait]
impl MilvusService for Fake {
    async fn get_version(
        &self,
        request: tonic::Request<GetVersionRequest>,
    ) -> Result<tonic::Response<GetVersionResponse>, tonic::Status> {
        let mut headers = self.0.headers.lock().expect("lock");
        for (name, value) in request.metadata().clone().into_headers() {
            if let (Some(name), Ok(value)) = (name, value.to_str()) {
                headers.push((name.to_string(), value.to_owned()));
            }
        }
        Ok(tonic::Response::new(GetVersionResponse {
            status: None,
            version: "fake-upstream".into(),
        }))
    }
}

#[tonic::async_trait]
impl Health for Fake {
    /// Never answers in time: for deadline tests.
    async fn check(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(tonic::Response::new(HealthCheckResponse { status: 1 }))
    }

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<
        tonic::Response<
            Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, tonic::Status>> + Send>>,
        >,
        tonic::Status,
    > {
        let stream = Numbered {
            next: 0,
            tick: tokio::time::interval(Duration::from_millis(5)),
            seen: self.0.clone(),
        };
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

pub async fn start() -> (
    std::net::SocketAddr,
    Arc<Seen>,
    tokio::sync::oneshot::Sender<()>,
) {
    let seen = Arc::new(Seen::default());
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let fake = Fake(seen.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MilvusServiceServer::new(fake.clone()))
            .add_service(HealthServer::new(fake))
            .serve_with_shutdown(addr, async {
                let _ = stopped.await;
            }),
    );
    // Wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "fake upstream did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (addr, seen, stop)
}
