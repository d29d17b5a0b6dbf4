#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang, ASan + UBSan + libFuzzer) and runs
# the certificate/PEM/key decoder fuzzer for a bounded time. Exits non-zero when the fuzzer finds
# a crash, a sanitizer report, a broken invariant, a leak or a slow input; the reproducer is kept
# under build-fuzz/artifacts/.
#
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh           # the CI default
#   build-fuzz/bin/cert_fuzz build-fuzz/artifacts/crash-<sha1>   # reproduce a finding
#
# Environment: FUZZ_SECONDS (total run time, default 60), FUZZ_TIMEOUT (seconds one input may
# take, default 25), FUZZ_RSS_MB (default 2048), FUZZ_JOBS (parallel fuzzing processes with
# libFuzzer's -fork, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-25}
rss_mb=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-1}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target cert_fuzz carrierarr  # the CLI mints the key seeds

build=build-fuzz
fuzzer=$build/bin/cert_fuzz
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

echo "fuzz: cert_fuzz for ${seconds}s on $(ls "$corpus" | wc -l) seeds (jobs: $jobs)"
args=(
  -max_total_time="$seconds"
  -rss_limit_mb="$rss_mb"
  -timeout="$timeout"
  -dict=tests/fuzz/cert_fuzz.dict
  -artifact_prefix="$artifacts/"
  -print_final_stats=1
)
if [ "$jobs" -gt 1 ]; then args+=(-fork="$jobs"); fi

status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$fuzzer" "${args[@]}" "$corpus" || status=$?

if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); reproducers in $artifacts/:" >&2
  ls -1 "$artifacts" >&2 || true
  echo "fuzz: reproduce with $fuzzer $artifacts/<file>" >&2
  exit 1
fi
echo "fuzz: no crash in ${seconds}s"
