#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy) over our sources, using the compile commands of the
# default build; translation units unchanged since a clean check are skipped (scripts/tidy.py
# says how the cache is keyed). Exits non-zero on any finding. Arguments go to tidy.py
# (--no-cache, --jobs N, FILE...).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[ -f "$build/compile_commands.json" ] || cmake --preset default >/dev/null
exec python3 scripts/tidy.py --build "$build" "$@"
