//! Every default of the daemon, in one place, each with the reason for its value.

use std::time::Duration;

/// Host used when only a port is given (pymilvus `DEFAULT_HOST`).
pub const HOST: &str = "localhost";
/// Milvus's gRPC port (pymilvus `DEFAULT_PORT`).
pub const PORT: u16 = 19530;
/// Port of `https://` URIs without one: what Zilliz Cloud and TLS front ends listen on.
pub const HTTPS_PORT: u16 = 443;
/// Database of an alias that names none (pymilvus `connect(db_name="default")`).
pub const DB_NAME: &str = "default";
/// How long `connect` waits for a ready channel (pymilvus `MILVUS_CONN_TIMEOUT`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `timeout` a caller may ask for: beyond this a caller is better served by retrying.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a control client may take to send one request; slow clients must not hold a
/// connection slot for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait after a failed `accept` before the next: short enough not to be noticed, long
/// enough not to spin on EMFILE.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Control connections served at once; more are answered `LimitExceeded` and closed. Each
/// costs a task and a few KiB, so this bounds what a misbehaving client can take.
pub const MAX_CONTROL_CONNECTIONS: usize = 512;
/// HTTP/2 keepalive ping interval on upstream channels, as pymilvus and the other SDKs use;
/// Milvus refuses pings more often than every 5 s.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long to wait for a keepalive ping's answer before the channel counts as dead.
/// HTTP/2 flow-control windows of upstream connections and of the alias endpoints: a
/// 16 MiB message then moves in a few window round trips, not hundreds of 64 KiB ones.
/// A stream's buffered data stays within its window, so this bounds memory per call.
pub const STREAM_WINDOW: u32 = 4 << 20;
pub const CONNECTION_WINDOW: u32 = 8 << 20;
/// How much of a request body h2 may hold per stream while waiting for the window.
pub const SEND_BUFFER: usize = 1 << 20;
/// Request data up to this size is sent with its HEADERS without waiting for flow-control
/// capacity (small unary calls leave in one write).
pub const SEND_AT_ONCE: usize = 64 << 10;
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// `ClientInfo.sdk_type` the daemon announces in its handshake, so Milvus logs show who is
/// connecting.
pub const SDK_TYPE: &str = "milvus-connd";
/// The group that may use the control socket when it exists (DESIGN §8).
pub const SOCKET_GROUP: &str = "milvus-connd";
/// Channels per alias: two, so one slow or broken HTTP/2 connection never stalls a whole
/// alias, and a pool still costs Milvus little.
pub const POOL_SIZE: u32 = 2;
/// Threads serving calls. One: a call's hops (client connection, stream, upstream
/// connection) then never cross cores, which halves the CPU a small call costs here
/// (docs/benchmarks.md); a host daemon or sidecar should not take cores from its app.
pub const WORKER_THREADS: u16 = 1;
/// Largest pool: more connections than this buy nothing over one host's loopback.
pub const MAX_POOL_SIZE: u32 = 64;
/// How long an alias nobody holds or uses keeps its channels (PgBouncer's
/// `server_idle_timeout` is the same order): long enough to ride out gaps between cron
/// jobs, short enough not to hold Milvus connections for departed apps.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// How often leases of dead processes are reaped and idle aliases closed.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a drain (SIGTERM) waits for in-flight calls: long enough for a search, short
/// enough for a deploy.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often systemd's STATUS= line is refreshed.
pub const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// Time between probes of a healthy channel (DESIGN §6; Envoy's default interval too).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// Time between probes while no alias using the pool has a lease or a call: idle pools
/// cost Milvus less.
pub const IDLE_PROBE_INTERVAL: Duration = Duration::from_secs(60);
/// Time between probes once one failed: a failing channel is decided on quickly.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long a probe may take: well above a healthy Milvus's answer, well below the
/// interval.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Consecutive failed probes after which a live channel counts as unhealthy: one slow
/// answer is noise, three are a pattern.
pub const UNHEALTHY_AFTER: u32 = 3;
/// State changes kept per alias (shown by `get`): enough to see a flapping pattern.
pub const HISTORY: usize = 100;
/// Events an `/v1/events` reader may fall behind by before it loses some: bounds the
/// daemon's memory whatever the reader does.
pub const STREAM_BUFFER: usize = 1024;
