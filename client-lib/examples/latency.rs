//! A quick look at what the proxy adds to one call: GetVersion through an alias's socket
//! versus directly to Milvus, interleaved, on loopback. The benchmark suite does this
//! properly; this is for a first figure.
//!
//! cargo run --release --example latency -- <alias socket> <milvus host:port> [token] [calls]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use milvus_connd_proto::milvus::GetVersionRequest;
use milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient;
use tonic::transport::Channel;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:<8} mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs",
        mean.as_secs_f64() * 1e6,
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

async fn call(
    stub: &mut MilvusServiceClient<Channel>,
    token: Option<&str>,
) -> anyhow::Result<Duration> {
    let mut request = tonic::Request::new(GetVersionRequest {});
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", token.parse()?);
    }
    let started = Instant::now();
    stub.get_version(request).await?;
    Ok(started.elapsed())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(socket), Some(direct)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: latency <alias socket> <milvus host:port> [base64 token] [calls]");
    };
    let token = args.get(3).filter(|t| !t.is_empty()).map(String::as_str);
    let calls: usize = args.get(4).map_or(Ok(2000), |n| n.parse())?;
    let mut proxied =
        MilvusServiceClient::new(milvus_connd_client::data_channel(PathBuf::from(socket)));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{direct}"))?
        .connect()
        .await?;
    let mut plain = MilvusServiceClient::new(channel);
    for _ in 0..200 {
        call(&mut proxied, None).await?;
        call(&mut plain, token).await?;
    }
    let (mut through, mut direct_samples) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        through.push(call(&mut proxied, None).await?);
        direct_samples.push(call(&mut plain, token).await?);
    }
    summary("direct", direct_samples);
    summary("proxied", through);
    Ok(())
}
