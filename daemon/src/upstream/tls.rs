//! Turning an alias's TLS settings into a client TLS configuration.
//!
//! Files are checked here so that a missing or malformed file is a `ParamError` naming the
//! parameter and the file, instead of a handshake failure later.

use std::path::Path;

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

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

/// Refuses files that `peer` could not read itself (see [`crate::files`]).
pub fn check_access(tls: &TlsConfig, peer: &Peer) -> Result<()> {
    for (param, path) in files(tls) {
        crate::files::check_readable(param, path, peer)?;
    }
    Ok(())
}

fn read(param: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::param(format!("cannot read {param} {}: {e}", path.display())))
}

fn read_certificates(param: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(param, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::param(format!("{param} {} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::param(format!(
            "{param} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    // An explicit provider: no process-wide default to install or forget.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS provider: {e}")))
}

/// Builds the client TLS configuration (ALPN h2, as gRPC requires).
pub fn client_config(tls: &TlsConfig) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    if tls.roots.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        if native.certs.is_empty() {
            return Err(Error::param(
                "secure is set without ca_pem_path and the system has no CA certificates",
            ));
        }
        roots.add_parsable_certificates(native.certs);
    }
    let given = &tls.given;
    for (param, path) in [
        ("ca_pem_path", &given.ca_pem_path),
        ("server_pem_path", &given.server_pem_path),
    ] {
        if let Some(path) = path {
            for cert in read_certificates(param, Path::new(path))? {
                roots.add(cert).map_err(|e| {
                    Error::param(format!("{param} {path} holds an unusable certificate: {e}"))
                })?;
            }
        }
    }
    let builder = builder()?.with_root_certificates(roots);
    let mut config = match &tls.identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = read_certificates("client_pem_path", &identity.cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read("client_key_path", &identity.key)?)
                .map_err(|e| {
                    Error::param(format!(
                        "client_key_path {} holds no usable private key: {e}",
                        identity.key.display()
                    ))
                })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::param(format!(
                    "client_pem_path and client_key_path do not form a usable identity: {e}"
                ))
            })?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A configuration that trusts nothing: a handshake with it fails with a certificate error
/// exactly when the peer speaks TLS, which is how a plaintext alias pointed at a TLS port
/// is recognised.
pub fn probe_config() -> Result<Arc<ClientConfig>> {
    let mut config = builder()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The SNI of a probe of `host`.
pub fn server_name_for_probe(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// The name checked in the server certificate and sent as SNI.
pub fn server_name(tls: &TlsConfig, host: &str) -> Result<ServerName<'static>> {
    let name = tls.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_owned()).map_err(|_| {
        Error::param(format!(
            "server_name '{name}' is not a DNS name or an IP address"
        ))
    })
}
