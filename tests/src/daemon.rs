//! The real `milvus-connd` binary, in a temporary runtime directory of its own.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use milvus_connd_client::Client;
pub use nix::sys::signal::Signal;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Options for starting a daemon.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Written as `.env` in the daemon's working directory.
    pub dotenv: Option<String>,
    /// The state file; a fresh one in the daemon's directory when not given, so tests
    /// never share (or touch the machine's) persisted aliases.
    pub state_file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Other uids (the `nobody` tests) must be able to reach the runtime directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        if let Some(text) = &options.dotenv {
            std::fs::write(dir.path().join(".env"), text).expect("write .env");
        }
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let mut command = Command::new(crate::binary("milvus-connd"));
        command
            .arg("--runtime-dir")
            .arg(dir.path().join("rt"))
            .arg("--state-file")
            .arg(
                options
                    .state_file
                    .clone()
                    .unwrap_or_else(|| dir.path().join("state.json")),
            )
            .args(&options.args)
            .current_dir(dir.path())
            .env_remove("MILVUS_URI")
            .env("RUST_LOG", "debug,h2=info,hyper=info,tower=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn milvus-connd");
        let daemon = Self { child, dir };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "milvus-connd did not open its control socket; log:\n{}",
            self.log()
        );
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("rt")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("control.sock")
    }

    pub fn client(&self) -> Client {
        Client::new(self.socket())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("daemon.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// The exit status, if the daemon exits within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, and the exit status once it stops (KILL after 10 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop();
        }
    }
}

/// Runs `milvus-connctl` with `args` against `daemon`, as the given uid/gid if any.
pub fn connctl(
    daemon: &Daemon,
    args: &[&str],
    stdin: Option<&str>,
    as_user: Option<(u32, u32)>,
) -> std::process::Output {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    let mut binary = crate::binary("milvus-connctl");
    if as_user.is_some() {
        // Another uid may not be able to reach the target directory: use a copy.
        let copy = daemon.dir().join("milvus-connctl");
        if !copy.exists() {
            std::fs::copy(&binary, &copy).expect("copy milvus-connctl");
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        binary = copy;
    }
    let mut command = Command::new(binary);
    command
        .arg("--socket")
        .arg(daemon.socket())
        .args(args)
        .env_remove("MILVUS_PASSWORD")
        .env_remove("MILVUS_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = as_user {
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn().expect("spawn milvus-connctl");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("milvus-connctl output")
}
