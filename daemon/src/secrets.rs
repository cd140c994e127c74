//! Secrets from files: `password_file` and `token_file`. A relative name is a systemd
//! credential, `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredential=`). The files are read at
//! every connect and reconnect, so a rotated secret takes effect without a restart.

use std::path::PathBuf;

use milvus_connd_protocol::{ConnectParams, Secret};

use crate::error::{Error, Result};
use crate::files;
use crate::peer::Peer;

fn credential_path(param: &str, name: &str) -> Result<PathBuf> {
    let path = PathBuf::from(name);
    if path.is_absolute() {
        return Ok(path);
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        Some(dir) if !name.contains('/') => Ok(PathBuf::from(dir).join(name)),
        Some(_) => Err(Error::param(format!(
            "{param} '{name}': a credential name has no '/'"
        ))),
        None => Err(Error::param(format!(
            "{param} '{name}' is relative, but there is no $CREDENTIALS_DIRECTORY (systemd LoadCredential=)"
        ))),
    }
}

fn read(param: &str, name: &str, peer: &Peer) -> Result<Secret> {
    let path = credential_path(param, name)?;
    files::check_readable(param, &path, peer)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::param(format!("cannot read {param} {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(Error::param(format!("{param} {} is empty", path.display())));
    }
    Ok(Secret::new(secret))
}

/// `params` with `password` and `token` filled from their files, where given. A value
/// given directly wins over a file.
pub fn fill(params: &ConnectParams, peer: &Peer) -> Result<ConnectParams> {
    let mut filled = params.clone();
    if filled.password.is_none()
        && let Some(name) = &params.password_file
    {
        filled.password = Some(read("password_file", name, peer)?);
    }
    if filled.token.is_none()
        && let Some(name) = &params.token_file
    {
        filled.token = Some(read("token_file", name, peer)?);
    }
    Ok(filled)
}
