//! The request bodies h2load sends, as gRPC frames (a flag byte, a length, the message).

use std::path::{Path, PathBuf};

use prost::Message as _;

use crate::upstream::echo::EchoMessage;

fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Writes an echo request carrying `size` payload bytes; returns its path.
pub fn echo_request(dir: &Path, size: usize) -> anyhow::Result<PathBuf> {
    let message = EchoMessage {
        payload: vec![b'm'; size],
    }
    .encode_to_vec();
    let path = dir.join(format!("echo-{size}.grpc"));
    std::fs::write(&path, grpc_frame(&message))?;
    Ok(path)
}

/// Writes an empty message (GetVersionRequest has no fields); returns its path.
pub fn empty_request(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("empty.grpc");
    std::fs::write(&path, grpc_frame(&[]))?;
    Ok(path)
}
