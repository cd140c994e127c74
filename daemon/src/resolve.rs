//! The connection-parameter rules of pymilvus `connect()`, with its known bugs fixed.
//!
//! Two steps: [`merge`] decides which parameters apply (the caller's, the alias's stored
//! ones, or the daemon's `MILVUS_URI`), and [`resolve`] turns them into an [`AliasConfig`]
//! (address priority `address` > `uri` > `host`/`port`, URI credentials and database, TLS
//! rules). Both are pure, so every rule is unit-tested here.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use milvus_connd_protocol::{ConnectParams, Port, Secret, TlsInfo};
use url::Url;

use crate::alias_config::{
    AliasConfig, ClientIdentity, Credentials, EndpointConfig, Target, TlsConfig,
};
use crate::defaults;
use crate::error::{Error, Result};

/// The parameters a connect of `alias` uses: the caller's when they name a server (over
/// what `add` stored); else the stored ones with the caller's on top; else the daemon's
/// `MILVUS_URI`; else `ConnLackConf`.
pub fn merge(
    alias: &str,
    stored: Option<&ConnectParams>,
    given: &ConnectParams,
    env_uri: Option<&str>,
) -> Result<ConnectParams> {
    if given.has_address() {
        let base = stored.map(without_address).unwrap_or_default();
        return Ok(overlay(&base, given));
    }
    if let Some(stored) = stored {
        return Ok(overlay(stored, given));
    }
    match env_uri {
        Some(uri) => Ok(ConnectParams {
            uri: Some(uri.to_owned()),
            ..given.clone()
        }),
        None => Err(Error::ConnLackConf(alias.to_owned())),
    }
}

fn without_address(params: &ConnectParams) -> ConnectParams {
    ConnectParams {
        address: None,
        uri: None,
        host: None,
        port: None,
        ..params.clone()
    }
}

/// `params` over `defaults`: what a config alias means given `[daemon.alias_defaults]`.
pub fn with_defaults(params: &ConnectParams, defaults: &ConnectParams) -> ConnectParams {
    overlay(defaults, params)
}

/// `top`'s fields where set, `base`'s otherwise.
fn overlay(base: &ConnectParams, top: &ConnectParams) -> ConnectParams {
    fn pick<T: Clone>(top: &Option<T>, base: &Option<T>) -> Option<T> {
        top.clone().or_else(|| base.clone())
    }
    ConnectParams {
        alias: pick(&top.alias, &base.alias),
        user: pick(&top.user, &base.user),
        password: pick(&top.password, &base.password),
        db_name: pick(&top.db_name, &base.db_name),
        token: pick(&top.token, &base.token),
        password_file: pick(&top.password_file, &base.password_file),
        token_file: pick(&top.token_file, &base.token_file),
        address: pick(&top.address, &base.address),
        uri: pick(&top.uri, &base.uri),
        host: pick(&top.host, &base.host),
        port: pick(&top.port, &base.port),
        secure: pick(&top.secure, &base.secure),
        client_key_path: pick(&top.client_key_path, &base.client_key_path),
        client_pem_path: pick(&top.client_pem_path, &base.client_pem_path),
        ca_pem_path: pick(&top.ca_pem_path, &base.ca_pem_path),
        server_pem_path: pick(&top.server_pem_path, &base.server_pem_path),
        server_name: pick(&top.server_name, &base.server_name),
        timeout: pick(&top.timeout, &base.timeout),
        handler: pick(&top.handler, &base.handler),
        pool: pick(&top.pool, &base.pool),
        pool_size: pick(&top.pool_size, &base.pool_size),
        listen_tcp: pick(&top.listen_tcp, &base.listen_tcp),
        keep_warm: pick(&top.keep_warm, &base.keep_warm),
        idle_timeout: pick(&top.idle_timeout, &base.idle_timeout),
        allow_client_db: pick(&top.allow_client_db, &base.allow_client_db),
        max_lifetime: pick(&top.max_lifetime, &base.max_lifetime),
        backoff_initial: pick(&top.backoff_initial, &base.backoff_initial),
        backoff_max: pick(&top.backoff_max, &base.backoff_max),
    }
}

/// What a URI contributes besides the target.
#[derive(Debug, Default, PartialEq)]
struct UriExtras {
    user: Option<String>,
    password: Option<String>,
    db_name: Option<String>,
    https: bool,
}

