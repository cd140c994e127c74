//! The `milvus-connd` binary: command line, logging, signals; everything else is the
//! library's.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use milvus_connd::shutdown::{self, Phase};
use milvus_connd::{Settings, config, defaults};
use milvus_connd_protocol::paths;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Local connection-manager daemon for Milvus.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file [default: /etc/milvus-connd/config.toml when it exists]. Options given
    /// on the command line win over its `[daemon]` table.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the control socket and alias sockets [default: $RUNTIME_DIRECTORY,
    /// /run/milvus-connd as root, else $XDG_RUNTIME_DIR/milvus-connd].
    #[arg(long, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Group (name or gid) owning the runtime directory and sockets [default: the
    /// `milvus-connd` group if it exists].
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// How long a control client may take to send one request [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    request_timeout: Option<Duration>,
    /// Serve /livez, /readyz, /startupz and /metrics on this address (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<std::net::SocketAddr>,
    /// Where aliases added through the API are kept across restarts [default:
    /// $STATE_DIRECTORY/state.json, /var/lib/milvus-connd/state.json as root, else
    /// $XDG_STATE_HOME or ~/.local/state /milvus-connd/state.json].
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// Keep nothing across restarts.
    #[arg(long, conflicts_with = "state_file")]
    no_state_file: bool,
    /// How long SIGTERM waits for in-flight calls before stopping anyway [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    shutdown_grace: Option<Duration>,
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Threads that serve calls. One thread carries tens of thousands of calls per second
    /// and keeps every hop of a call on one core; raise it on busy hosts with cores to
    /// spare.
    #[arg(long, value_name = "N", env = "MILVUS_CONND_WORKER_THREADS",
          default_value_t = defaults::WORKER_THREADS, value_parser = clap::value_parser!(u16).range(1..=256))]
    worker_threads: u16,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file (default: the one the daemon would use) and exit.
    CheckConfig { file: Option<PathBuf> },
}

/// The config file to use: the one given, else the default one when it exists.
fn config_path(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let default = PathBuf::from(config::DEFAULT_PATH);
        default.exists().then_some(default)
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn socket_group(arg: Option<&str>) -> anyhow::Result<Option<u32>> {
    let lookup =
        |name: &str| nix::unistd::Group::from_name(name).map(|g| g.map(|g| g.gid.as_raw()));
    match arg {
        None => Ok(lookup(defaults::SOCKET_GROUP).ok().flatten()),
        Some(text) => match text.parse::<u32>() {
            Ok(gid) => Ok(Some(gid)),
            Err(_) => match lookup(text).with_context(|| format!("cannot look up group {text}"))? {
                Some(gid) => Ok(Some(gid)),
                None => bail!("no such group: {text}"),
            },
        },
    }
}

/// The state file when none is given (DESIGN.md §3).
fn default_state_file(is_root: bool) -> Option<PathBuf> {
    let var = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("STATE_DIRECTORY") {
        return Some(dir.join("state.json"));
    }
    if is_root {
        return Some(PathBuf::from("/var/lib/milvus-connd/state.json"));
    }
    let base =
        var("XDG_STATE_HOME").or_else(|| var("HOME").map(|home| home.join(".local/state")))?;
    Some(base.join("milvus-connd/state.json"))
}

/// `MILVUS_URI` from the environment, else from `.env` in the working directory.
fn milvus_uri() -> Option<String> {
    if let Ok(uri) = std::env::var("MILVUS_URI")
        && !uri.is_empty()
    {
        return Some(uri);
    }
    dotenvy::from_path_iter(".env")
        .ok()?
        .filter_map(Result::ok)
        .find(|(key, value)| key == "MILVUS_URI" && !value.is_empty())
        .map(|(_, value)| value)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.worker_threads))
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Command::CheckConfig { file }) = &args.command {
        let Some(path) = config_path(file.clone()) else {
            bail!(
                "no config file given and {} does not exist",
                config::DEFAULT_PATH
            );
        };
        let checked = config::check(&path)?;
        println!(
            "{}: valid, {} alias(es)",
            path.display(),
            checked.aliases.len()
        );
        return Ok(());
    }
    init_logging(args.log_format);
    let config_file = config_path(args.config.clone());
    let file = match &config_file {
        Some(path) => config::check(path)?,
        None => config::ConfigFile::default(),
    };
    let daemon = file.daemon;
    let is_root = nix::unistd::geteuid().is_root();
    let runtime_dir = args
        .runtime_dir
        .or(daemon.runtime_dir)
        .unwrap_or_else(|| paths::default_runtime_dir(|k| std::env::var(k).ok(), is_root));
    let settings = Settings {
        runtime_dir,
        socket_group: socket_group(args.socket_group.or(daemon.socket_group).as_deref())?,
        request_timeout: args
            .request_timeout
            .or(daemon.request_timeout)
            .unwrap_or(defaults::REQUEST_TIMEOUT),
        milvus_uri: milvus_uri(),
        shutdown_grace: args
            .shutdown_grace
            .or(daemon.shutdown_grace)
            .unwrap_or(defaults::SHUTDOWN_GRACE),
        admin_listen: args.admin_listen.or(daemon.admin_listen),
        state_file: match (args.no_state_file, args.state_file.or(daemon.state_file)) {
            (true, _) => None,
            (false, Some(path)) => Some(path),
            (false, None) => default_state_file(is_root),
        },
        config_aliases: file.aliases,
        config_path: config_file,
    };
    let phases = std::sync::Arc::new(tokio::sync::watch::Sender::new(Phase::Running));
    let signals = phases.clone();
    tokio::spawn(async move {
        if let Err(err) = shutdown::follow_signals(signals).await {
            tracing::error!(error = %err, "cannot wait for signals");
        }
    });
    milvus_connd::run(settings, phases).await?;
    Ok(())
}
