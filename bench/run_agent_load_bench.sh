#!/usr/bin/env bash
# Control plane load benchmark: starts `carrierarr-fleet serve` in a scratch state directory on
# loopback only, creates one reusable enrollment token, and runs agent_load_bench against it
# (N simulated agents over real gRPC streams; see bench/agent_load_bench.cc). The server is
# stopped by its own PID (SIGTERM, then SIGKILL after 30 s) and the scratch directory removed,
# also on failure or Ctrl-C.
#
#   bench/run_agent_load_bench.sh [BIN_DIR] [agent_load_bench flags...]
#   bench/run_agent_load_bench.sh /tmp/build-loadbench/bin --agents 100 --duration 20
#   bench/run_agent_load_bench.sh /tmp/build-loadbench/bin --agents 10000 --interval 10 \
#       --duration 60 --sweep 1000,2000,4000,8000 --step 20
#
# BIN_DIR (default build/bin) holds carrierarr-fleet and agent_load_bench; build them with
#   cmake --build BUILD --target carrierarr-fleet agent_load_bench
# Ports: GRPC_PORT (default 50551) and HTTP_PORT (default 58090) on 127.0.0.1; the script stops
# if either is in use. SERVE_ARGS adds flags to `serve` (e.g. SERVE_ARGS="--batch-delay 10ms").
# KEEP_LOG=FILE copies the server's log there before the scratch directory goes.
set -euo pipefail

bin=build/bin
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  bin=$1
  shift
fi
fleet=$bin/carrierarr-fleet
bench=$bin/agent_load_bench
for f in "$fleet" "$bench"; do
  if [ ! -x "$f" ]; then
    echo "run_agent_load_bench: $f not found (build carrierarr-fleet and agent_load_bench)" >&2
    exit 2
  fi
done

grpc_port=${GRPC_PORT:-50551}
http_port=${HTTP_PORT:-58090}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$grpc_port" "$http_port"; do
  if port_in_use "$p"; then
    echo "run_agent_load_bench: 127.0.0.1:$p is in use; set GRPC_PORT / HTTP_PORT" >&2
    exit 2
  fi
done

state=$(mktemp -d "${TMPDIR:-/tmp}/carrierarr-loadbench.XXXXXX")
server_pid=""

stop_pid() {  # stop_pid PID: SIGTERM, bounded wait, then SIGKILL; reaps it (our child)
  local pid=$1
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run_agent_load_bench: pid $pid still running after 30 s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$server_pid" ]; then
    stop_pid "$server_pid"
    echo "server stopped; log tail:"
    tail -n 5 "$state/serve.log" 2>/dev/null | sed 's/^/  /' || true
  fi
  if [ -n "${KEEP_LOG:-}" ]; then cp "$state/serve.log" "$KEEP_LOG" 2>/dev/null || true; fi
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Many streams need no more descriptors than channels, but keep the server and the generator
# far from the soft limit.
ulimit -n "$(ulimit -Hn)"

# shellcheck disable=SC2086  # SERVE_ARGS is a list of flags
"$fleet" serve --state-dir "$state" --listen "127.0.0.1:$grpc_port" \
  --http "127.0.0.1:$http_port" ${SERVE_ARGS:-} >"$state/serve.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
  if [ -s "$state/admin.token" ] && curl -fsS -o /dev/null "http://127.0.0.1:$http_port/health"; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run_agent_load_bench: serve exited:" >&2
    cat "$state/serve.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! curl -fsS -o /dev/null "http://127.0.0.1:$http_port/health"; then
  echo "run_agent_load_bench: serve did not come up within 10 s:" >&2
  cat "$state/serve.log" >&2
  exit 1
fi
echo "serve: pid $server_pid, gRPC 127.0.0.1:$grpc_port, HTTP 127.0.0.1:$http_port, state $state"

# One reusable enrollment token (the admin API through the CLI; else the bench creates one).
token_args=(--create-token)
if "$fleet" tokens create --server "127.0.0.1:$grpc_port" \
  --admin-token-file "$state/admin.token" --pool bench --uses 0 --ttl 1h \
  --out "$state/enroll.token" >"$state/tokens.log" 2>&1 && [ -s "$state/enroll.token" ]; then
  token_args=(--token-file "$state/enroll.token")
else
  echo "run_agent_load_bench: 'tokens create' failed; the bench creates the token itself:" >&2
  sed 's/^/  /' "$state/tokens.log" >&2
fi

"$bench" --target "127.0.0.1:$grpc_port" --http "http://127.0.0.1:$http_port" \
  --admin-token-file "$state/admin.token" "${token_args[@]}" --server-pid "$server_pid" "$@"
