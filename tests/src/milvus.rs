//! Real Milvus servers for the tests, installed and started by `tests/milvus/milvus.sh`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The four server set-ups the tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    Plain,
    /// `root:Milvus` required.
    Auth,
    /// One-way TLS (tlsMode 1), no authentication.
    Tls,
    /// Mutual TLS (tlsMode 2) and authentication.
    MutualTlsAuth,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Auth => "auth",
            Self::Tls => "tls",
            Self::MutualTlsAuth => "mtls",
        }
    }
}

/// A running Milvus on loopback.
#[derive(Debug)]
pub struct Milvus {
    pub flavor: Flavor,
    /// The gRPC port; `port + 9` is its HTTP (healthz/metrics) port.
    pub port: u16,
}

impl Milvus {
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn http_port(&self) -> u16 {
        self.port + 9
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("milvus/milvus.sh")
}

fn run(args: &[String]) {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run milvus.sh");
    assert!(
        output.status.success(),
        "milvus.sh {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs one `milvus.sh` install command once for all test binaries; a file lock makes
/// concurrent binaries wait for each other.
fn install_once(command: &str) {
    let root = crate::harness_dir();
    std::fs::create_dir_all(&root).expect("harness dir");
    let lock_file = std::fs::File::create(root.join(".install.lock")).expect("lock file");
    let _lock =
        nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive).expect("flock");
    run(&[command.into(), root.display().to_string()]);
}

fn install() {
    install_once("install");
}

/// The Python of a venv with pymilvus 3.0.2 (installed on first use).
pub fn python() -> PathBuf {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| install_once("install-client"));
    crate::harness_dir().join("pyclient/bin/python")
}

/// Runs `tests/python/<script>` with `args` under the pymilvus venv; returns its stdout,
/// failing the test with its stderr when it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let output = Command::new(python())
        .arg(path)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A free block of 12 loopback ports (Milvus uses PORT..PORT+11).
fn free_port_block() -> u16 {
    let seed = 20_000 + (std::process::id() % 700) as u16 * 12;
    (0..400u16)
        .map(|i| 20_000 + (seed - 20_000 + i * 12) % 24_000)
        .find(|&base| (base..base + 12).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()))
        .expect("a free block of 12 loopback ports")
}

fn start_args(flavor: Flavor, name: &str, port: u16) -> Vec<String> {
    let mut args = vec![
        "start".into(),
        crate::harness_dir().display().to_string(),
        name.to_owned(),
        port.to_string(),
        "--watch-pid".into(),
        std::process::id().to_string(),
    ];
    match flavor {
        Flavor::Plain => {}
        Flavor::Auth => args.push("--auth".into()),
        Flavor::Tls => args.extend(["--tls".into(), "1".into()]),
        Flavor::MutualTlsAuth => args.extend(["--auth".into(), "--tls".into(), "2".into()]),
    }
    if matches!(flavor, Flavor::Tls | Flavor::MutualTlsAuth) {
        args.extend([
            "--certs".into(),
            crate::certs::shared().dir.display().to_string(),
        ]);
    }
    args
}

fn start(flavor: Flavor) -> Milvus {
    install();
    let port = free_port_block();
    run(&start_args(
        flavor,
        &format!("{}-{}", flavor.name(), std::process::id()),
        port,
    ));
    Milvus { flavor, port }
}

/// A Milvus of one test's own, which it may kill and restart; stopped when dropped.
#[derive(Debug)]
pub struct Dedicated {
    pub milvus: Milvus,
    name: String,
}

impl Dedicated {
    pub fn start(flavor: Flavor) -> Self {
        install();
        let _guard = starting().lock().unwrap_or_else(|p| p.into_inner());
        let port = free_port_block();
        let name = format!("{}-dedicated-{}-{port}", flavor.name(), std::process::id());
        run(&start_args(flavor, &name, port));
        Self {
            milvus: Milvus { flavor, port },
            name,
        }
    }

    fn pid(&self) -> i32 {
        let path = crate::harness_dir()
            .join("instances")
            .join(&self.name)
            .join("milvus.pid");
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .expect("milvus pid file")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&self) {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill -9 milvus");
        // Wait until it is gone, so a restart finds its ports free.
        for _ in 0..200 {
            if nix::sys::signal::kill(pid, None).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts it again on the same data and port; returns once it answers healthz.
    pub fn restart(&self) {
        let mut args = start_args(self.milvus.flavor, &self.name, self.milvus.port);
        args.push("--keep-data".into());
        run(&args);
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args([
                "stop",
                &crate::harness_dir().display().to_string(),
                &self.name,
            ])
            .output();
        let _ = std::fs::remove_dir_all(crate::harness_dir().join("instances").join(&self.name));
    }
}

/// Start one Milvus at a time: two start-ups at once on 2 cores only slow each other.
fn starting() -> &'static Mutex<()> {
    static STARTING: Mutex<()> = Mutex::new(());
    &STARTING
}

/// The shared instance of `flavor`, started on first use.
pub fn shared(flavor: Flavor) -> &'static Milvus {
    static PLAIN: OnceLock<Milvus> = OnceLock::new();
    static AUTH: OnceLock<Milvus> = OnceLock::new();
    static TLS: OnceLock<Milvus> = OnceLock::new();
    static MTLS: OnceLock<Milvus> = OnceLock::new();
    let cell = match flavor {
        Flavor::Plain => &PLAIN,
        Flavor::Auth => &AUTH,
        Flavor::Tls => &TLS,
        Flavor::MutualTlsAuth => &MTLS,
    };
    cell.get_or_init(|| {
        let _guard = starting().lock().unwrap_or_else(|p| p.into_inner());
        start(flavor)
    })
}
