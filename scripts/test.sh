#!/usr/bin/env bash
# Builds carrierarr and runs every test: clang-format and clang-tidy, Clang's thread-safety
# analysis of the control plane (a build), the unit, interop and end-to-end suites (release
# build; the end-to-end ones need root), the same suites under AddressSanitizer +
# UndefinedBehaviorSanitizer, and a bounded libFuzzer run of the certificate decoders. Exits
# non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
# Compiles go through ccache (CMakeLists.txt): paths relative to this checkout, so a fresh clone
# elsewhere on the machine reuses the entries of an earlier run.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# Each step's header says how long the run has taken so far, so a slow step shows in CI's log.
step() { printf '\n==== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "clang-format (check)"
mapfile -t sources < <(git ls-files '*.cc' '*.h')
clang-format --dry-run --Werror "${sources[@]}"

step "build (RelWithDebInfo)"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"

step "clang-tidy"
bash scripts/tidy.sh

step "thread-safety analysis (clang -Wthread-safety; the control plane, build only)"
cmake --preset tsa >/dev/null
cmake --build --preset tsa -j "$jobs"

step "tests (RelWithDebInfo)"
ctest --preset default -j "$jobs"

step "build (ASan + UBSan)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"

step "tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j "$jobs"

step "fuzz (certificate and PEM decoders, ${FUZZ_SECONDS:-60} s)"
bash scripts/fuzz.sh

step "all checks passed"
