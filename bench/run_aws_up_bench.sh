#!/usr/bin/env bash
# AWS calls and round trips of `carrierarr up`: runs up and down for a fleet with its lighthouse
# and WORKERS GPU workers on AWS against carrierarr-fake-aws (loopback only), once with no added
# latency and once with LATENCY_MS per call, and reports per run the number of AWS calls (by
# action, from the fake's counters) and the sequential round trips on up's critical path:
#   (up time with latency - up time without) / latency.
# The peer is the seeds' way: one CLI call after another, so their round trips equal their calls.
#
#   sudo bench/run_aws_up_bench.sh [BIN_DIR]        # BIN_DIR default build/bin
#   WORKERS=8 LATENCY_MS=100 sudo bench/run_aws_up_bench.sh
#
# Needs root (the homelab node and the control plane run in a network namespace, as in every
# fleet). Everything started is stopped by its pid; scratch directories are removed.
set -euo pipefail

bin=${1:-build/bin}
for f in carrierarr carrierarr-fleet carrierarr-agent carrierarr-fake-aws; do
  [ -x "$bin/$f" ] || { echo "run_aws_up_bench: $bin/$f not found (build it)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run_aws_up_bench: run as root (network namespaces)" >&2; exit 2; }
bin=$(cd "$bin" && pwd)
workers=${WORKERS:-1}
latency=${LATENCY_MS:-100}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/carrierarr-awsbench.XXXXXX")
fake_pid=""
cleanup() {
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  for d in "$scratch"/run-*; do
    [ -f "$d/fleet.yaml" ] && (cd "$d" && "$bin/carrierarr" down >/dev/null 2>&1 || true)
  done
  rm -rf "$scratch"
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }

# run LATENCY: sets up_ms and stats (in this shell, so the trap can stop what it started)
run() {
  local lat=$1 dir=$scratch/run-$1
  mkdir -p "$dir"
  "$bin/carrierarr-fake-aws" --listen 127.0.0.1:0 --latency "${lat}ms" \
    --stats-file "$dir/stats.json" >"$dir/fake.log" 2>&1 &
  fake_pid=$!
  for _ in $(seq 200); do grep -q '^endpoint ' "$dir/fake.log" && break; sleep 0.05; done
  local endpoint
  endpoint=$(sed -n 's/^endpoint //p' "$dir/fake.log")
  [ -n "$endpoint" ] || { echo "fake AWS did not start:"; cat "$dir/fake.log"; exit 1; } >&2
  cat >"$dir/fleet.yaml" <<EOF
name: ab$lat
lighthouse:
  provider: aws
  size: t3.small
pools:
  - name: gpu
    type: gpu-worker
    count: $workers
    provider: aws
    instance_type: g4dn.xlarge
providers:
  local:
    underlay: 198.18.0.0/15
  aws:
    region: us-east-1
EOF
  local start end
  start=$(now_ms)
  (cd "$dir" && env CARRIERARR_AWS_ENDPOINT="$endpoint" AWS_ACCESS_KEY_ID=AKIDCARRIERARRTEST \
    AWS_SECRET_ACCESS_KEY=carrierarr-test-secret AWS_EC2_METADATA_DISABLED=true \
    AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent CARRIERARR_AWS_POLL_MS=0 \
    "$bin/carrierarr" up --json >"$dir/up.log" 2>&1) || { tail -5 "$dir/up.log"; exit 1; } >&2
  end=$(now_ms)
  (cd "$dir" && env CARRIERARR_AWS_ENDPOINT="$endpoint" AWS_ACCESS_KEY_ID=AKIDCARRIERARRTEST \
    AWS_SECRET_ACCESS_KEY=carrierarr-test-secret AWS_EC2_METADATA_DISABLED=true \
    AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent CARRIERARR_AWS_POLL_MS=0 \
    "$bin/carrierarr" down --json >"$dir/down.log" 2>&1) || { tail -5 "$dir/down.log"; exit 1; } >&2
  kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true; fake_pid=""
  up_ms=$((end - start))
  stats=$dir/stats.json
}

run 0
t0=$up_ms stats0=$stats
run "$latency"
t1=$up_ms
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "fleet: lighthouse + $workers GPU worker(s) on aws, homelab local; fake AWS latency ${latency} ms per call"
echo "up: ${t0} ms without latency, ${t1} ms with"
python3 - "$stats0" "$t0" "$t1" "$latency" <<'EOF'
import json, sys
stats = json.load(open(sys.argv[1]))
t0, t1, lat = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
calls = stats.get("calls_by_action", stats)
total = sum(v for v in calls.values() if isinstance(v, int))
print(f"AWS calls (up + down): {total}")
for action, n in sorted(calls.items()):
    if isinstance(n, int):
        print(f"  {action:32s} {n}")
print(f"sequential round trips on up's critical path: {(t1 - t0) / lat:.1f} (one after another, as the seeds' scripts run, would be every call)")
EOF
