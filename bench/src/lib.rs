//! The benchmark suite of milvus-connd: a null upstream, h2load and HAProxy runners,
//! scenarios run interleaved, and the report. The `milvus-connd-bench` binary runs it all
//! (`scripts/bench.sh`); the results live in `docs/benchmarks.md`.

#![forbid(unsafe_code)]

pub mod check;
pub mod control;
pub mod h2load;
pub mod haproxy;
pub mod memory;
pub mod payload;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod suite;
pub mod upstream;
