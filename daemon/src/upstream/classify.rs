//! Naming the cause of an upstream failure.
//!
//! tonic reports most failures as `Unavailable` or even `Unknown: transport error`, with
//! the real cause (a refused port, a DNS failure, a certificate problem, a peer that does
//! not speak HTTP/2) somewhere down the source chain. This module walks the chain and
//! picks the error code and a message that say what went wrong.

use std::error::Error as StdError;
use std::io;

use milvus_connd_protocol::ErrorCode;
use rustls::{AlertDescription, CertificateError};

use super::connection::H2Error;
use super::transport::DialError;
use crate::alias_config::Target;
use crate::error::{BoxError, Error};

/// The first error of type `T` in the chain. `io::Error` hides the error it wraps from
/// `source()`, so it is looked into as well.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
            && let Some(found) = inner.downcast_ref::<T>()
        {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// A failure below gRPC: the cause if the chain names one we know.
fn known_cause(target: &Target, err: &(dyn StdError + 'static)) -> Option<(ErrorCode, String)> {
    if let Some(tls) = tls_error_in(target, err) {
        return Some(tls);
    }
    if let Some(dial) = find::<DialError>(err) {
        let code = match dial {
            DialError::Tls { .. } => ErrorCode::TlsError,
            _ => ErrorCode::Unavailable,
        };
        return Some((code, format!("cannot reach Milvus at {target}: {dial}")));
    }
    if let Some(io) = find::<io::Error>(err) {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => {
                return Some((
                    ErrorCode::Unavailable,
                    format!("connection refused by {target}"),
                ));
            }
            io::ErrorKind::TimedOut => {
                return Some((
                    ErrorCode::Timeout,
                    format!("connecting to {target} timed out"),
                ));
            }
            _ => {}
        }
    }
    if find::<H2Error>(err).is_some_and(H2Error::is_not_http2) {
        return Some((ErrorCode::Unimplemented, not_grpc(target)));
    }
    None
}

/// Whether an I/O error from a TLS handshake is a certificate verdict, i.e. the peer
/// spoke TLS and sent a certificate.
pub fn is_certificate_error(err: &io::Error) -> bool {
    matches!(
        find::<rustls::Error>(err),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

/// The TLS cause inside `err`, if any.
pub fn tls_error_in(
    target: &Target,
    err: &(dyn StdError + 'static),
) -> Option<(ErrorCode, String)> {
    find::<rustls::Error>(err).map(|tls| {
        (
            ErrorCode::TlsError,
            format!("TLS with {target} failed: {}", describe_tls(tls)),
        )
    })
}

/// Classifies a dial failure seen outside a channel (by a probe).
pub fn dial_error(target: &Target, err: DialError) -> Error {
    let (code, message) = known_cause(target, &err).unwrap_or_else(|| {
        (
            ErrorCode::Unavailable,
            format!("cannot reach Milvus at {target}: {err}"),
        )
    });
    Error::upstream(code, message, Some(Box::new(err) as BoxError))
}

pub fn not_grpc_error(target: &Target) -> Error {
    Error::upstream(ErrorCode::Unimplemented, not_grpc(target), None)
}

fn not_grpc(target: &Target) -> String {
    format!(
        "{target} does not speak gRPC; is it Milvus's HTTP port (9091) instead of its gRPC port (19530)?"
    )
}

fn describe_tls(err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            "the server certificate is not signed by a trusted CA (check ca_pem_path / server_pem_path)".into()
        }
        E::InvalidCertificate(CertificateError::NotValidForName)
        | E::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "the server certificate does not match the expected name (check server_name)".into()
        }
        E::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the server certificate has expired".into()
        }
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) => "the server refused the client certificate (mutual TLS needs client_pem_path and client_key_path signed by a CA the server trusts)".into(),
        E::InvalidMessage(_) => {
            "the server does not speak TLS (drop secure, or check the port)".into()
        }
        other => other.to_string(),
    }
}

/// Classifies a failed HTTP/2 handshake on a connection that was made.
pub fn handshake_error(target: &Target, err: H2Error) -> Error {
    let (code, message) = known_cause(target, &err).unwrap_or_else(|| {
        (
            ErrorCode::Unavailable,
            format!("HTTP/2 handshake with Milvus at {target} failed"),
        )
    });
    Error::upstream(code, message, Some(Box::new(err) as BoxError))
}

/// The status and the causes below it, as one line (tonic's own `Display` of a status
/// includes `Debug` output of its source).
fn status_cause(status: &tonic::Status) -> BoxError {
    let mut text = format!("gRPC {:?}: {}", status.code(), status.message());
    let mut next = std::error::Error::source(status);
    while let Some(err) = next {
        let part = err.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = err.source();
    }
    text.into()
}

/// Classifies a failed call during the handshake. Milvus's own message is kept for
/// authentication failures.
pub fn status_error(target: &Target, call: &str, status: tonic::Status) -> Error {
    use tonic::Code;
    let known = std::error::Error::source(&status).and_then(|src| known_cause(target, src));
    let (code, message) = match (status.code(), known) {
        (_, Some(known)) => known,
        (Code::Unauthenticated, None) => (
            ErrorCode::Unauthenticated,
            format!(
                "Milvus at {target} refused the credentials: {}",
                status.message()
            ),
        ),
        (Code::PermissionDenied, None) => (
            ErrorCode::PermissionDenied,
            format!("Milvus at {target} denied {call}: {}", status.message()),
        ),
        (Code::Unimplemented, None) => (ErrorCode::Unimplemented, not_grpc(target)),
        (Code::DeadlineExceeded, None) => {
            (ErrorCode::Timeout, format!("{call} to {target} timed out"))
        }
        (Code::Unavailable | Code::Unknown | Code::Cancelled, None) => (
            ErrorCode::Unavailable,
            format!("Milvus at {target} is unavailable: {}", status.message()),
        ),
        (_, None) => (
            ErrorCode::ServerUnhealthy,
            format!("Milvus at {target} failed {call}: {}", status.message()),
        ),
    };
    Error::upstream(code, message, Some(status_cause(&status)))
}

/// Whether the server at `target` answers an HTTP/2 preface in HTTP/1 — the telltale of
/// an HTTP port (Milvus's 9091) given where its gRPC port belongs. HTTP/1 servers often
/// close before the HTTP/2 client reads their answer, so the failure alone cannot say.
pub async fn speaks_http1(target: &Target) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Target::Tcp { host, port } = target else {
        return false;
    };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), *port))
            .await
            .ok()?;
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 7];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/1.")
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Replaces a vague `Unavailable` after a connection was made with what a closer look at
/// the endpoint finds (see `transport::diagnose`).
pub async fn refine(config: &crate::alias_config::EndpointConfig, err: Error) -> Error {
    if err.code() != ErrorCode::Unavailable {
        return err;
    }
    super::transport::diagnose(config).await.unwrap_or(err)
}
