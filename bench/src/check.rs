//! One real gRPC call through each variant before it is measured. h2load only sees HTTP
//! status 200, and a gRPC error (say, a proxy that forgot the credentials) is a 200 too,
//! so without this a broken variant would show splendid figures.

use std::path::PathBuf;

use anyhow::{Context as _, ensure};
use milvus_connd_proto::milvus::GetVersionRequest;
use milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient;
use tonic::transport::Channel;

use crate::h2load::{Endpoint, Variant};
use crate::upstream::echo::EchoMessage;
use crate::upstream::echo::echo_client::EchoClient;

fn channel(endpoint: &Endpoint) -> anyhow::Result<Channel> {
    Ok(match endpoint {
        Endpoint::Tcp(addr) => Channel::from_shared(format!("http://{addr}"))?.connect_lazy(),
        Endpoint::Unix(path) => milvus_connd_client::data_channel(PathBuf::from(path)),
    })
}

fn with_auth<T>(variant: &Variant, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(authorization) = &variant.authorization {
        request
            .metadata_mut()
            .insert("authorization", authorization.parse()?);
    }
    Ok(request)
}

/// An echo through `variant` comes back unchanged.
pub async fn echo(variant: &Variant) -> anyhow::Result<()> {
    let mut client = EchoClient::new(channel(&variant.endpoint)?);
    let payload = b"through the variant".to_vec();
    let answer = client
        .echo(with_auth(
            variant,
            EchoMessage {
                payload: payload.clone(),
            },
        )?)
        .await
        .with_context(|| format!("echo through {}", variant.name))?;
    ensure!(
        answer.into_inner().payload == payload,
        "{}: echo changed the payload",
        variant.name
    );
    Ok(())
}

/// GetVersion through `variant` succeeds; returns the version.
pub async fn get_version(variant: &Variant) -> anyhow::Result<String> {
    let mut client = MilvusServiceClient::new(channel(&variant.endpoint)?);
    let answer = client
        .get_version(with_auth(variant, GetVersionRequest {})?)
        .await
        .with_context(|| format!("GetVersion through {}", variant.name))?
        .into_inner();
    ensure!(
        answer.status.is_none_or(|s| s.code == 0),
        "{}: GetVersion failed",
        variant.name
    );
    Ok(answer.version)
}
