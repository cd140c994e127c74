//! The contract of the milvus-connd control API, shared by the daemon and its clients.
//!
//! Everything a client and the daemon must agree on lives here and nowhere else: the JSON
//! shapes of requests and answers, the stable error codes, the rule for alias names and the
//! places where sockets live. The crate does no I/O, so both sides (and tests) can depend on
//! it without pulling in a runtime.

#![forbid(unsafe_code)]

pub mod alias;
pub mod error;
pub mod info;
pub mod params;
pub mod paths;

pub use alias::{AliasNameError, validate_alias_name};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use info::{
    AliasInfo, AliasList, AliasState, AliasSummary, AuthKind, ConnectResponse, DisconnectRequest,
    Endpoints, Event, EventLine, LeaseHolder, ReconnectMode, ReconnectRequest, ReleaseRequest,
    ReloadReport, ServerInfo, StatusInfo, TlsInfo,
};
pub use params::{ConnectParams, PoolMode, Port, Secret};

/// Version of the control API; the first path segment of every route.
pub const API_VERSION: &str = "v1";

/// Largest request body the daemon reads; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
