//! One test per row of the DESIGN.md §4 parameter table that needs no server.

use super::*;
use milvus_connd_protocol::{ErrorCode, PoolMode};

fn params(json: &str) -> ConnectParams {
    serde_json::from_str(json).expect("valid params")
}

fn target_of(json: &str) -> String {
    resolve(&params(json))
        .expect("resolves")
        .endpoint
        .target
        .to_string()
}

fn code_of(json: &str) -> ErrorCode {
    resolve(&params(json)).expect_err("must fail").code()
}

#[test]
fn address_beats_uri_beats_host_and_port() {
    assert_eq!(
        target_of(r#"{"address":"a:1","uri":"http://b:2","host":"c","port":3}"#),
        "a:1"
    );
    assert_eq!(
        target_of(r#"{"uri":"http://b:2","host":"c","port":3}"#),
        "b:2"
    );
    assert_eq!(target_of(r#"{"host":"c","port":3}"#), "c:3");
}

#[test]
fn host_and_port_fill_each_other() {
    assert_eq!(target_of(r#"{"port":"19600"}"#), "localhost:19600");
    assert_eq!(target_of(r#"{"host":"milvus"}"#), "milvus:19530");
    assert_eq!(target_of(r#"{"host":"","port":""}"#), "localhost:19530");
    assert_eq!(target_of("{}"), "localhost:19530");
}

#[test]
fn bad_ports_are_param_errors_with_pymilvus_messages() {
    let err = resolve(&params(r#"{"port":"abc"}"#)).expect_err("bad port");
    assert_eq!(err.to_string(), "Type of 'port' must be str or int.");
    let err = resolve(&params(r#"{"port":70000}"#)).expect_err("bad port");
    assert_eq!(
        err.to_string(),
        "port number 70000 out of range, valid range [0, 65535)"
    );
}

#[test]
fn address_must_be_host_colon_port() {
    for bad in ["localhost", ":19530", "a:b", "a:1:2", "[::1]", "[zz]:1"] {
        let err = resolve(&ConnectParams {
            address: Some(bad.into()),
            ..Default::default()
        })
        .expect_err(bad);
        assert_eq!(err.code(), ErrorCode::IllegalAddress, "{bad}");
        assert_eq!(
            err.to_string(),
            format!("Illegal address: {bad}, should be in form 'localhost:19530'")
        );
    }
}

#[test]
fn ipv6_is_accepted_everywhere() {
    assert_eq!(target_of(r#"{"address":"[::1]:19530"}"#), "[::1]:19530");
    assert_eq!(target_of(r#"{"uri":"http://[::1]:19531"}"#), "[::1]:19531");
    assert_eq!(target_of(r#"{"host":"::1"}"#), "[::1]:19530");
}

#[test]
fn uri_schemes_and_default_ports() {
    assert_eq!(target_of(r#"{"uri":"http://h"}"#), "h:19530");
    assert_eq!(target_of(r#"{"uri":"tcp://h:1"}"#), "h:1");
    assert_eq!(target_of(r#"{"uri":"grpc://h:2"}"#), "h:2");
    assert_eq!(target_of(r#"{"uri":"http://h:80"}"#), "h:80");
    assert_eq!(target_of(r#"{"uri":"https://h"}"#), "h:443");
    assert_eq!(
        target_of(r#"{"uri":"unix:/run/m.sock"}"#),
        "unix:/run/m.sock"
    );
    assert_eq!(code_of(r#"{"uri":"ftp://h"}"#), ErrorCode::ParamError);
    assert_eq!(
        code_of(r#"{"uri":"localhost:19530"}"#),
        ErrorCode::ParamError
    );
    assert_eq!(
        code_of(r#"{"uri":"unix:relative.sock"}"#),
        ErrorCode::ParamError
    );
    assert_eq!(code_of(r#"{"uri":"./local.db"}"#), ErrorCode::ParamError);
    assert_eq!(
        code_of(r#"{"uri":"file:///tmp/x.db"}"#),
        ErrorCode::NotImplemented
    );
}

#[test]
fn https_means_secure_with_system_roots() {
    let config = resolve(&params(r#"{"uri":"https://h"}"#)).expect("resolves");
    let tls = config.endpoint.tls.expect("tls on");
    assert!(tls.roots.is_empty() && tls.identity.is_none());
    let config = resolve(&params(r#"{"uri":"http://h"}"#)).expect("resolves");
    assert!(config.endpoint.tls.is_none());
}

#[test]
fn uri_userinfo_gives_credentials_and_the_path_gives_the_database() {
    let config = resolve(&params(r#"{"uri":"http://root:Mil%40vus@h:1/mydb"}"#)).expect("ok");
    assert_eq!(
        config.endpoint.credentials,
        Credentials::UserPassword {
            user: "root".into(),
            password: Secret::new("Mil@vus")
        }
    );
    // pymilvus drops the path database when db_name keeps its default: fixed here.
    assert_eq!(config.db_name, "mydb");
    let config = resolve(&params(r#"{"uri":"http://h/mydb","db_name":"other"}"#)).expect("ok");
    assert_eq!(config.db_name, "other");
    let config = resolve(&params(r#"{"uri":"http://h"}"#)).expect("ok");
    assert_eq!(config.db_name, "default");
}

#[test]
fn token_wins_over_user_and_password() {
    let config = resolve(&params(
        r#"{"uri":"http://h","user":"a","password":"b","token":"root:Milvus"}"#,
    ))
    .expect("ok");
    assert_eq!(
        config.endpoint.credentials,
        Credentials::Token(Secret::new("root:Milvus"))
    );
}

#[test]
fn half_credentials_are_refused() {
    assert_eq!(code_of(r#"{"user":"a"}"#), ErrorCode::ParamError);
    assert_eq!(code_of(r#"{"password":"a"}"#), ErrorCode::ParamError);
}

#[test]
fn handler_other_than_grpc_is_not_implemented() {
    assert_eq!(code_of(r#"{"handler":"HTTP"}"#), ErrorCode::NotImplemented);
    assert!(resolve(&params(r#"{"handler":"GRPC"}"#)).is_ok());
}

#[test]
fn pool_defaults_to_shared() {
    assert_eq!(resolve(&params("{}")).expect("ok").pool, PoolMode::Shared);
    let config = resolve(&params(r#"{"pool":"dedicated"}"#)).expect("ok");
    assert_eq!(config.pool, PoolMode::Dedicated);
}

#[test]
fn tls_rules() {
    let config = resolve(&params(
        r#"{"uri":"http://h","secure":true,"ca_pem_path":"/c","client_pem_path":"/p","client_key_path":"/k","server_pem_path":"/s","server_name":"n"}"#,
    ))
    .expect("ok");
    let tls = config.endpoint.tls.expect("tls");
    // server_pem_path does not switch mutual TLS off (a pymilvus quirk).
    assert!(tls.identity.is_some());
    assert_eq!(tls.roots, vec![PathBuf::from("/c"), PathBuf::from("/s")]);
    assert_eq!(tls.server_name.as_deref(), Some("n"));
    // Files imply TLS; an explicit secure=false with files is a contradiction.
    assert!(
        resolve(&params(r#"{"ca_pem_path":"/c"}"#))
            .expect("ok")
            .endpoint
            .tls
            .is_some()
    );
    assert_eq!(
        code_of(r#"{"secure":false,"ca_pem_path":"/c"}"#),
        ErrorCode::ParamError
    );
    assert_eq!(
        code_of(r#"{"client_pem_path":"/p"}"#),
        ErrorCode::ParamError
    );
}

#[test]
fn timeout_bounds() {
    assert_eq!(
        resolve(&params("{}")).expect("ok").timeout,
        Duration::from_secs(10)
    );
    assert_eq!(
        resolve(&params(r#"{"timeout":0.5}"#)).expect("ok").timeout,
        Duration::from_millis(500)
    );
    for bad in ["0", "-1", "100000"] {
        assert_eq!(
            code_of(&format!(r#"{{"timeout":{bad}}}"#)),
            ErrorCode::ParamError
        );
    }
}

#[test]
fn data_plane_settings() {
    let config = resolve(&params("{}")).expect("ok");
    assert_eq!(config.pool_size, 2);
    assert!(!config.keep_warm && !config.allow_client_db && config.listen_tcp.is_none());
    assert_eq!(config.idle_timeout, Duration::from_secs(600));
    let config = resolve(&params(
        r#"{"pool_size":4,"listen_tcp":"127.0.0.1:19999","idle_timeout":2}"#,
    ))
    .expect("ok");
    assert_eq!(config.pool_size, 4);
    assert_eq!(config.listen_tcp.map(|a| a.port()), Some(19999));
    assert_eq!(config.idle_timeout, Duration::from_secs(2));
    assert_eq!(code_of(r#"{"pool_size":0}"#), ErrorCode::ParamError);
    assert_eq!(code_of(r#"{"pool_size":65}"#), ErrorCode::ParamError);
    assert_eq!(
        code_of(r#"{"listen_tcp":"localhost"}"#),
        ErrorCode::ParamError
    );
}

#[test]
fn merge_priorities() {
    let stored = params(r#"{"uri":"http://stored:1","user":"u","password":"p"}"#);
    // Address params in the call replace the stored address but keep the rest.
    let merged = merge("a", Some(&stored), &params(r#"{"host":"new"}"#), None).expect("ok");
    assert_eq!(
        resolve(&merged).expect("ok").endpoint.target.to_string(),
        "new:19530"
    );
    assert_eq!(merged.user.as_deref(), Some("u"));
    // Without address params the stored config applies, with the call's fields on top,
    // token included (pymilvus drops it on this path).
    let merged = merge(
        "a",
        Some(&stored),
        &params(r#"{"token":"t"}"#),
        Some("http://env:9"),
    )
    .expect("ok");
    let config = resolve(&merged).expect("ok");
    assert_eq!(config.endpoint.target.to_string(), "stored:1");
    assert_eq!(
        config.endpoint.credentials,
        Credentials::Token(Secret::new("t"))
    );
    // MILVUS_URI only when nothing is stored, and the token still counts.
    let merged = merge("a", None, &params(r#"{"token":"t"}"#), Some("http://env:9")).expect("ok");
    let config = resolve(&merged).expect("ok");
    assert_eq!(config.endpoint.target.to_string(), "env:9");
    assert_eq!(
        config.endpoint.credentials,
        Credentials::Token(Secret::new("t"))
    );
    // Nothing at all: ConnLackConf, with pymilvus's message.
    let err = merge("nocfg", None, &ConnectParams::default(), None).expect_err("lack");
    assert_eq!(err.code(), ErrorCode::ConnLackConf);
    assert!(err.to_string().contains("'nocfg'"));
}

#[test]
fn uris_in_messages_lose_their_userinfo() {
    let err = resolve(&params(r#"{"uri":"ftp://root:hunter2@h"}"#)).expect_err("bad scheme");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert_eq!(redact_uri("http://u:p@h:1/db"), "http://h:1/db");
    assert_eq!(redact_uri("not a uri u:p@h"), "<redacted>@h");
}

#[test]
fn lifetime_and_backoff_settings() {
    assert_eq!(resolve(&params("{}")).expect("ok").max_lifetime, None);
    let config = resolve(&params(r#"{"max_lifetime":1.5}"#)).expect("ok");
    assert_eq!(config.max_lifetime, Some(Duration::from_millis(1500)));
    assert_eq!(code_of(r#"{"max_lifetime":0}"#), ErrorCode::ParamError);
    let config = resolve(&params(r#"{"backoff_initial":0.2,"backoff_max":5}"#)).expect("ok");
    let backoff = config.pool_settings().backoff();
    assert_eq!(
        (backoff.initial, backoff.max),
        (Duration::from_millis(200), Duration::from_secs(5))
    );
    assert_eq!(
        resolve(&params("{}"))
            .expect("ok")
            .pool_settings()
            .backoff(),
        crate::health::backoff::BackoffPolicy::default()
    );
    assert_eq!(code_of(r#"{"backoff_max":-1}"#), ErrorCode::ParamError);
    assert_eq!(
        code_of(r#"{"backoff_initial":10,"backoff_max":5}"#),
        ErrorCode::ParamError
    );
}
