//! Generated gRPC types for the part of the Milvus protocol milvus-connd speaks itself.
//!
//! The data plane forwards every other method as bytes; only the handshake, health probes
//! and database checks are decoded, so only those messages are declared here.

#![forbid(unsafe_code)]
#![allow(missing_debug_implementations, clippy::all)]

/// `milvus.proto.common`.
pub mod common {
    tonic::include_proto!("milvus.proto.common");
}

/// `milvus.proto.milvus`: `MilvusService` client and server stubs.
pub mod milvus {
    tonic::include_proto!("milvus.proto.milvus");
}

/// `grpc.health.v1`: the standard health service.
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

/// Full gRPC method paths the daemon recognises.
pub mod paths {
    pub const CONNECT: &str = "/milvus.proto.milvus.MilvusService/Connect";
    pub const GET_VERSION: &str = "/milvus.proto.milvus.MilvusService/GetVersion";
    pub const CHECK_HEALTH: &str = "/milvus.proto.milvus.MilvusService/CheckHealth";
}
