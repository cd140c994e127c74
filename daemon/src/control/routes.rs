//! The routes of the control API (DESIGN.md §5) and their mapping onto the registry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::http::{Method, Request, StatusCode, header};
use hyper::body::Incoming;
use milvus_connd_protocol::{
    ConnectParams, DisconnectRequest, MAX_BODY_BYTES, ReconnectRequest, ReleaseRequest, StatusInfo,
};

use tokio::sync::watch;

use super::events;
use super::http::{self, Answer, Rejection};
use crate::peer::Peer;
use crate::registry::Registry;
use crate::shutdown::Phase;

/// What every request handler can reach.
#[derive(Debug)]
pub struct Context {
    pub registry: Arc<Registry>,
    pub started: Instant,
    /// How long a client may take to send one request.
    pub request_timeout: Duration,
    /// Moves the daemon to draining (`POST /v1/shutdown`).
    pub shutdown: Arc<watch::Sender<Phase>>,
    /// The config file, for `POST /v1/reload`.
    pub config_path: Option<std::path::PathBuf>,
}

enum Route<'a> {
    Aliases,
    Alias(&'a str),
    AliasAction(&'a str, &'a str),
    Status,
    Events,
    Shutdown,
    Reload,
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["aliases"] => Some(Route::Aliases),
        ["aliases", alias] => Some(Route::Alias(alias)),
        [
            "aliases",
            alias,
            action @ ("connect" | "disconnect" | "release" | "reconnect"),
        ] => Some(Route::AliasAction(alias, action)),
        ["status"] => Some(Route::Status),
        ["events"] => Some(Route::Events),
        ["shutdown"] => Some(Route::Shutdown),
        ["reload"] => Some(Route::Reload),
        _ => None,
    }
}

fn method_not_allowed(allowed: &'static str) -> Answer {
    let mut answer = http::rejection(Rejection::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; use {allowed}"),
    ));
    answer
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
    answer
}

/// Answers one request from `peer`.
pub async fn handle(ctx: Arc<Context>, peer: Peer, req: Request<Incoming>) -> Answer {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|len| len > MAX_BODY_BYTES) {
        return http::rejection(http::too_large());
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let Some(route) = route(&path) else {
        return http::rejection(Rejection::new(
            StatusCode::NOT_FOUND,
            format!("no such route: {path}"),
        ));
    };
    let registry = &ctx.registry;
    let body = req.into_body();
    match (route, method) {
        (Route::Aliases, Method::GET) => http::json(StatusCode::OK, &registry.list(&peer)),
        (Route::Aliases, _) => method_not_allowed("GET"),
        (Route::Alias(alias), Method::GET) => answer(registry.get(&peer, alias), alias),
        (Route::Alias(alias), Method::PUT) => {
            match http::read_json::<ConnectParams>(body, ctx.request_timeout).await {
                Ok(params) => answer(registry.add(&peer, alias, params).await, alias),
                Err(rejection) => http::rejection(rejection),
            }
        }
        (Route::Alias(alias), Method::DELETE) => match registry.remove(&peer, alias).await {
            Ok(()) => http::no_content(),
            Err(err) => http::error(&err, Some(alias)),
        },
        (Route::Alias(_), _) => method_not_allowed("GET, PUT, DELETE"),
        (Route::AliasAction(alias, "connect"), Method::POST) => {
            match http::read_json::<ConnectParams>(body, ctx.request_timeout).await {
                Ok(params) => answer(registry.connect(&peer, alias, params).await, alias),
                Err(rejection) => http::rejection(rejection),
            }
        }
        (Route::AliasAction(alias, "release"), Method::POST) => {
            match http::read_json::<ReleaseRequest>(body, ctx.request_timeout).await {
                Ok(request) => answer(registry.release(&peer, alias, &request.lease).await, alias),
                Err(rejection) => http::rejection(rejection),
            }
        }
        (Route::AliasAction(alias, "reconnect"), Method::POST) => {
            match http::read_json::<ReconnectRequest>(body, ctx.request_timeout).await {
                Ok(request) => answer(registry.reconnect(&peer, alias, request.mode).await, alias),
                Err(rejection) => http::rejection(rejection),
            }
        }
        (Route::AliasAction(alias, _disconnect), Method::POST) => {
            match http::read_json::<DisconnectRequest>(body, ctx.request_timeout).await {
                Ok(request) => answer(
                    registry.disconnect(&peer, alias, request.force).await,
                    alias,
                ),
                Err(rejection) => http::rejection(rejection),
            }
        }
        (Route::AliasAction(..), _) => method_not_allowed("POST"),
        (Route::Status, Method::GET) => http::json(StatusCode::OK, &status(&ctx, &peer)),
        (Route::Status, _) => method_not_allowed("GET"),
        (Route::Events, Method::GET) => events::stream(
            registry.clone(),
            peer,
            events::alias_filter(query.as_deref()),
        ),
        (Route::Events, _) => method_not_allowed("GET"),
        (Route::Shutdown, Method::POST) => shutdown(&ctx, &peer),
        (Route::Shutdown, _) => method_not_allowed("POST"),
        (Route::Reload, Method::POST) if !peer.is_privileged() => http::error(
            &crate::Error::PermissionDenied("only root or the daemon's user may reload it".into()),
            None,
        ),
        (Route::Reload, Method::POST) => match crate::reload(&ctx).await {
            Ok(report) => http::json(StatusCode::OK, &report),
            Err(err) => http::error(&err, None),
        },
        (Route::Reload, _) => method_not_allowed("POST"),
    }
}

fn answer<T: serde::Serialize>(result: crate::error::Result<T>, alias: &str) -> Answer {
    match result {
        Ok(value) => http::json(StatusCode::OK, &value),
        Err(err) => http::error(&err, Some(alias)),
    }
}

/// `POST /v1/shutdown`: what SIGTERM does, for root and the daemon's uid.
fn shutdown(ctx: &Context, peer: &Peer) -> Answer {
    if !peer.is_privileged() {
        let err =
            crate::Error::PermissionDenied("only root or the daemon's user may stop it".into());
        return http::error(&err, None);
    }
    tracing::info!(
        uid = peer.uid,
        pid = peer.pid,
        "shutdown requested through the control API"
    );
    ctx.shutdown.send_if_modified(|phase| {
        let starts = *phase == Phase::Running;
        if starts {
            *phase = Phase::Draining;
        }
        starts
    });
    http::json(StatusCode::ACCEPTED, &serde_json::json!({"stopping": true}))
}

fn status(ctx: &Context, peer: &Peer) -> StatusInfo {
    StatusInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        uptime_seconds: ctx.started.elapsed().as_secs_f64(),
        ..ctx.registry.status(peer)
    }
}
