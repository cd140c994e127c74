use tokio::io::AsyncReadExt as _;

use super::*;

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a byte stream into (kind, flags, stream, payload) frames after the preface.
fn frames(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    assert!(bytes.starts_with(PREFACE));
    let mut rest = &bytes[PREFACE.len()..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
        out.push((rest[3], rest[4], stream, rest[9..9 + len].to_vec()));
        rest = &rest[9 + len..];
    }
    out
}

fn request_headers(authority: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/milvus.proto.milvus.MilvusService/GetVersion"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("x-big", &"v".repeat(20_000)),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

async fn run(input: Vec<u8>) -> (Vec<u8>, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let mut fix = AuthorityFix::new(input.as_slice(), counter.clone());
    let mut out = Vec::new();
    fix.read_to_end(&mut out).await.expect("read");
    (out, counter.load(Ordering::Relaxed))
}

#[tokio::test]
async fn grpcio_unix_authority_is_replaced_and_the_rest_kept() {
    let mut client = loona_hpack::Encoder::new();
    let first = request_headers("unix:%2Ftmp%2Fa.sock");
    let block = client.encode(first.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
    // HEADERS with padding and priority, then CONTINUATION with the rest.
    let (a, b) = block.split_at(10);
    let mut payload = vec![3u8];
    payload.extend_from_slice(&[0, 0, 0, 0, 16]);
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, PADDED | PRIORITY, 1, &payload));
    input.extend(frame(CONTINUATION, END_HEADERS, 1, b));
    input.extend(frame(0x0, END_STREAM, 1, b"\0\0\0\0\0"));
    // A second request on the same connection reuses the client's dynamic table.
    let block = client.encode(first.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
    input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &block));

    let (out, rewritten) = run(input).await;
    assert_eq!(rewritten, 2);
    let frames = frames(&out);
    let mut server = loona_hpack::Decoder::new();
    let mut blocks: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut data = Vec::new();
    for (kind, flags, stream, payload) in &frames {
        match *kind {
            HEADERS => {
                assert_eq!(flags & PADDED, 0);
                let body = if flags & PRIORITY != 0 {
                    payload[5..].to_vec()
                } else {
                    payload.clone()
                };
                blocks.push((*stream, body));
            }
            CONTINUATION => blocks
                .last_mut()
                .expect("headers first")
                .1
                .extend_from_slice(payload),
            _ => data.push((*kind, *flags, *stream, payload.clone())),
        }
        assert!(payload.len() <= MAX_FRAGMENT);
    }
    assert_eq!(blocks.len(), 2);
    for (_, block) in blocks {
        let decoded = server
            .decode(&block)
            .expect("decodes with a fresh server decoder");
        let mut want = first.clone();
        want[3].1 = b"localhost".to_vec();
        assert_eq!(decoded, want);
    }
    assert_eq!(
        data,
        vec![(0x0, END_STREAM, 1, b"\0\0\0\0\0".to_vec())],
        "DATA untouched"
    );
    let (_, flags, _, _) = frames
        .iter()
        .find(|f| f.0 == HEADERS && f.2 == 1)
        .expect("stream 1");
    assert_ne!(flags & PRIORITY, 0, "priority kept");
}

#[tokio::test]
async fn a_valid_first_authority_makes_the_adapter_step_aside() {
    let mut client = loona_hpack::Encoder::new();
    let headers = request_headers("localhost:19530");
    let block = client.encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
    let mut padded = vec![2u8];
    padded.extend_from_slice(&block);
    padded.extend_from_slice(&[0, 0]);
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, END_HEADERS | PADDED, 1, &padded));
    input.extend(frame(0x0, END_STREAM, 1, b"\0\0\0\0\0"));
    // Later blocks are not even parsed: these bytes would not decode.
    input.extend(frame(HEADERS, END_HEADERS, 3, &[0xff, 0xff, 0xff, 0xff]));
    let (out, rewritten) = run(input.clone()).await;
    assert_eq!(rewritten, 0);
    assert_eq!(out, input, "every byte as the client sent it");
}

#[tokio::test]
async fn non_http2_input_passes_through() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let (out, _) = run(input.clone()).await;
    assert_eq!(out, input);
}

#[tokio::test]
async fn garbage_header_blocks_end_the_connection() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, END_HEADERS, 1, &[0xff, 0xff, 0xff, 0xff]));
    let mut fix = AuthorityFix::new(input.as_slice(), Arc::default());
    let mut out = Vec::new();
    assert!(fix.read_to_end(&mut out).await.is_err());
}
