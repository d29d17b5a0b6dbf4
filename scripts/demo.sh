#!/usr/bin/env bash
# The main job, end to end: builds carrierarr, writes a fleet.yaml, brings up a whole hybrid fleet
# on this machine with the local provider (a lighthouse, the homelab node and two workers, each a
# network namespace running the real nebula and the carrierarr agent, with the control plane on
# the homelab node), shows it working, and takes it down again.
# Needs root (network namespaces). Pass --keep to leave the fleet running in ./demo-fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true

cmake --preset default >/dev/null
cmake --build --preset default --target carrierarr carrierarr-fleet carrierarr-agent \
  -j "$(nproc)" >/dev/null
bin=$PWD/build/bin/carrierarr

dir=$PWD/demo-fleet
if [ -f "$dir/.carrierarr/state.json" ]; then
  (cd "$dir" && "$bin" down >/dev/null)  # a fleet left by an earlier --keep run
fi
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
say() { printf '\n$ %s\n' "$*"; "$@"; }

say "$bin" init -name demo
say "$bin" plan
say "$bin" up
say "$bin" status
echo
echo "# the mesh is real: the GPU worker pings the homelab node over Nebula"
say ip netns exec demo.gpu-1 ping -c 3 -n 10.42.1.1
echo
echo "# the control plane runs on the homelab node; every node's agent enrolled with its own token"
say "$bin" nodes
say "$bin" exec gpu-1 -- ip -4 -brief addr show dev nebula1
say "$bin" events
say "$bin" doctor
say "$bin" up   # a second up changes nothing
if $keep; then
  echo
  echo "demo: the fleet is still running in $dir; 'cd $dir && $bin down' removes it."
else
  say "$bin" down
  echo
  echo "demo: up, status, doctor and down on a real Nebula mesh; nothing is left behind."
fi
