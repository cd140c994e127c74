//! HAProxy as the peer the daemon is compared with: HTTP/2 on both sides, injecting the
//! upstream's `authorization` header — the same job the daemon does for an alias.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running HAProxy; stopped when dropped.
#[derive(Debug)]
pub struct HaProxy {
    child: Child,
    pub listen: SocketAddr,
}

impl HaProxy {
    /// Starts HAProxy with `threads` threads, forwarding a fresh loopback port to
    /// `upstream` and setting `authorization` on every request.
    pub fn start(
        upstream: SocketAddr,
        authorization: &str,
        threads: u16,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let listen = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let config = dir.join(format!("haproxy-{}.cfg", listen.port()));
        let log = config.with_extension("log");
        std::fs::write(
            &config,
            format!(
                "global\n\
                 \x20   nbthread {threads}\n\
                 \x20   maxconn 4000\n\
                 defaults\n\
                 \x20   mode http\n\
                 \x20   timeout connect 5s\n\
                 \x20   timeout client 120s\n\
                 \x20   timeout server 120s\n\
                 frontend grpc\n\
                 \x20   bind {listen} proto h2\n\
                 \x20   http-request set-header authorization \"{authorization}\"\n\
                 \x20   default_backend upstream\n\
                 backend upstream\n\
                 \x20   server upstream {upstream} proto h2\n"
            ),
        )?;
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot run haproxy (is it installed?)")?;
        let mut proxy = Self { child, listen };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(listen).is_err() {
            if Instant::now() > deadline || proxy.child.try_wait()?.is_some() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("haproxy did not start listening on {listen}: {said}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(proxy)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
