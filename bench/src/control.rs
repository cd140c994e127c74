//! Connect latency over the control API, as a Rust client sees it (one HTTP request and
//! answer per call on the connection the client keeps).

use std::time::{Duration, Instant};

use milvus_connd_client::{Client, ConnectParams};

/// Latencies in microseconds, sorted.
pub type Samples = Vec<u64>;

/// Runs `measure` on a single-threaded runtime of its own, so the figures are the
/// daemon's and the socket's, not hops between this program's worker threads.
pub async fn on_one_thread<F, Fut>(measure: F) -> anyhow::Result<Samples>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Samples>>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(measure())
    })
    .await?
}

fn micros(elapsed: Duration) -> u64 {
    elapsed.as_micros().try_into().unwrap_or(u64::MAX)
}

/// `connect` on an alias that is already connected with the same parameters: the daemon
/// answers from what it has.
pub async fn warm(
    client: &Client,
    alias: &str,
    params: &ConnectParams,
    calls: u32,
) -> anyhow::Result<Samples> {
    client.connect(alias, params).await?.detach();
    let mut samples = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let started = Instant::now();
        let lease = client.connect(alias, params).await?;
        samples.push(micros(started.elapsed()));
        anyhow::ensure!(lease.reused, "a warm connect opened something new");
        // Untimed: a process connects once and releases when done; leases piling up
        // would only make every answer (which lists them) longer.
        lease.release().await?;
    }
    samples.sort_unstable();
    Ok(samples)
}

/// `connect` that has to open the pool (dial, TLS, Connect handshake with credentials,
/// for every channel), then `disconnect` so the next one is cold again.
pub async fn cold(
    client: &Client,
    alias: &str,
    params: &ConnectParams,
    calls: u32,
) -> anyhow::Result<Samples> {
    let mut samples = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let started = Instant::now();
        let lease = client.connect(alias, params).await?;
        samples.push(micros(started.elapsed()));
        anyhow::ensure!(!lease.reused, "a cold connect found the alias connected");
        lease.release().await?;
        client.disconnect(alias, true).await?;
    }
    samples.sort_unstable();
    Ok(samples)
}
