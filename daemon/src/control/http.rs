//! HTTP plumbing of the control API: reading a bounded JSON body within a deadline, and
//! writing JSON answers and errors in the one shape clients expect.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use milvus_connd_protocol::{ApiError, ErrorBody, ErrorCode, MAX_BODY_BYTES};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Every answer: a JSON document, or (for `/v1/events`) a stream of lines.
pub type Answer = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// A request that could not be read: answered with `status` and a `ParamError`.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
}

impl Rejection {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Reads a JSON body of at most 64 KiB; an empty body reads as `{}`.
pub async fn read_json<T: DeserializeOwned>(
    body: Incoming,
    deadline: Duration,
) -> Result<T, Rejection> {
    let limited = Limited::new(body, MAX_BODY_BYTES);
    let collected = tokio::time::timeout(deadline, limited.collect())
        .await
        .map_err(|_| {
            Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {:.1} s",
                    deadline.as_secs_f64()
                ),
            )
        })?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            }
        })?;
    let bytes = collected.to_bytes();
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    })
}

pub fn too_large() -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024),
    )
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)).boxed_unsync())
                .unwrap_or_else(|_| fallback())
        }
        Err(_) => fallback(),
    }
}

fn fallback() -> Answer {
    let mut answer = Response::new(
        Full::new(Bytes::from_static(
            b"{\"error\":{\"code\":\"Internal\",\"message\":\"cannot encode the answer\",\"retriable\":false}}\n",
        ))
        .boxed_unsync(),
    );
    *answer.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    answer
}

pub fn error(err: &Error, alias: Option<&str>) -> Answer {
    let status =
        StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(
        status,
        &ErrorBody {
            error: err.to_api(alias),
        },
    )
}

pub fn rejection(rejection: Rejection) -> Answer {
    json(
        rejection.status,
        &ErrorBody {
            error: ApiError {
                code: ErrorCode::ParamError,
                message: rejection.message,
                retriable: false,
                alias: None,
                cause: None,
            },
        },
    )
}

pub fn no_content() -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *answer.status_mut() = StatusCode::NO_CONTENT;
    answer
}

/// A streamed answer of newline-delimited JSON.
pub fn ndjson(body: UnsyncBoxBody<Bytes, Infallible>) -> Answer {
    let mut answer = Response::new(body);
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    answer
}
