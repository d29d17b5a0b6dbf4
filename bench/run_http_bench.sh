#!/usr/bin/env bash
# Builds and runs the HTTP API's slow-client benchmark (about a minute, most of it waiting on the
# frozen cpp-httplib peer): /health latency with 50 slow or idle connections open, on the Beast
# server and on a cpp-httplib server configured as the old one. Prints a Markdown table.
#
#   bash bench/run_http_bench.sh [REQUESTS]      (default 200 per row)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
cmake --preset default >/dev/null
cmake --build "$build" --target http_slow_clients_bench
exec "$build/bin/http_slow_clients_bench" "$@"
