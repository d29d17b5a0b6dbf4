#!/usr/bin/env bash
# The main job, end to end, until the local fleet exists: builds carrierarr and runs the seeds'
# Phase 1 with `carrierarr pki` in place of nebula-cert, then proves the result with the real
# nebula-cert and nebula. Leaves the material in ./demo-pki (a fresh directory each run).
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset default >/dev/null
cmake --build --preset default --target carrierarr -j "$(nproc)" >/dev/null
bin=$PWD/build/bin/carrierarr

out=$PWD/demo-pki
rm -rf "$out"
mkdir -p "$out"
cd "$out"
say() { printf '\n$ %s\n' "$*"; "$@"; }

say "$bin" pki ca -name "homelab-mesh" -ips 10.42.0.0/16 -groups lighthouse,homelab,workers,aws,gpu-compute
say "$bin" pki sign -name lighthouse -ip 10.42.0.1/16 -groups lighthouse,homelab
say "$bin" pki sign -name homelab -ip 10.42.1.1/16 -groups homelab
say "$bin" pki sign -name gpu-worker-001 -ip 10.42.2.1/16 -groups workers,aws,gpu-compute
echo
echo "# the seeds' /24 trap is caught before it costs an afternoon:"
say "$bin" pki sign -name cpu-worker-001 -ip 10.42.3.1/24 -groups workers,aws -out-crt trap.crt -out-key trap.key
echo
echo "# and a host outside the mesh is refused:"
say "$bin" pki sign -name stray -ip 10.43.0.1/16 || true

for host in lighthouse homelab gpu-worker-001; do
  say nebula-cert verify -ca ca.crt -crt "$host.crt"
  say "$bin" pki verify -ca ca.crt -crt "$host.crt"
done
say "$bin" pki print -path gpu-worker-001.crt

cat > lighthouse.yml <<YAML
pki: {ca: $out/ca.crt, cert: $out/lighthouse.crt, key: $out/lighthouse.key}
static_host_map: {}
lighthouse: {am_lighthouse: true}
listen: {host: 127.0.0.1, port: 4242}
tun: {dev: nebula-demo}
firewall:
  outbound: [{port: any, proto: any, host: any}]
  inbound: [{port: any, proto: icmp, host: any}]
YAML
say nebula -test -config lighthouse.yml
echo
ls -l "$out"
echo
echo "demo: carrierarr minted a CA and three hosts; nebula-cert and nebula accept them all."
