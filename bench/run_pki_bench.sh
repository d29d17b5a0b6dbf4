#!/usr/bin/env bash
# Builds carrierarr and the PKI signing benchmark in Release mode and runs it once (< 2 min):
# in-process signing vs `carrierarr pki sign` vs `nebula-cert sign`, 1,000 certificates each.
# Extra arguments go to Google Benchmark, e.g. --benchmark_out=pki.json --benchmark_out_format=json.
#
#   bash bench/run_pki_bench.sh
#   BUILD_DIR=/tmp/build-bench bash bench/run_pki_bench.sh --benchmark_filter=InProcess
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
if ! command -v nebula-cert >/dev/null && [ -z "${NEBULA_CERT:-}" ]; then
  echo "run_pki_bench: nebula-cert is not installed (Debian: apt-get install nebula)" >&2
  exit 2
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCARRIERARR_BUILD_TESTS=OFF \
  -DCARRIERARR_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target carrierarr pki_sign_bench
exec "$build/bin/pki_sign_bench" "$@"
