#!/usr/bin/env bash
# Agent footprint: starts `carrierarr-fleet serve` in a scratch state directory (loopback only),
# then ONE real `carrierarr-agent` against it at its default intervals (the control plane pushes
# status every 30 s, heartbeat every 10 s), lets it settle, and reports the agent's VmRSS/VmHWM
# and CPU (utime+stime from /proc/PID/stat over the idle window / wall time). Both processes are
# stopped by their own PIDs (SIGTERM, bounded wait) and the scratch directory removed, also on
# failure or Ctrl-C. Targets: RSS < 12 MB, idle CPU < 0.5 %.
#
#   bench/run_agent_footprint.sh [BIN_DIR] [WINDOW_SECONDS]     (defaults: build/bin, 60)
#
# GRPC_PORT (default 50561) and HTTP_PORT (default 58095) on 127.0.0.1; the agent's health
# server listens on 127.0.0.1 at a port it picks. SETTLE (default 5) seconds pass between the
# agent's stream opening and the start of the window. TLS=1 puts TLS on the gRPC listener
# (a throwaway CA and server certificate made with the openssl command in the scratch
# directory) and gives the agent -tls-ca. Prints a table and "RESULT_JSON {...}".
set -euo pipefail

bin=${1:-build/bin}
window=${2:-60}
settle=${SETTLE:-5}
fleet=$bin/carrierarr-fleet
agent=$bin/carrierarr-agent
for f in "$fleet" "$agent"; do
  if [ ! -x "$f" ]; then
    echo "run_agent_footprint: $f not found (build carrierarr-fleet and carrierarr-agent)" >&2
    exit 2
  fi
done

grpc_port=${GRPC_PORT:-50561}
http_port=${HTTP_PORT:-58095}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$grpc_port" "$http_port"; do
  if port_in_use "$p"; then
    echo "run_agent_footprint: 127.0.0.1:$p is in use; set GRPC_PORT / HTTP_PORT" >&2
    exit 2
  fi
done

state=$(mktemp -d "${TMPDIR:-/tmp}/carrierarr-footprint.XXXXXX")
server_pid=""
agent_pid=""

stop_pid() {  # stop_pid PID: SIGTERM, bounded wait, then SIGKILL; reaps it (our child)
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run_agent_footprint: pid $pid still running after 20 s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$agent_pid" ]; then stop_pid "$agent_pid"; fi
  if [ -n "$server_pid" ]; then stop_pid "$server_pid"; fi
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

serve_tls=()
client_tls=()
api_url="http://127.0.0.1:$http_port"
api_tls=()
if [ "${TLS:-0}" = 1 ]; then
  # A P-256 CA and a server certificate for 127.0.0.1, valid for a day; only for this run.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=footprint-ca -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=footprint \
    -keyout "$state/server.key" -out "$state/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$state/san.ext"
  openssl x509 -req -in "$state/server.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" \
    -CAcreateserial -days 1 -extfile "$state/san.ext" -out "$state/server.pem" 2>/dev/null
  serve_tls=(--tls-cert "$state/server.pem" --tls-key "$state/server.key")
  client_tls=(--tls-ca "$state/ca.pem")
  api_url="https://127.0.0.1:$http_port"  # serve's HTTP API takes the same certificate
  api_tls=(--cacert "$state/ca.pem")
fi
api() {  # api [CURL_ARGS...] PATH: a request to serve's HTTP API
  local path=${*: -1}
  curl -fsS "${api_tls[@]}" "${@:1:$#-1}" "$api_url$path"
}

"$fleet" serve --state-dir "$state/control" --listen "127.0.0.1:$grpc_port" \
  --http "127.0.0.1:$http_port" "${serve_tls[@]}" >"$state/serve.log" 2>&1 &
server_pid=$!
for i in $(seq 1 100); do
  if [ -s "$state/control/admin.token" ] &&
    api -o /dev/null /health; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$i" = 100 ]; then
    echo "run_agent_footprint: serve did not come up:" >&2
    cat "$state/serve.log" >&2
    exit 1
  fi
  sleep 0.1
done
"$fleet" tokens create --server "127.0.0.1:$grpc_port" "${client_tls[@]}" \
  --admin-token-file "$state/control/admin.token" --node footprint --uses 1 --ttl 1h \
  --out "$state/enroll.token" >/dev/null

mkdir -m 0700 "$state/agent"
"$agent" --control-plane "127.0.0.1:$grpc_port" --token-file "$state/enroll.token" \
  --state-dir "$state/agent" --imds off --health-addr 127.0.0.1 --health-port 0 \
  --node-id footprint "${client_tls[@]}" >"$state/agent.log" 2>&1 &
agent_pid=$!

# Wait (bounded) for the control plane to report the agent's stream open.
admin=$(cat "$state/control/admin.token")
for i in $(seq 1 150); do
  if api -H "Authorization: Bearer $admin" /metrics 2>/dev/null |
    grep -q '^carrierarr_streams_open 1$'; then
    break
  fi
  if ! kill -0 "$agent_pid" 2>/dev/null || [ "$i" = 150 ]; then
    echo "run_agent_footprint: the agent did not connect:" >&2
    cat "$state/agent.log" >&2
    exit 1
  fi
  sleep 0.1
done
sleep "$settle"

ticks=$(getconf CLK_TCK)
cpu_ticks() {  # utime + stime of PID, in clock ticks (fields 14 and 15 after the comm field)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }  # kB

t0=$(date +%s.%N)
c0=$(cpu_ticks "$agent_pid")
rss_samples=()
for i in $(seq 1 "$window"); do
  sleep 1
  kill -0 "$agent_pid" 2>/dev/null || { echo "run_agent_footprint: agent exited" >&2; exit 1; }
  rss_samples+=("$(vm "$agent_pid" VmRSS)")
done
t1=$(date +%s.%N)
c1=$(cpu_ticks "$agent_pid")
rss=$(vm "$agent_pid" VmRSS)
hwm=$(vm "$agent_pid" VmHWM)
threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$agent_pid/status")
rss_max=$(printf '%s\n' "${rss_samples[@]}" | sort -n | tail -1)
rss_anon=$(vm "$agent_pid" RssAnon)
rss_file=$(vm "$agent_pid" RssFile)
# Where the resident memory is: the largest mappings by Rss (kB), grouped by file.
top_maps=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon]" : $6)}
  $1 == "Rss:" {rss[name] += $2}
  END {for (n in rss) if (rss[n] >= 256) printf "%d %s\n", rss[n], n}' "/proc/$agent_pid/smaps" |
  sort -rn | head -8)
