#!/usr/bin/env bash
# Installs everything carrierarr needs to build, test and run on Debian 12, from Debian's own
# packages only. Run as root (or with sudo). Safe to run again.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang clang-format clang-tidy libclang-rt-14-dev
  python3  # scripts/tidy.py
  # libraries
  libssl-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libsqlite3-dev libpqxx-dev libpq-dev libcpp-httplib-dev libboost-dev
  libcurl4-openssl-dev libpugixml-dev zlib1g-dev
  # programs the tests and the product run for real
  nebula iproute2 iputils-ping postgresql
  # the burst e2e's client of the model gateway, run in the homelab's namespace
  curl
  # etcd and etcdctl stand in for clustermesh-apiserver in pki_etcd_test (label etcd); openssl
  # reads its certificates back
  etcd-server etcd-client openssl
  # the AWS userdata's schema check (cloud-init schema), as the nodes' cloud-init reads it
  cloud-init
  # the manifests' strict field and type check (tests/providers/kube_schema_check.py, run with
  # /usr/bin/python3): the Kubernetes API's models
  python3-kubernetes python3-yaml
  # render packer's templates parsed by HashiCorp's own HCL parser (tests/tools/hcl_check, Go)
  golang-go golang-github-hashicorp-hcl-v2-dev
  # benchmarks
  hyperfine
)

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh installs Debian packages: run it as root (sudo bash scripts/setup.sh)" >&2
  exit 1
fi

# kubectl for fake_kube_test (label kubectl): the machine image's 1.32 when there is one, else
# Debian's (older) kubernetes-client.
command -v kubectl >/dev/null || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