/// Resolves merged parameters into a configuration. Checks everything that can be checked
/// without I/O.
pub fn resolve(params: &ConnectParams) -> Result<AliasConfig> {
    if let Some(handler) = &params.handler
        && !handler.eq_ignore_ascii_case("grpc")
    {
        return Err(Error::NotImplemented(format!(
            "handler '{handler}' is not implemented; only GRPC is"
        )));
    }
    let (target, extras) = resolve_target(params)?;
    let defaults = crate::health::backoff::BackoffPolicy::default();

    let user = params
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or(extras.user);
    let password = params
        .password
        .clone()
        .filter(|p| !p.is_empty())
        .or(extras.password.map(Secret::new));
    let credentials = match (&params.token, user, password) {
        (Some(token), _, _) if !token.is_empty() => Credentials::Token(token.clone()),
        (_, Some(user), Some(password)) => Credentials::UserPassword { user, password },
        (_, Some(_), None) => {
            return Err(Error::param("user is given without a password"));
        }
        (_, None, Some(_)) => return Err(Error::param("password is given without a user")),
        _ => Credentials::None,
    };

    // An explicit db_name wins; else the URI's first path segment (pymilvus ignores it).
    let db_name = params
        .db_name
        .clone()
        .filter(|db| !db.is_empty())
        .or(extras.db_name)
        .unwrap_or_else(|| defaults::DB_NAME.to_owned());

    let config = AliasConfig {
        endpoint: EndpointConfig {
            tls: resolve_tls(params, extras.https)?,
            target,
            credentials,
        },
        db_name,
        pool: params.pool.unwrap_or_default(),
        pool_size: resolve_pool_size(params.pool_size)?,
        listen_tcp: params
            .listen_tcp
            .as_deref()
            .map(resolve_listen_tcp)
            .transpose()?,
        allow_client_db: params.allow_client_db.unwrap_or(false),
        max_lifetime: params
            .max_lifetime
            .map(|s| {
                resolve_seconds(
                    "max_lifetime",
                    Some(s),
                    Duration::ZERO,
                    Duration::from_secs(30 * 24 * 3600),
                )
            })
            .transpose()?,
        backoff_initial: resolve_seconds(
            "backoff_initial",
            params.backoff_initial,
            defaults.initial,
            Duration::from_secs(3600),
        )?,
        backoff_max: resolve_seconds(
            "backoff_max",
            params.backoff_max,
            defaults.max,
            Duration::from_secs(3600),
        )?,
        timeout: resolve_seconds(
            "timeout",
            params.timeout,
            defaults::CONNECT_TIMEOUT,
            defaults::MAX_CONNECT_TIMEOUT,
        )?,
        keep_warm: params.keep_warm.unwrap_or(false),
        idle_timeout: resolve_seconds(
            "idle_timeout",
            params.idle_timeout,
            defaults::IDLE_TIMEOUT,
            Duration::from_secs(7 * 24 * 3600),
        )?,
    };
    if config.backoff_initial > config.backoff_max {
        return Err(Error::param("backoff_initial must not exceed backoff_max"));
    }
    Ok(config)
}

fn resolve_target(params: &ConnectParams) -> Result<(Target, UriExtras)> {
    if let Some(address) = &params.address {
        return Ok((parse_address(address)?, UriExtras::default()));
    }
    if let Some(uri) = &params.uri {
        return parse_uri(uri);
    }
    let host = params
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(defaults::HOST);
    let port = match &params.port {
        None => defaults::PORT,
        Some(Port::Text(text)) if text.is_empty() => defaults::PORT,
        Some(port) => parse_port(port)?,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.contains(':') && host.parse::<Ipv6Addr>().is_err() {
        return Err(Error::param(format!(
            "host '{host}' is not a host name or an IP address"
        )));
    }
    Ok((
        Target::Tcp {
            host: host.to_owned(),
            port,
        },
        UriExtras::default(),
    ))
}

fn parse_port(port: &Port) -> Result<u16> {
    let number = match port {
        Port::Number(n) => *n,
        Port::Text(text) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::param("Type of 'port' must be str or int."))?,
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p != u16::MAX)
        .ok_or_else(|| {
            Error::param(format!(
                "port number {number} out of range, valid range [0, 65535)"
            ))
        })
}

/// `host:port`, or `[v6]:port` (which pymilvus rejects).
fn parse_address(address: &str) -> Result<Target> {
    let illegal = || Error::IllegalAddress(address.to_owned());
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(illegal)?;
        host.parse::<Ipv6Addr>().map_err(|_| illegal())?;
        (host, port)
    } else {
        let (host, port) = address.split_once(':').ok_or_else(illegal)?;
        if host.is_empty() || port.contains(':') {
            return Err(illegal());
        }
        (host, port)
    };
    let port = port.parse::<u16>().map_err(|_| illegal())?;
    Ok(Target::Tcp {
        host: host.to_owned(),
        port,
    })
}

/// A URI with its userinfo removed, for messages.
pub fn redact_uri(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            // Both calls only fail for URIs that cannot have userinfo at all.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(_) => uri.to_owned(),
        Err(_) => match uri.split_once('@') {
            Some((_, rest)) => format!("<redacted>@{rest}"),
            None => uri.to_owned(),
        },
    }
}

