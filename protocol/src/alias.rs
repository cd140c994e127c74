//! Alias names: what a client may call a connection.
//!
//! An alias becomes a file name (its data socket) and a URL path segment, so the rule is
//! strict: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` and no `..` anywhere.

/// Longest alias name, in bytes.
pub const MAX_ALIAS_LEN: usize = 64;

/// Why a name is not a valid alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasNameError {
    #[error("alias name is empty")]
    Empty,
    #[error("alias name is longer than {MAX_ALIAS_LEN} characters")]
    TooLong,
    #[error("alias name must start with a letter or a digit")]
    BadFirst,
    #[error("alias name may contain only letters, digits, '_', '.' and '-'")]
    BadChar,
    #[error("alias name must not contain '..'")]
    DotDot,
}

/// Checks `name` against the alias rule.
pub fn validate_alias_name(name: &str) -> Result<(), AliasNameError> {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(AliasNameError::Empty);
    };
    if bytes.len() > MAX_ALIAS_LEN {
        return Err(AliasNameError::TooLong);
    }
    if !first.is_ascii_alphanumeric() {
        return Err(AliasNameError::BadFirst);
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(AliasNameError::BadChar);
    }
    if name.contains("..") {
        return Err(AliasNameError::DotDot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["default", "a", "prod-eu.1", "A_b-c.d", &"x".repeat(64)] {
            assert_eq!(validate_alias_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_names_that_are_not_safe_file_names() {
        let cases = [
            ("", AliasNameError::Empty),
            (&"x".repeat(65), AliasNameError::TooLong),
            ("-a", AliasNameError::BadFirst),
            (".hidden", AliasNameError::BadFirst),
            ("a/b", AliasNameError::BadChar),
            ("a b", AliasNameError::BadChar),
            ("naïve", AliasNameError::BadChar),
            ("a..b", AliasNameError::DotDot),
        ];
        for (name, want) in cases {
            assert_eq!(validate_alias_name(name), Err(want), "{name:?}");
        }
    }
}
