#!/usr/bin/env bash
# A real Milvus 2.3.5 standalone server (PyPI package `milvus`) on loopback, for tests and
# for trying the daemon locally.
#
#   milvus.sh install ROOT
#   milvus.sh install-client ROOT                # pymilvus 3.0.2 into ROOT/pyclient
#   milvus.sh start   ROOT NAME PORT [--auth] [--tls 1|2] [--certs DIR] [--watch-pid PID] [--keep-data]
#   milvus.sh stop    ROOT NAME
#
# `start` returns once the server answers its healthz probe. With --watch-pid the server
# is stopped (TERM, then KILL after 10 s) as soon as that process is gone, so a test run
# that dies never leaves Milvus behind. Ports PORT..PORT+11 are used.
set -euo pipefail

MILVUS_VERSION=2.3.5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:?command}; root=${2:?root directory}
venv=$root/venv

# Stops one process: TERM, then KILL if it is still there after 10 s (2.3.5 can hang in
# its QueryCoord shutdown).
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case "$cmd" in
install)
  if [ -x "$root/bin/milvus" ] && [ -f "$root/.installed-$MILVUS_VERSION" ]; then exit 0; fi
  mkdir -p "$root"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "milvus==$MILVUS_VERSION"
  # The package unpacks its lzma-packed server binaries on first use; do it now, once.
  "$venv/bin/python" -c 'import milvus, sys; milvus._initialize_data_files(sys.argv[1])' "$root"
  touch "$root/.installed-$MILVUS_VERSION"
  ;;
install-client)
  PYMILVUS_VERSION=3.0.2
  if [ -f "$root/pyclient/.installed-$PYMILVUS_VERSION" ]; then exit 0; fi
  mkdir -p "$root"
  python3 -m venv "$root/pyclient"
  "$root/pyclient/bin/pip" install --quiet --disable-pip-version-check "pymilvus==$PYMILVUS_VERSION" numpy
  touch "$root/pyclient/.installed-$PYMILVUS_VERSION"
  ;;
start)
  name=${3:?name}; port=${4:?port}; shift 4
  auth=0; tls=0; certs=""; watch=""; keep=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --auth) auth=1 ;;
      --tls) tls=$2; shift ;;
      --certs) certs=$2; shift ;;
      --watch-pid) watch=$2; shift ;;
      --keep-data) keep=1 ;;
      *) echo "milvus.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
  base=$root/instances/$name
  metrics_port=$((port + 9))
  # Milvus 2.3.5 now and then dies during start-up (a Go fatal error in its own
  # components); a second attempt on fresh data starts it.
  for attempt in 1 2; do
    # --keep-data restarts an instance on the data it had (e.g. after it was killed).
    [ "$keep" = 1 ] && [ "$attempt" = 1 ] || rm -rf "$base"
    mkdir -p "$base/logs"; rm -f "$base/milvus.pid"
    "$venv/bin/python" "$here/configure.py" "$base" "$port" "$auth" "$tls" "${certs:-$base}"
    (
      cd "$base"
      DEPLOY_MODE=STANDALONE METRICS_PORT=$metrics_port LD_LIBRARY_PATH="$root/bin" \
        "$root/bin/milvus" run standalone >"$base/logs/stdout.log" 2>"$base/logs/stderr.log" </dev/null &
      child=$!
      echo "$child" >"$base/milvus.pid"
      if [ -n "$watch" ]; then
        while kill -0 "$watch" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
        stop_pid "$child"
      fi
      wait "$child" || true
      # Remove the data when the watched process is gone, not when Milvus merely died (a
      # test may restart it on the same data).
      if [ -n "$watch" ] && ! kill -0 "$watch" 2>/dev/null; then rm -rf "$base"; fi
    ) >/dev/null 2>&1 </dev/null &
    exited=0
    for _ in $(seq 1 600); do
      if [ -f "$base/milvus.pid" ] && ! kill -0 "$(cat "$base/milvus.pid")" 2>/dev/null; then
        echo "milvus.sh: Milvus $name exited during start-up (attempt $attempt); last lines of its log:" >&2
        grep -m 5 -E "fatal|panic|error" "$base/logs/stderr.log" "$base/logs/stdout.log" >&2 || true
        tail -n 20 "$base/logs/stderr.log" >&2 || true
        exited=1
        break
      fi
      if "$venv/bin/python" - "$metrics_port" 2>/dev/null <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1).read()
sys.exit(0 if b"OK" in body else 1)
PY
      then
        echo "milvus $name ready on 127.0.0.1:$port (pid $(cat "$base/milvus.pid"))"
        exit 0
      fi
      sleep 0.2
    done
    [ "$exited" = 1 ] || break
    # Let the watcher subshell finish with the dead instance before the next attempt.
    sleep 1
  done
  [ "$exited" = 1 ] && exit 1
  echo "milvus.sh: Milvus $name not ready after 120 s" >&2
  exit 1
  ;;
stop)
  name=${3:?name}; pidfile=$root/instances/$name/milvus.pid
  [ -f "$pidfile" ] && stop_pid "$(cat "$pidfile")"
  rm -f "$pidfile"
  ;;
*)
  echo "usage: milvus.sh install|start|stop ROOT ..." >&2; exit 2 ;;
esac
