//! The daemon's error type: one variant per kind of failure, each with its stable API code,
//! a message that names the cause, and the underlying error kept as `source`.
//!
//! Messages are written here, by us, from parts that hold no secrets; callers never format
//! a password, a token or a URI with userinfo into one.

use milvus_connd_protocol::{ApiError, ErrorCode};

/// Any error, as a cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is missing, malformed or contradicts another.
    #[error("{0}")]
    Param(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("Illegal address: {0}, should be in form 'localhost:19530'")]
    IllegalAddress(String),
    #[error(
        "Alias of '{0}' already creating connections, but the configure is not the same as passed in."
    )]
    ConnDiffConf(String),
    #[error("You need to pass in the configuration of the connection named '{0}'.")]
    ConnLackConf(String),
    #[error("alias '{0}' does not exist")]
    AliasNotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("no such lease on alias '{0}'")]
    LeaseNotFound(String),
    /// The upstream Milvus could not be used; `code` says why.
    #[error("{message}")]
    Upstream {
        code: ErrorCode,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn param(message: impl Into<String>) -> Self {
        Self::Param(message.into())
    }

    /// An upstream failure of kind `code`, with its cause.
    pub fn upstream(
        code: ErrorCode,
        message: impl Into<String>,
        source: impl Into<Option<BoxError>>,
    ) -> Self {
        Self::Upstream {
            code,
            message: message.into(),
            source: source.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Param(_) => ErrorCode::ParamError,
            Self::NotImplemented(_) => ErrorCode::NotImplemented,
            Self::IllegalAddress(_) => ErrorCode::IllegalAddress,
            Self::ConnDiffConf(_) => ErrorCode::ConnDiffConf,
            Self::ConnLackConf(_) => ErrorCode::ConnLackConf,
            Self::AliasNotFound(_) => ErrorCode::AliasNotFound,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::LeaseNotFound(_) => ErrorCode::LeaseNotFound,
            Self::Upstream { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether retrying the same request later can succeed.
    pub fn retriable(&self) -> bool {
        self.code().retriable()
    }

    /// The causes below this error, outermost first, joined by ": ".
    pub fn cause_chain(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(err) = next {
            let text = err.to_string();
            if parts.last() != Some(&text) {
                parts.push(text);
            }
            next = err.source();
        }
        (!parts.is_empty()).then(|| parts.join(": "))
    }

    /// The error as the control API answers it.
    pub fn to_api(&self, alias: Option<&str>) -> ApiError {
        ApiError {
            code: self.code(),
            message: self.to_string(),
            retriable: self.retriable(),
            alias: alias.map(str::to_owned),
            cause: self.cause_chain(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_carries_code_retry_and_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::upstream(
            ErrorCode::Unavailable,
            "cannot reach 127.0.0.1:1",
            Some(Box::new(io) as BoxError),
        );
        let api = err.to_api(Some("a"));
        assert_eq!(api.code, ErrorCode::Unavailable);
        assert!(api.retriable);
        assert_eq!(api.alias.as_deref(), Some("a"));
        assert_eq!(api.cause.as_deref(), Some("refused"));
    }

    #[test]
    fn pymilvus_messages_are_kept() {
        assert_eq!(
            Error::ConnLackConf("x".into()).to_string(),
            "You need to pass in the configuration of the connection named 'x'."
        );
        assert_eq!(
            Error::IllegalAddress("h".into()).to_string(),
            "Illegal address: h, should be in form 'localhost:19530'"
        );
    }
}
