#!/usr/bin/env bash
# Builds and runs the model gateway's benchmark (about 40 s): warm-path added latency and
# throughput against the model server directly, streaming, and the cold path's carrierarr-owned
# time. Prints Markdown tables.
#
#   bash bench/run_gateway_bench.sh [WARM_REQUESTS]      (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
cmake --preset default >/dev/null
cmake --build "$build" --target gateway_bench
exec "$build/bin/gateway_bench" "$@"
