#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang, ASan + UBSan + libFuzzer) and runs
# each for a bounded time: cert_fuzz (the certificate/PEM/key decoders), http_json_fuzz (the
# control plane's HTTP request decoding) and http_wire_fuzz (the agent's HTTP/1.1 framing). FUZZ_SECONDS is split evenly between them, so the CI
# step takes no longer with more targets. Exits non-zero when a fuzzer finds a crash, a
# sanitizer report, a broken invariant, a leak or a slow input; the reproducer is kept under
# build-fuzz/artifacts/.
#
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh           # the CI default
#   build-fuzz/bin/cert_fuzz build-fuzz/artifacts/crash-<sha1>   # reproduce a finding
#
# Environment: FUZZ_SECONDS (total run time of all targets, default 60), FUZZ_TIMEOUT (seconds one input may
# take, default 25), FUZZ_RSS_MB (default 2048), FUZZ_JOBS (parallel fuzzing processes with
# libFuzzer's -fork, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-25}
rss_mb=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-1}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target cert_fuzz http_json_fuzz http_wire_fuzz carrierarr  # the CLI mints key seeds

targets=(cert_fuzz http_json_fuzz http_wire_fuzz)
share=$((seconds / ${#targets[@]}))
if [ "$share" -lt 1 ]; then share=1; fi

build=build-fuzz
artifacts=$build/artifacts
mkdir -p "$artifacts"

# The fuzzer adds inputs to its corpus directory: give it a scratch copy so the checked-in seeds
# stay small and reviewed.
work=$(mktemp -d "${TMPDIR:-/tmp}/carrierarr-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
corpus=$work/corpus
mkdir -p "$corpus"
cp tests/fuzz/corpus/* "$corpus/"

# Private-key seeds are made fresh here rather than checked in (no key material in the repo, and
# nothing for secret scanners to flag): a CA key, a host key, and the files signed with them.
keys=$work/keys
mkdir -p "$keys"
cli=$PWD/$build/bin/carrierarr
(
  cd "$keys"
  "$cli" pki ca -name fuzz-seed-ca -duration 87600h -groups a,b -ips 10.42.0.0/16 \
    -out-crt ca.crt -out-key ca.key
  "$cli" pki keygen -out-key host.key -out-pub host.pub
  "$cli" pki sign -name fuzz-seed-host -ip 10.42.1.1/16 -groups a -in-pub host.pub \
    -out-crt host.crt
)
for f in "$keys"/*; do cp "$f" "$corpus/generated_$(basename "$f")"; done

# Runs fuzzer $1 on corpus directory $2 with dictionary $3 (none when empty) for $share seconds;
# non-zero on a finding.
run_fuzzer() {
  local name=$1 dir=$2 dict=$3
  local args=(
    -max_total_time="$share"
    -rss_limit_mb="$rss_mb"
    -timeout="$timeout"
    -artifact_prefix="$artifacts/$name-"
    -print_final_stats=1
  )
  if [ -n "$dict" ]; then args+=(-dict="$dict"); fi
  if [ "$jobs" -gt 1 ]; then args+=(-fork="$jobs"); fi
  echo "fuzz: $name for ${share}s on $(ls "$dir" | wc -l) seeds (jobs: $jobs)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build/bin/$name" "${args[@]}" "$dir"
}

http_corpus=$work/http_json_corpus
mkdir -p "$http_corpus"
cp tests/fuzz/http_json_corpus/* "$http_corpus/"
wire_corpus=$work/http_wire_corpus
mkdir -p "$wire_corpus"
cp tests/fuzz/http_wire_corpus/* "$wire_corpus/"

status=0
failed=""
run_fuzzer cert_fuzz "$corpus" tests/fuzz/cert_fuzz.dict || { status=$?; failed+=" cert_fuzz"; }
run_fuzzer http_json_fuzz "$http_corpus" tests/fuzz/http_json_fuzz.dict ||
  { status=$?; failed+=" http_json_fuzz"; }
run_fuzzer http_wire_fuzz "$wire_corpus" "" || { status=$?; failed+=" http_wire_fuzz"; }

if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status):$failed; reproducers in $artifacts/:" >&2
  ls -1 "$artifacts" >&2 || true
  echo "fuzz: reproduce with $build/bin/<fuzzer> $artifacts/<file>" >&2
  exit 1
fi
echo "fuzz: no crash (${share}s each: ${targets[*]})"
