#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy) over our sources, using the compile commands of the
# default build. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[ -f "$build/compile_commands.json" ] || cmake --preset default >/dev/null
mapfile -t sources < <(git ls-files 'src/*.cc')
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option
