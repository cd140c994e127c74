//! Makes HTTP/2 requests from grpcio (and grpc-java) on Unix sockets acceptable to h2.
//!
//! grpcio sends the percent-encoded socket path as `:authority` when it dials a `unix:`
//! target (e.g. `unix:%2Frun%2Fm.sock`), and h2 rejects such an authority with
//! PROTOCOL_ERROR before any handler runs; h2 has no option for it. This adapter sits on
//! the accepted Unix stream, under hyper, and decodes the connection's first header block
//! with HPACK:
//!
//! - if its `:authority` is fine (tonic, grpc-go, h2load…) the block goes on as it came
//!   and the adapter steps aside: the rest of the connection is read straight into
//!   hyper's buffer, with no parsing and no copy;
//! - otherwise the adapter replaces the authority with `localhost` and re-encodes the
//!   block — and every later block too, because from then on the HPACK state the server
//!   sees is ours, not the client's. Other frames pass through untouched.
//!
//! A client keeps one authority per connection, so the first block decides. Writes
//! (server to client) are never touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf as _, BufMut as _, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest frame payload a peer must accept (SETTINGS_MAX_FRAME_SIZE default).
const MAX_FRAGMENT: usize = 16_384;
/// What an unusable authority is replaced with.
const REPLACEMENT: &[u8] = b"localhost";
/// Largest header block accepted (the sum of a HEADERS frame and its CONTINUATIONs).
const MAX_BLOCK: usize = 1 << 20;

#[derive(Debug, PartialEq)]
enum Stage {
    Preface,
    Frames,
    /// Nothing to fix on this connection (or not HTTP/2 with prior knowledge, which hyper
    /// will refuse): bytes go straight through.
    PassThrough,
}

/// A header block being collected from HEADERS + CONTINUATION frames.
struct Pending {
    stream_id: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
    /// The frames as received, forwarded as they are when nothing needs fixing.
    frames: Vec<u8>,
}

/// The adapter; see the module documentation.
pub struct AuthorityFix<S> {
    inner: S,
    input: BytesMut,
    output: BytesMut,
    stage: Stage,
    pending: Option<Pending>,
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
    eof: bool,
    /// Whether header blocks are being re-encoded (decided by the first one).
    rewriting: bool,
    /// Counts header blocks whose authority was replaced (shown in `status`).
    rewritten: Arc<AtomicU64>,
}

impl<S> std::fmt::Debug for AuthorityFix<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityFix")
            .field("stage", &self.stage)
            .field("rewritten", &self.rewritten)
            .finish_non_exhaustive()
    }
}

fn protocol_error(message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("HTTP/2 from client: {message}"),
    )
}

