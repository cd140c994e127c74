//! Stable error codes and the JSON shape of an error answer.
//!
//! Clients branch on `code`, never on `message`; the message is for people and names the
//! cause. `retriable` says whether the same request may succeed later without changes.

use serde::{Deserialize, Serialize};

/// Every error the control API can answer with. The names are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    ParamError,
    NotImplemented,
    IllegalAddress,
    ConnDiffConf,
    ConnLackConf,
    AliasNotFound,
    PermissionDenied,
    Unauthenticated,
    TlsError,
    Unavailable,
    Timeout,
    Unimplemented,
    DatabaseNotFound,
    ServerUnhealthy,
    LeaseNotFound,
    LimitExceeded,
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 17] = [
        Self::ParamError,
        Self::NotImplemented,
        Self::IllegalAddress,
        Self::ConnDiffConf,
        Self::ConnLackConf,
        Self::AliasNotFound,
        Self::PermissionDenied,
        Self::Unauthenticated,
        Self::TlsError,
        Self::Unavailable,
        Self::Timeout,
        Self::Unimplemented,
        Self::DatabaseNotFound,
        Self::ServerUnhealthy,
        Self::LeaseNotFound,
        Self::LimitExceeded,
        Self::Internal,
    ];

    /// The name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParamError => "ParamError",
            Self::NotImplemented => "NotImplemented",
            Self::IllegalAddress => "IllegalAddress",
            Self::ConnDiffConf => "ConnDiffConf",
            Self::ConnLackConf => "ConnLackConf",
            Self::AliasNotFound => "AliasNotFound",
            Self::PermissionDenied => "PermissionDenied",
            Self::Unauthenticated => "Unauthenticated",
            Self::TlsError => "TlsError",
            Self::Unavailable => "Unavailable",
            Self::Timeout => "Timeout",
            Self::Unimplemented => "Unimplemented",
            Self::DatabaseNotFound => "DatabaseNotFound",
            Self::ServerUnhealthy => "ServerUnhealthy",
            Self::LeaseNotFound => "LeaseNotFound",
            Self::LimitExceeded => "LimitExceeded",
            Self::Internal => "Internal",
        }
    }

    /// The HTTP status the daemon answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::ParamError | Self::IllegalAddress | Self::ConnLackConf => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::AliasNotFound | Self::LeaseNotFound => 404,
            Self::ConnDiffConf => 409,
            Self::DatabaseNotFound => 422,
            Self::LimitExceeded => 429,
            Self::Internal => 500,
            Self::NotImplemented => 501,
            Self::TlsError | Self::Unimplemented => 502,
            Self::Unavailable | Self::ServerUnhealthy => 503,
            Self::Timeout => 504,
        }
    }

    /// Whether the same request can succeed later with nothing changed on the client side.
    pub fn retriable(self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::Timeout | Self::ServerUnhealthy | Self::LimitExceeded
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error, as answered by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retriable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The chain of underlying causes, outermost first, joined by ": ".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " (cause: {cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        let json = serde_json::to_string(&ErrorCode::ConnDiffConf).expect("serialize");
        assert_eq!(json, "\"ConnDiffConf\"");
        assert_eq!(ErrorCode::ConnDiffConf.as_str(), "ConnDiffConf");
    }

    #[test]
    fn error_body_round_trips() {
        let body = ErrorBody {
            error: ApiError {
                code: ErrorCode::Timeout,
                message: "no answer".into(),
                retriable: true,
                alias: Some("a".into()),
                cause: None,
            },
        };
        let text = serde_json::to_string(&body).expect("serialize");
        assert!(!text.contains("cause"), "{text}");
        let back: ErrorBody = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, body);
    }
}
