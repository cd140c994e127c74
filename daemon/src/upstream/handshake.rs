//! The calls the daemon makes on every new channel before it lends it out: `Connect`
//! (with a fallback to `GetVersion` for servers that predate it), `GetVersion`, and
//! `ListDatabases` when the alias names a database other than `default`.

use milvus_connd_proto::common::{self, ClientInfo};
use milvus_connd_proto::health::HealthCheckRequest;
use milvus_connd_proto::health::health_check_response::ServingStatus;
use milvus_connd_proto::health::health_client::HealthClient;
use milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient;
use milvus_connd_proto::milvus::{
    CheckHealthRequest, ConnectRequest, GetVersionRequest, ListDatabasesRequest,
};
use milvus_connd_protocol::{ErrorCode, ServerInfo};
use tonic::metadata::AsciiMetadataValue;

use super::Connection;
use super::classify::status_error;
use crate::alias_config::Target;
use crate::defaults;
use crate::error::{Error, Result};

/// A Milvus stub over `connection` that adds `authorization` to each call.
#[derive(Debug, Clone)]
pub struct Calls {
    connection: Connection,
    client: MilvusServiceClient<Connection>,
    authorization: Option<AsciiMetadataValue>,
    target: Target,
}

impl Calls {
    pub fn new(
        connection: Connection,
        authorization: Option<AsciiMetadataValue>,
        target: Target,
    ) -> Self {
        let client = MilvusServiceClient::new(connection.clone())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Self {
            connection,
            client,
            authorization,
            target,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    /// `Connect`, falling back to `GetVersion` on servers without it. Returns what the
    /// server says about itself.
    pub async fn handshake(&mut self, user: &str) -> Result<ServerInfo> {
        let client_info = ClientInfo {
            sdk_type: defaults::SDK_TYPE.to_owned(),
            sdk_version: env!("CARGO_PKG_VERSION").to_owned(),
            local_time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            user: user.to_owned(),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            reserved: Default::default(),
        };
        let request = self.request(ConnectRequest {
            base: None,
            client_info: Some(client_info),
        });
        let mut server = match self.client.connect(request).await {
            Ok(response) => {
                let response = response.into_inner();
                self.check(response.status, "Connect")?;
                let info = response.server_info.unwrap_or_default();
                ServerInfo {
                    identifier: response.identifier,
                    build_tags: info.build_tags,
                    build_time: info.build_time,
                    git_commit: info.git_commit,
                    go_version: info.go_version,
                    deploy_mode: info.deploy_mode,
                    ..Default::default()
                }
            }
            // An old server without Connect; GetVersion below tells whether it is Milvus.
            Err(status) if status.code() == tonic::Code::Unimplemented => ServerInfo::default(),
            Err(status) => return Err(status_error(&self.target, "Connect", status)),
        };
        server.version = self.version().await?;
        Ok(server)
    }

    pub async fn version(&mut self) -> Result<String> {
        let request = self.request(GetVersionRequest {});
        let response = self
            .client
            .get_version(request)
            .await
            .map_err(|status| status_error(&self.target, "GetVersion", status))?
            .into_inner();
        self.check(response.status, "GetVersion")?;
        Ok(response.version)
    }

    /// A health probe: `CheckHealth`, else `grpc.health.v1` Check, else `GetVersion` (for
    /// servers without either). `Ok(None)` is healthy; `Ok(Some(reasons))` is Milvus
    /// saying it is not.
    pub async fn probe(&mut self) -> Result<Option<String>> {
        let answer = self
            .client
            .check_health(self.request(CheckHealthRequest {}))
            .await;
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                self.check(response.status, "CheckHealth")?;
                if response.is_healthy {
                    return Ok(None);
                }
                let reasons = response.reasons.join("; ");
                Ok(Some(if reasons.is_empty() {
                    "Milvus reports itself unhealthy".into()
                } else {
                    reasons
                }))
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                self.probe_standard().await
            }
            Err(status) => Err(status_error(&self.target, "CheckHealth", status)),
        }
    }

    async fn probe_standard(&mut self) -> Result<Option<String>> {
        let mut health = HealthClient::new(self.connection.clone());
        match health
            .check(self.request(HealthCheckRequest::default()))
            .await
        {
            Ok(response) => {
                let status = response.into_inner().status;
                if status == ServingStatus::Serving as i32 {
                    Ok(None)
                } else {
                    Ok(Some(format!("grpc.health.v1 reports status {status}")))
                }
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                self.version().await.map(|_| None)
            }
            Err(status) => Err(status_error(&self.target, "Health/Check", status)),
        }
    }

    /// Fails with `DatabaseNotFound` unless `db_name` exists.
    pub async fn check_database(&mut self, db_name: &str) -> Result<()> {
        if db_name == defaults::DB_NAME {
            return Ok(());
        }
        let request = self.request(ListDatabasesRequest { base: None });
        let response = self
            .client
            .list_databases(request)
            .await
            .map_err(|status| status_error(&self.target, "ListDatabases", status))?
            .into_inner();
        self.check(response.status, "ListDatabases")?;
        if response.db_names.iter().any(|name| name == db_name) {
            return Ok(());
        }
        Err(Error::upstream(
            ErrorCode::DatabaseNotFound,
            format!(
                "database '{db_name}' does not exist on Milvus at {} (it has: {})",
                self.target,
                response.db_names.join(", ")
            ),
            None,
        ))
    }

    /// A Milvus-level failure inside a successful gRPC answer.
    fn check(&self, status: Option<common::Status>, call: &str) -> Result<()> {
        let Some(status) = status else { return Ok(()) };
        if status.code == 0 && status.error_code == common::ErrorCode::Success as i32 {
            return Ok(());
        }
        Err(Error::upstream(
            ErrorCode::ServerUnhealthy,
            format!(
                "Milvus at {} answered {call} with error {}: {}",
                self.target,
                if status.code != 0 {
                    status.code
                } else {
                    status.error_code
                },
                status.reason
            ),
            None,
        ))
    }
}
