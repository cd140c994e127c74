//! The benchmark suite of milvus-connd: a null upstream, h2load and HAProxy runners, and
//! the report. The `milvus-connd-bench` binary runs it all; see `docs/benchmarks.md`.

#![forbid(unsafe_code)]

pub mod upstream;