fn is_valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S, rewritten: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            input: BytesMut::with_capacity(16 * 1024),
            output: BytesMut::new(),
            stage: Stage::Preface,
            pending: None,
            decoder: loona_hpack::Decoder::new(),
            encoder: loona_hpack::Encoder::new(),
            eof: false,
            rewriting: false,
            rewritten,
        }
    }

    /// Moves what can be handled from `input` to `output`. Returns whether it made
    /// progress (false: more input is needed).
    fn process(&mut self) -> io::Result<bool> {
        match self.stage {
            Stage::PassThrough => {
                let all = self.input.split();
                self.output.extend_from_slice(&all);
                Ok(!all.is_empty())
            }
            Stage::Preface => {
                let have = self.input.len().min(PREFACE.len());
                if self.input[..have] != PREFACE[..have] {
                    self.stage = Stage::PassThrough;
                    return Ok(true);
                }
                if have < PREFACE.len() {
                    return Ok(false);
                }
                let preface = self.input.split_to(PREFACE.len());
                self.output.extend_from_slice(&preface);
                self.stage = Stage::Frames;
                Ok(true)
            }
            Stage::Frames => self.process_frame(),
        }
    }

    fn process_frame(&mut self) -> io::Result<bool> {
        if self.input.len() < FRAME_HEADER {
            return Ok(false);
        }
        let header = &self.input[..FRAME_HEADER];
        let length =
            (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
        let kind = header[3];
        let flags = header[4];
        let stream_id =
            u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        if self.input.len() < FRAME_HEADER + length {
            self.input.reserve(FRAME_HEADER + length - self.input.len());
            return Ok(false);
        }
        let frame = self.input.split_to(FRAME_HEADER + length);
        match kind {
            HEADERS => {
                let mut payload = &frame[FRAME_HEADER..];
                if flags & PADDED != 0 {
                    let pad = usize::from(
                        *payload
                            .first()
                            .ok_or_else(|| protocol_error("empty padded HEADERS"))?,
                    );
                    payload = payload
                        .get(1..payload.len().saturating_sub(pad))
                        .filter(|_| pad < payload.len())
                        .ok_or_else(|| protocol_error("padding longer than HEADERS"))?;
                }
                let priority = if flags & PRIORITY != 0 {
                    let fields: [u8; 5] = payload
                        .get(..5)
                        .and_then(|p| p.try_into().ok())
                        .ok_or_else(|| protocol_error("short PRIORITY fields"))?;
                    payload = &payload[5..];
                    Some(fields)
                } else {
                    None
                };
                self.pending = Some(Pending {
                    stream_id,
                    end_stream: flags & END_STREAM != 0,
                    priority,
                    block: payload.to_vec(),
                    frames: if self.rewriting {
                        Vec::new()
                    } else {
                        frame.to_vec()
                    },
                });
                if flags & END_HEADERS != 0 {
                    self.finish_block()?;
                }
            }
            CONTINUATION
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.stream_id == stream_id) =>
            {
                let pending = self
                    .pending
                    .as_mut()
                    .ok_or_else(|| protocol_error("CONTINUATION"))?;
                pending.block.extend_from_slice(&frame[FRAME_HEADER..]);
                if !self.rewriting {
                    pending.frames.extend_from_slice(&frame);
                }
                if pending.block.len() > MAX_BLOCK {
                    return Err(protocol_error("header block too large"));
                }
                if flags & END_HEADERS != 0 {
                    self.finish_block()?;
                }
            }
            // Anything else, including a stray CONTINUATION, is the server's to judge.
            _ => self.output.extend_from_slice(&frame),
        }
        Ok(true)
    }

    fn finish_block(&mut self) -> io::Result<()> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let mut headers = self
            .decoder
            .decode(&pending.block)
            .map_err(|e| protocol_error(&format!("undecodable header block: {e:?}")))?;
        let mut fixed = false;
        for (name, value) in &mut headers {
            if name.as_slice() == b":authority" && !is_valid_authority(value) {
                *value = REPLACEMENT.to_vec();
                fixed = true;
            }
        }
        if !self.rewriting && !fixed {
            // The server's HPACK state is still the client's: step aside for good.
            self.output.extend_from_slice(&pending.frames);
            self.stage = Stage::PassThrough;
            return Ok(());
        }
        self.rewriting = true;
        if fixed {
            self.rewritten.fetch_add(1, Ordering::Relaxed);
        }
        let block = self
            .encoder
            .encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        self.write_block(&pending, &block);
        Ok(())
    }

    fn write_block(&mut self, pending: &Pending, block: &[u8]) {
        let priority_len = if pending.priority.is_some() { 5 } else { 0 };
        let first_len = block.len().min(MAX_FRAGMENT - priority_len);
        let (first, mut rest) = block.split_at(first_len);
        let mut flags = if pending.end_stream { END_STREAM } else { 0 };
        if pending.priority.is_some() {
            flags |= PRIORITY;
        }
        if rest.is_empty() {
            flags |= END_HEADERS;
        }
        self.put_frame_header(
            first.len() + priority_len,
            HEADERS,
            flags,
            pending.stream_id,
        );
        if let Some(priority) = pending.priority {
            self.output.extend_from_slice(&priority);
        }
        self.output.extend_from_slice(first);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_FRAGMENT));
            rest = tail;
            let flags = if rest.is_empty() { END_HEADERS } else { 0 };
            self.put_frame_header(chunk.len(), CONTINUATION, flags, pending.stream_id);
            self.output.extend_from_slice(chunk);
        }
    }

    fn put_frame_header(&mut self, length: usize, kind: u8, flags: u8, stream_id: u32) {
        // Fragments are at most MAX_FRAGMENT bytes, well within 24 bits.
        self.output.put_uint(length as u64, 3);
        self.output.put_u8(kind);
        self.output.put_u8(flags);
        self.output.put_u32(stream_id);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.stage == Stage::PassThrough && this.output.is_empty() && this.input.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output[..n]);
                this.output.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.process()? {
                continue;
            }
            if this.eof {
                // Whatever is left is an incomplete frame; the server sees the stream end.
                return Poll::Ready(Ok(()));
            }
            if this.input.capacity() - this.input.len() < 8 * 1024 {
                this.input.reserve(16 * 1024);
            }
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.inner),
                cx,
                &mut this.input
            ))?;
            if read == 0 {
                this.eof = true;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
