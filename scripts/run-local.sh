#!/usr/bin/env bash
# Runs milvus-connd against a real Milvus 2.3.5 that this script installs (from PyPI) and
# starts on 127.0.0.1:19530, with the runtime directory ./run. Ctrl-C stops both.
#
#   scripts/run-local.sh            # then, in another shell:
#   curl --unix-socket run/control.sock -X POST http://localhost/v1/aliases/default/connect
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
milvus_root=$top/target/milvus-local
port=${MILVUS_PORT:-19530}

cargo build --locked --bins
bash tests/milvus/milvus.sh install "$milvus_root"
bash tests/milvus/milvus.sh start "$milvus_root" local "$port" --watch-pid $$
trap 'bash tests/milvus/milvus.sh stop "$milvus_root" local' EXIT

echo "milvus-connd: control socket $top/run/control.sock; aliases without an address use http://127.0.0.1:$port"
MILVUS_URI=http://127.0.0.1:$port target/debug/milvus-connd --runtime-dir "$top/run" \
  --state-file "$top/run/state.json" --admin-listen 127.0.0.1:9464
