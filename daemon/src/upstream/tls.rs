//! Turning an alias's TLS settings into a client TLS configuration.
//!
//! Files are checked here so that a missing or malformed file is a `ParamError` naming the
//! parameter and the file, instead of a handshake failure later. The daemon usually runs
//! with more rights than its callers, so it also refuses files the caller could not read
//! itself: otherwise any local user could borrow the daemon's client key.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::alias_config::TlsConfig;
use crate::error::{Error, Result};
use crate::peer::Peer;

/// The TLS settings' files, each with the parameter it came from.
fn files(tls: &TlsConfig) -> Vec<(&'static str, &Path)> {
    let given = &tls.given;
    let mut files = Vec::new();
    for (param, path) in [
        ("ca_pem_path", &given.ca_pem_path),
        ("server_pem_path", &given.server_pem_path),
        ("client_pem_path", &given.client_pem_path),
        ("client_key_path", &given.client_key_path),
    ] {
        if let Some(path) = path {
            files.push((param, Path::new(path.as_str())));
        }
    }
    files
}

/// Refuses files that `peer` could not read by the file's own permission bits.
pub fn check_access(tls: &TlsConfig, peer: &Peer) -> Result<()> {
    for (param, path) in files(tls) {
        if !path.is_absolute() {
            return Err(Error::param(format!("{param} must be an absolute path, got {}", path.display())));
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::param(format!("cannot read {param} {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(Error::param(format!("{param} {} is not a regular file", path.display())));
        }
        if peer.is_privileged() {
            continue;
        }
        let mode = meta.mode();
        let readable = (meta.uid() == peer.uid && mode & 0o400 != 0)
            || (meta.gid() == peer.gid && mode & 0o040 != 0)
            || mode & 0o004 != 0;
        if !readable {
            return Err(Error::PermissionDenied(format!(
                "{param} {} is not readable by uid {}",
                path.display(),
                peer.uid
            )));
        }
    }
    Ok(())
}

fn read(param: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::param(format!("cannot read {param} {}: {e}", path.display())))
}

fn read_certificates(param: &str, path: &Path) -> Result<Vec<u8>> {
    let pem = read(param, path)?;
    let count = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::param(format!("{param} {} is not valid PEM: {e}", path.display())))?
        .len();
    if count == 0 {
        return Err(Error::param(format!("{param} {} holds no PEM certificate", path.display())));
    }
    Ok(pem)
}

/// Builds the client TLS configuration; `host` is the name checked when no
/// `server_name` is given.
pub fn client_config(tls: &TlsConfig, host: &str) -> Result<ClientTlsConfig> {
    let given = &tls.given;
    let mut config = ClientTlsConfig::new()
        .domain_name(tls.server_name.clone().unwrap_or_else(|| host.to_owned()))
        .assume_http2(true);
    if tls.roots.is_empty() {
        config = config.with_native_roots();
    }
    for (param, path) in [("ca_pem_path", &given.ca_pem_path), ("server_pem_path", &given.server_pem_path)] {
        if let Some(path) = path {
            config = config.ca_certificate(Certificate::from_pem(read_certificates(param, Path::new(path))?));
        }
    }
    if let Some(identity) = &tls.identity {
        let cert = read_certificates("client_pem_path", &identity.cert)?;
        let key = read("client_key_path", &identity.key)?;
        PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
            Error::param(format!(
                "client_key_path {} holds no usable private key: {e}",
                identity.key.display()
            ))
        })?;
        config = config.identity(Identity::from_pem(cert, key));
    }
    Ok(config)
}
