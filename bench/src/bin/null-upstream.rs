//! Runs the null upstream on a loopback TCP port and a Unix socket until stdin closes
//! (so it never outlives the benchmark that started it). Prints the bound address.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tokio::io::AsyncReadExt as _;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::TcpIncoming;

#[derive(Parser)]
struct Args {
    /// Loopback address to listen on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    tcp: SocketAddr,
    /// Unix socket to listen on as well.
    #[arg(long)]
    unix: PathBuf,
    /// The `authorization` value every call must carry.
    #[arg(long, env = "NULL_UPSTREAM_AUTHORIZATION")]
    authorization: String,
}

fn server() -> tonic::transport::Server {
    // Like a gRPC server tuned for throughput: big windows (and no Nagle, set on the
    // listener above).
    tonic::transport::Server::builder()
        .initial_stream_window_size(Some(8 << 20))
        .initial_connection_window_size(Some(16 << 20))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.tcp.ip().is_loopback(),
        "the null upstream listens on loopback only"
    );
    let tcp = TcpIncoming::bind(args.tcp)
        .context("bind TCP")?
        .with_nodelay(Some(true));
    let _ = std::fs::remove_file(&args.unix);
    let unix = UnixListener::bind(&args.unix).context("bind Unix socket")?;
    println!("listening tcp={}", tcp.local_addr()?);
    let routes = milvus_connd_bench::upstream::routes(args.authorization);
    let on_tcp = server().add_routes(routes.clone()).serve_with_incoming(tcp);
    let on_unix = server()
        .add_routes(routes)
        .serve_with_incoming(UnixListenerStream::new(unix));
    let stdin_closed = async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while stdin.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    };
    tokio::select! {
        result = on_tcp => result.context("TCP server")?,
        result = on_unix => result.context("Unix server")?,
        () = stdin_closed => {}
    }
    let _ = std::fs::remove_file(&args.unix);
    Ok(())
}
