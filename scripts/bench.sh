#!/usr/bin/env bash
# Runs the benchmark suite and writes docs/benchmarks.md and docs/benchmarks.svg.
# Installs what it needs: h2load (nghttp2-client) and HAProxy from Debian, a Milvus 2.3.5
# server through the test harness (PyPI). Takes about 15 minutes on 2 cores.
#
#   scripts/bench.sh [--repeats N] [--skip-milvus] [--smoke --out FILE]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

missing=()
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v haproxy >/dev/null || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

profile=release
for arg in "$@"; do [ "$arg" = --smoke ] && profile=debug; done
if [ "$profile" = release ]; then
  cargo build --locked --release --workspace --bins
else
  cargo build --locked --workspace --bins
fi
exec "target/$profile/milvus-connd-bench" "$@"
