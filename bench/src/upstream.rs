//! The null upstream: a tiny tonic server whose one real method echoes its input, so a
//! benchmark through it measures the cost of carrying a call and nothing of the server's
//! work. It also answers the Milvus handshake and health calls the daemon makes, and it
//! checks `authorization` on every call: a proxy that forgets to inject the credentials
//! shows up as failed calls, not as flattering figures.

use milvus_connd_proto::milvus::milvus_service_server::{MilvusService, MilvusServiceServer};
use milvus_connd_proto::milvus::{
    CheckHealthRequest, CheckHealthResponse, GetVersionRequest, GetVersionResponse,
};

pub mod echo {
    tonic::include_proto!("milvusconnd.bench");
}

use echo::EchoMessage;
use echo::echo_server::{Echo, EchoServer};

/// Messages up to this size pass; the largest benchmark echoes 16 MiB.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The full path of the echo method, as h2load requests it.
pub const ECHO_PATH: &str = "/milvusconnd.bench.Echo/Echo";

#[derive(Debug, Clone)]
struct NullUpstream {
    authorization: String,
}

impl NullUpstream {
    fn check<T>(&self, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let given = request.metadata().get("authorization");
        if given.and_then(|v| v.to_str().ok()) == Some(self.authorization.as_str()) {
            Ok(())
        } else {
            Err(tonic::Status::unauthenticated(
                "null upstream: wrong or missing authorization",
            ))
        }
    }
}

#[tonic::async_trait]
impl Echo for NullUpstream {
    async fn echo(
        &self,
        request: tonic::Request<EchoMessage>,
    ) -> Result<tonic::Response<EchoMessage>, tonic::Status> {
        self.check(&request)?;
        Ok(tonic::Response::new(request.into_inner()))
    }
}

#[tonic::async_trait]
impl MilvusService for NullUpstream {
    async fn get_version(
        &self,
        request: tonic::Request<GetVersionRequest>,
    ) -> Result<tonic::Response<GetVersionResponse>, tonic::Status> {
        self.check(&request)?;
        Ok(tonic::Response::new(GetVersionResponse {
            status: None,
            version: "null-upstream".into(),
        }))
    }

    async fn check_health(
        &self,
        request: tonic::Request<CheckHealthRequest>,
    ) -> Result<tonic::Response<CheckHealthResponse>, tonic::Status> {
        self.check(&request)?;
        Ok(tonic::Response::new(CheckHealthResponse {
            status: None,
            is_healthy: true,
            reasons: Vec::new(),
            quota_states: Vec::new(),
        }))
    }
}

/// The server's routes: echo, and enough of MilvusService for the daemon's handshake and
/// health probes. Calls must carry `authorization` equal to the given value.
pub fn routes(authorization: String) -> tonic::service::Routes {
    let upstream = NullUpstream { authorization };
    tonic::service::Routes::new(
        EchoServer::new(upstream.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
    .add_service(MilvusServiceServer::new(upstream))
}