statuses=$(api -H "Authorization: Bearer $admin" /metrics |
  awk '$1 == "carrierarr_status_messages_total" {print $2}')
heartbeats=$(api -H "Authorization: Bearer $admin" /metrics |
  awk '$1 == "carrierarr_heartbeats_total" {print $2}')

awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v rss="$rss" \
  -v hwm="$hwm" -v rmax="$rss_max" -v th="$threads" -v st="$statuses" -v hb="$heartbeats" \
  -v anon="$rss_anon" -v file="$rss_file" -v tls="${TLS:-0}" 'BEGIN {
  wall = t1 - t0; cpu = (c1 - c0) / hz; pct = 100 * cpu / wall
  printf "carrierarr-agent footprint over %.1f s (one agent, default intervals, loopback%s):\n", wall, (tls == 1 ? ", TLS" : "")
  printf "  VmRSS %.1f MB (max sampled %.1f MB), VmHWM %.1f MB, threads %d\n", rss / 1024, rmax / 1024, hwm / 1024, th
  printf "  RssAnon %.1f MB, RssFile %.1f MB (shared libraries and the binary)\n", anon / 1024, file / 1024
  printf "  CPU %.2f s = %.3f %% of one core\n", cpu, pct
  printf "  control plane received: %d statuses, %d heartbeats (since start)\n", st, hb
  printf "  targets: RSS < 12 MB: %s; idle CPU < 0.5 %%: %s\n", (hwm / 1024 < 12 ? "met" : "MISSED"), (pct < 0.5 ? "met" : "MISSED")
  printf "RESULT_JSON {\"tls\":%s,\"window_s\":%.1f,\"rss_mb\":%.2f,\"rss_max_sampled_mb\":%.2f,\"hwm_mb\":%.2f,\"rss_anon_mb\":%.2f,\"rss_file_mb\":%.2f,\"threads\":%d,\"cpu_s\":%.3f,\"cpu_pct\":%.4f,\"statuses\":%d,\"heartbeats\":%d}\n", (tls == 1 ? "true" : "false"), wall, rss / 1024, rmax / 1024, hwm / 1024, anon / 1024, file / 1024, th, cpu, pct, st, hb
}'
echo "largest resident mappings (kB):"
printf '%s\n' "$top_maps" | sed 's/^/  /'