fn parse_uri(uri: &str) -> Result<(Target, UriExtras)> {
    if let Some(rest) = uri.strip_prefix("unix:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if !path.starts_with('/') {
            return Err(Error::param(format!(
                "uri {uri} must name an absolute socket path, like unix:/run/milvus.sock"
            )));
        }
        return Ok((
            Target::Unix {
                path: PathBuf::from(path),
            },
            UriExtras::default(),
        ));
    }
    let shown = redact_uri(uri);
    let url = Url::parse(uri).map_err(|_| illegal_uri(&shown))?;
    match url.scheme() {
        "http" | "https" | "tcp" | "grpc" => {}
        _ if url.path().ends_with(".db") => {
            return Err(Error::NotImplemented(format!(
                "uri {shown} names a Milvus Lite file; milvus-connd serves Milvus servers only"
            )));
        }
        _ => {
            return Err(Error::param(format!(
                "uri: {shown} is illegal, needs start with [unix, http, https, tcp, grpc]"
            )));
        }
    }
    let https = url.scheme() == "https";
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(illegal_uri(&shown)),
    };
    let port = url
        .port()
        .or_else(|| elided_default_port(uri, url.scheme()))
        .unwrap_or(if https {
            defaults::HTTPS_PORT
        } else {
            defaults::PORT
        });
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| Error::param(format!("uri {shown}: userinfo is not valid UTF-8")))
    };
    let user = (!url.username().is_empty())
        .then(|| decode(url.username()))
        .transpose()?;
    let password = url.password().map(decode).transpose()?;
    let db_name = url
        .path_segments()
        .and_then(|mut segments| segments.next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok((
        Target::Tcp { host, port },
        UriExtras {
            user,
            password,
            db_name,
            https,
        },
    ))
}

fn illegal_uri(shown: &str) -> Error {
    Error::param(format!(
        "Illegal uri: [{shown}], expected form 'http[s]://[user:password@]example.com[:12345]'"
    ))
}

/// `url` drops a port equal to the scheme's default (80 for http), which Milvus does not
/// share; recover it from the raw text.
fn elided_default_port(raw: &str, scheme: &str) -> Option<u16> {
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = raw.split_once("://")?.1;
    let authority = authority.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port
        .ends_with(&format!(":{default}"))
        .then_some(default)
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn resolve_tls(params: &ConnectParams, https: bool) -> Result<Option<TlsConfig>> {
    let non_empty = |p: &Option<String>| p.clone().filter(|s| !s.is_empty());
    let given = TlsInfo {
        secure: true,
        server_name: non_empty(&params.server_name),
        ca_pem_path: non_empty(&params.ca_pem_path),
        server_pem_path: non_empty(&params.server_pem_path),
        client_pem_path: non_empty(&params.client_pem_path),
        client_key_path: non_empty(&params.client_key_path),
    };
    let has_files = given.ca_pem_path.is_some()
        || given.server_pem_path.is_some()
        || given.client_pem_path.is_some()
        || given.client_key_path.is_some();
    // Certificate files imply TLS; pymilvus silently ignores them without `secure`, which
    // sends in clear what the caller meant to protect.
    let secure = match params.secure {
        Some(false) if has_files => {
            return Err(Error::param(
                "certificate paths are given but secure is false; set secure to true or drop them",
            ));
        }
        Some(secure) => secure,
        None => https || has_files,
    };
    if !secure {
        return Ok(None);
    }
    let identity = match (&given.client_pem_path, &given.client_key_path) {
        (Some(cert), Some(key)) => Some(ClientIdentity {
            cert: cert.into(),
            key: key.into(),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::param(
                "client_pem_path and client_key_path must be given together for mutual TLS",
            ));
        }
    };
    // Unlike pymilvus, server_pem_path does not silently switch mutual TLS off: both files
    // are trusted roots and the client identity is kept.
    let roots = [&given.ca_pem_path, &given.server_pem_path]
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    Ok(Some(TlsConfig {
        server_name: given.server_name.clone(),
        roots,
        identity,
        given,
    }))
}

fn resolve_seconds(
    name: &str,
    value: Option<f64>,
    default: Duration,
    max: Duration,
) -> Result<Duration> {
    let Some(seconds) = value else {
        return Ok(default);
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= max.as_secs_f64()) {
        return Err(Error::param(format!(
            "{name} must be a number of seconds above 0 and at most {}",
            max.as_secs()
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn resolve_pool_size(size: Option<u32>) -> Result<u32> {
    match size {
        None => Ok(defaults::POOL_SIZE),
        Some(size) if (1..=defaults::MAX_POOL_SIZE).contains(&size) => Ok(size),
        Some(size) => Err(Error::param(format!(
            "pool_size {size} is out of range 1..={}",
            defaults::MAX_POOL_SIZE
        ))),
    }
}

fn resolve_listen_tcp(text: &str) -> Result<SocketAddr> {
    text.parse::<SocketAddr>().map_err(|_| {
        Error::param(format!(
            "listen_tcp '{text}' must be an IP address and port, like 127.0.0.1:19530"
        ))
    })
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
