//! `milvus-connctl`: the command line of the milvus-connd control API.
//!
//! Passwords and tokens are read from standard input, a file or an environment variable,
//! never from the command line, where every local user could read them in `ps`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use milvus_connd_client::{
    AliasInfo, Client, ClientError, ConnectParams, EventLine, PoolMode, Port, ReconnectMode,
    Secret, StatusInfo,
};

/// Manage the Milvus connections of a local milvus-connd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Control socket [default: $MILVUS_CONND_SOCKET, else the daemon's default].
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print answers as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List aliases.
    List,
    /// Show one alias (never its password or token).
    Get { alias: String },
    /// Store an alias's configuration without connecting.
    Add {
        alias: String,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// Connect an alias, waiting for a ready channel.
    Connect {
        alias: String,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// Close an alias's channels, keeping its configuration.
    Disconnect {
        alias: String,
        /// Disconnect even while other processes hold leases.
        #[arg(long)]
        force: bool,
    },
    /// Disconnect an alias and forget it.
    Remove { alias: String },
    /// Replace an alias's channels: new ones first (gradual) or old ones closed first.
    Reconnect {
        alias: String,
        /// Close the old channels before opening new ones.
        #[arg(long)]
        immediate: bool,
    },
    /// Print state changes as they happen (of one alias, or of all).
    Watch { alias: Option<String> },
    /// Drop a lease (as printed by `connect`).
    Release { alias: String, lease: String },
    /// Call Milvus's GetVersion through the alias's data socket.
    Ping {
        alias: String,
        /// Use this data socket instead of asking the daemon for the alias's.
        #[arg(long, value_name = "PATH")]
        data_socket: Option<PathBuf>,
    },
    /// Show the daemon's status.
    Status,
    /// Drain and stop the daemon, as SIGTERM does.
    Shutdown,
    /// Re-read the daemon's config file, as SIGHUP does.
    Reload,
}

#[derive(Debug, Args)]
struct ParamArgs {
    #[arg(long)]
    uri: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    host: Option<String>,
    #[arg(long)]
    port: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    db_name: Option<String>,
    #[arg(long)]
    secure: Option<bool>,
    #[arg(long, value_name = "PATH")]
    server_pem_path: Option<String>,
    #[arg(long, value_name = "PATH")]
    ca_pem_path: Option<String>,
    #[arg(long, value_name = "PATH")]
    client_pem_path: Option<String>,
    #[arg(long, value_name = "PATH")]
    client_key_path: Option<String>,
    #[arg(long)]
    server_name: Option<String>,
    /// Seconds to wait for a ready channel.
    #[arg(long)]
    timeout: Option<f64>,
    #[arg(long, value_parser = ["shared", "dedicated"])]
    pool: Option<String>,
    #[arg(long)]
    handler: Option<String>,
    /// Upstream channels in the alias's pool.
    #[arg(long)]
    pool_size: Option<u32>,
    /// Also serve the alias on this TCP address (e.g. 127.0.0.1:19530).
    #[arg(long, value_name = "ADDR")]
    listen_tcp: Option<String>,
    /// Keep channels open while nobody holds or uses the alias.
    #[arg(long)]
    keep_warm: Option<bool>,
    /// Seconds without leases and calls after which the channels close.
    #[arg(long)]
    idle_timeout: Option<f64>,
    /// Let clients choose the database with their own `dbname` header.
    #[arg(long)]
    allow_client_db: Option<bool>,
    /// Seconds after which each channel is replaced (gradually).
    #[arg(long)]
    max_lifetime: Option<f64>,
    /// First reconnect delay, seconds.
    #[arg(long)]
    backoff_initial: Option<f64>,
    /// Longest reconnect delay, seconds.
    #[arg(long)]
    backoff_max: Option<f64>,
    /// Read the password from standard input (its first line).
    #[arg(long, conflicts_with_all = ["password_file", "token_stdin"])]
    password_stdin: bool,
    /// Read the password from a file; $MILVUS_PASSWORD is used when neither is given.
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
    /// Read the token from standard input (its first line).
    #[arg(long, conflicts_with = "token_file")]
    token_stdin: bool,
    /// Read the token from a file; $MILVUS_TOKEN is used when neither is given.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

fn read_secret(
    from_stdin: bool,
    file: Option<&PathBuf>,
    env: &str,
) -> anyhow::Result<Option<Secret>> {
    let text = if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else if let Some(path) = file {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        match std::env::var(env) {
            Ok(value) => value,
            Err(_) => return Ok(None),
        }
    };
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("the secret read is empty");
    }
    Ok(Some(Secret::new(line)))
}

impl ParamArgs {
    fn into_params(self) -> anyhow::Result<ConnectParams> {
        let password = read_secret(
            self.password_stdin,
            self.password_file.as_ref(),
            "MILVUS_PASSWORD",
        )?;
        let token = read_secret(self.token_stdin, self.token_file.as_ref(), "MILVUS_TOKEN")?;
        Ok(ConnectParams {
            alias: None,
            user: self.user,
            password,
            db_name: self.db_name,
            token,
            // The CLI reads secret files itself and sends their content.
            password_file: None,
            token_file: None,
            address: self.address,
            uri: self.uri,
            host: self.host,
            port: self.port.map(Port::Text),
            secure: self.secure,
            client_key_path: self.client_key_path,
            client_pem_path: self.client_pem_path,
            ca_pem_path: self.ca_pem_path,
            server_pem_path: self.server_pem_path,
            server_name: self.server_name,
            timeout: self.timeout,
            handler: self.handler,
            pool: self.pool.map(|p| {
                if p == "dedicated" {
                    PoolMode::Dedicated
                } else {
                    PoolMode::Shared
                }
            }),
            pool_size: self.pool_size,
            listen_tcp: self.listen_tcp,
            keep_warm: self.keep_warm,
            idle_timeout: self.idle_timeout,
            allow_client_db: self.allow_client_db,
            max_lifetime: self.max_lifetime,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
        })
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_alias(info: &AliasInfo) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("alias:       {}", info.alias);
    println!("state:       {}", info.state.as_str());
    println!("connected:   {}", info.connected);
    println!("address:     {}", info.address);
    println!(
        "user:        {}",
        if info.user.is_empty() {
            "-"
        } else {
            &info.user
        }
    );
    println!("db_name:     {}", info.db_name);
    println!("auth:        {:?}", info.auth);
    println!("secure:      {}", info.tls.secure);
    println!("server_name: {}", opt(&info.tls.server_name));
    println!("ca_pem:      {}", opt(&info.tls.ca_pem_path));
    println!("server_pem:  {}", opt(&info.tls.server_pem_path));
    println!("client_pem:  {}", opt(&info.tls.client_pem_path));
    println!(
        "pool:        {:?}, {} of {} channels ready",
        info.pool, info.channels_ready, info.pool_size
    );
    println!("socket:      {}", info.endpoints.unix);
    println!(
        "tcp:         {}",
        info.endpoints.tcp.as_deref().unwrap_or("-")
    );
    let holders: Vec<String> = info
        .leases
        .iter()
        .map(|l| format!("pid {} (uid {})", l.pid, l.uid))
        .collect();
    println!(
        "leases:      {}",
        if holders.is_empty() {
            "-".to_owned()
        } else {
            holders.join(", ")
        }
    );
    println!("owner_uid:   {}", info.owner_uid);
    if let Some(cause) = &info.cause {
        println!("cause:       {cause}");
    }
    for event in info.transitions.iter().rev().take(5).rev() {
        println!(
            "  {} {} -> {}",
            event.time,
            event.from.as_str(),
            event.to.as_str()
        );
    }
    if let Some(server) = &info.server {
        println!(
            "server:      Milvus {} (identifier {})",
            server.version, server.identifier
        );
    }
}

fn print_status(status: &StatusInfo) {
    println!("version:           {}", status.version);
    println!("pid:               {}", status.pid);
    println!("uptime:            {:.0} s", status.uptime_seconds);
    println!(
        "aliases:           {} ({} connected)",
        status.aliases, status.aliases_connected
    );
    println!("channels open:     {}", status.channels_open);
    println!("channels opened:   {}", status.channels_opened_total);
    println!("connect requests:  {}", status.connect_requests_total);
    println!("state changes:     {}", status.transitions_total);
}

async fn run(cli: Cli) -> Result<(), RunError> {
    let client = match &cli.socket {
        Some(path) => Client::new(path),
        None => Client::from_env(),
    };
    let json = cli.json;
    match cli.command {
        Command::List => {
            let list = client.list().await?;
            if json {
                return Ok(print_json(&list)?);
            }
            println!(
                "{:<24} {:<18} {:<9} {:<6} ADDRESS",
                "ALIAS", "STATE", "CONNECTED", "LEASES"
            );
            for row in list.aliases {
                println!(
                    "{:<24} {:<18} {:<9} {:<6} {}",
                    row.alias,
                    row.state.as_str(),
                    row.connected,
                    row.leases,
                    row.address
                );
            }
        }
        Command::Get { alias } => {
            let info = client.get(&alias).await?;
            if json {
                return Ok(print_json(&info)?);
            }
            print_alias(&info);
        }
        Command::Add { alias, params } => {
            let info = client.add(&alias, &params.into_params()?).await?;
            if json {
                return Ok(print_json(&info)?);
            }
            println!("added {} ({})", info.alias, info.address);
        }
        Command::Connect { alias, params } => {
            let lease = client.connect(&alias, &params.into_params()?).await?;
            let info = lease.alias.clone();
            let reused = lease.reused;
            // The lease outlives this command; the daemon reaps it once this process exits.
            let id = lease.detach();
            if json {
                let answer = milvus_connd_client::ConnectResponse {
                    alias: info,
                    reused,
                    lease: id,
                };
                return Ok(print_json(&answer)?);
            }
            let version = info.server.as_ref().map_or("?", |s| s.version.as_str());
            let how = if reused {
                "already connected"
            } else {
                "connected"
            };
            println!(
                "{how}: {} -> {} (Milvus {version})",
                info.alias, info.address
            );
            println!("socket: unix:{}", info.endpoints.unix);
        }
        Command::Reconnect { alias, immediate } => {
            let mode = if immediate {
                ReconnectMode::Immediate
            } else {
                ReconnectMode::Gradual
            };
            let info = client.reconnect(&alias, mode).await?;
            if json {
                return Ok(print_json(&info)?);
            }
            println!(
                "reconnected {} ({} of {} channels ready)",
                info.alias, info.channels_ready, info.pool_size
            );
        }
        Command::Watch { alias } => {
            let mut events = client.events(alias.as_deref()).await?;
            while let Some(line) = events.next().await {
                match line? {
                    line if json => println!("{}", serde_json::to_string(&line)?),
                    EventLine::Event(event) => println!(
                        "{} {} {} -> {}{}",
                        event.time,
                        event.alias,
                        event.from.as_str(),
                        event.to.as_str(),
                        event.cause.map(|c| format!(" ({c})")).unwrap_or_default()
                    ),
                    EventLine::Dropped { dropped } => {
                        println!("... {dropped} events dropped (reader too slow)")
                    }
                }
            }
        }
        Command::Release { alias, lease } => {
            let info = client.release(&alias, &lease).await?;
            if json {
                return Ok(print_json(&info)?);
            }
            println!(
                "released; {} lease(s) left on {}",
                info.leases.len(),
                info.alias
            );
        }
        Command::Ping { alias, data_socket } => {
            let socket = match data_socket {
                Some(path) => path,
                None => PathBuf::from(client.get(&alias).await?.endpoints.unix),
            };
            let channel = milvus_connd_client::data_channel(socket);
            let mut stub =
                milvus_connd_proto::milvus::milvus_service_client::MilvusServiceClient::new(
                    channel,
                );
            let started = std::time::Instant::now();
            let answer = stub
                .get_version(milvus_connd_proto::milvus::GetVersionRequest {})
                .await;
            let elapsed = started.elapsed();
            match answer {
                Ok(response) => {
                    let version = response.into_inner().version;
                    if json {
                        let value = serde_json::json!({"alias": alias, "version": version, "seconds": elapsed.as_secs_f64()});
                        return Ok(print_json(&value)?);
                    }
                    println!(
                        "{alias}: Milvus {version} in {:.1} ms",
                        elapsed.as_secs_f64() * 1e3
                    );
                }
                Err(status) => return Err(RunError::Grpc(status)),
            }
        }
        Command::Disconnect { alias, force } => {
            let info = client.disconnect(&alias, force).await?;
            if json {
                return Ok(print_json(&info)?);
            }
            println!("disconnected {}", info.alias);
        }
        Command::Remove { alias } => {
            client.remove(&alias).await?;
            if !json {
                println!("removed {alias}");
            }
        }
        Command::Reload => {
            let report = client.reload().await?;
            if json {
                return Ok(print_json(&report)?);
            }
            println!(
                "reloaded: added {:?}, changed {:?}, removed {:?}, unchanged {:?}",
                report.added, report.changed, report.removed, report.unchanged
            );
        }
        Command::Shutdown => {
            client.shutdown().await?;
            if !json {
                println!("milvus-connd is draining and will stop");
            }
        }
        Command::Status => {
            let status = client.status().await?;
            if json {
                return Ok(print_json(&status)?);
            }
            print_status(&status);
        }
    }
    Ok(())
}

/// A failure: the daemon's own error, a gRPC status from the data plane, or one on
/// this side.
#[derive(Debug)]
enum RunError {
    Client(ClientError),
    Grpc(tonic::Status),
    Local(anyhow::Error),
}

impl From<ClientError> for RunError {
    fn from(err: ClientError) -> Self {
        Self::Client(err)
    }
}

impl From<anyhow::Error> for RunError {
    fn from(err: anyhow::Error) -> Self {
        Self::Local(err)
    }
}

impl From<serde_json::Error> for RunError {
    fn from(err: serde_json::Error) -> Self {
        Self::Local(err.into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Client(ClientError::Api(err))) => {
            if json {
                let body = milvus_connd_client::ErrorBody { error: err.clone() };
                if let Ok(text) = serde_json::to_string_pretty(&body) {
                    println!("{text}");
                }
            }
            eprintln!("milvus-connctl: {err}");
            ExitCode::from(2)
        }
        Err(RunError::Client(err)) => {
            eprintln!("milvus-connctl: {err}");
            ExitCode::from(1)
        }
        Err(RunError::Grpc(status)) => {
            eprintln!(
                "milvus-connctl: gRPC {:?}: {}",
                status.code(),
                status.message()
            );
            ExitCode::from(2)
        }
        Err(RunError::Local(err)) => {
            eprintln!("milvus-connctl: {err:#}");
            ExitCode::from(1)
        }
    }
}
