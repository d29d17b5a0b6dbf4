#!/usr/bin/env bash
# Builds carrierarr and the fleet up/down benchmark in Release mode and runs it: `carrierarr up`
# to full-mesh connectivity and `carrierarr down` for local fleets of 3, 8 and 32 nodes, three
# repetitions each (about a minute on a quiet 2-core machine). Needs root, nebula, iproute2 and
# iputils-ping; every fleet lives in network namespaces of its own and is taken down again.
# Extra arguments go to the benchmark (fleet_up_bench --help), e.g. --reps 5 --json fleet.json.
#
#   sudo bash bench/run_fleet_bench.sh
#   BUILD_DIR=/tmp/build-bench bash bench/run_fleet_bench.sh --sizes 3,8 --reps 5
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
if [ "$(id -u)" -ne 0 ]; then
  echo "run_fleet_bench: needs root (it makes network namespaces)" >&2
  exit 2
fi
for tool in nebula ip ping; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_fleet_bench: $tool is not installed (Debian: apt-get install nebula iproute2 iputils-ping)" >&2
    exit 2
  fi
done
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCARRIERARR_BUILD_TESTS=OFF \
  -DCARRIERARR_BUILD_BENCH=ON >/dev/null
# `up` starts the control plane and the agents from the programs next to carrierarr.
cmake --build "$build" --target carrierarr carrierarr-fleet carrierarr-agent fleet_up_bench
exec "$build/bin/fleet_up_bench" "$@"
