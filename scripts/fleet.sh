#!/usr/bin/env bash
# The fleet benchmark of issue 13. Not a test: run it by hand, then copy the table and this
# command line into BENCHMARKS.md.
#
#   scripts/fleet.sh                                  # 12000 hosts, 5000 new tenants, 32 at a time
#   HOSTS=600 TENANTS=250 PARALLEL=16 scripts/fleet.sh
#   LIMITS="off on" RATE_LIMIT=3000 CLUSTER_RATE_LIMIT=10000 scripts/fleet.sh
#   LIMITS=on SPLAY=60s scripts/fleet.sh                # every host with --splay 60s
#
# For each of LIMITS (default "off on"): a fresh release dtsim with TLS (and, for "on",
# --rate-limit RATE_LIMIT per token and --cluster-rate-limit CLUSTER_RATE_LIMIT per minute),
# then examples/fleet.rs: every host once (each its own install path and state dir under
# WORK), then every host again, which must send no request at all. Prints the figures as
# markdown rows, plus dtsim's CPU time and peak memory. Exit 1 if a target was missed.
# Traffic stays on 127.0.0.1. Needs about 30 KiB of disk per host.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-12000}
TENANTS=${TENANTS:-5000}
PARALLEL=${PARALLEL:-32}
LIMITS=${LIMITS:-off on}
RATE_LIMIT=${RATE_LIMIT:-3000}
CLUSTER_RATE_LIMIT=${CLUSTER_RATE_LIMIT:-10000}
SPLAY=${SPLAY:-}
apply_args=()
[ -n "$SPLAY" ] && apply_args=(-- --splay "$SPLAY")

cargo build --release --quiet -p oneagent-bootstrap -p dtsim --bin oneagent-bootstrap --bin dtsim --example fleet
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
dtsim_pid=
cleanup() { [ -n "$dtsim_pid" ] && kill "$dtsim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "== machine: $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $HOSTS hosts over $TENANTS new tenants, $PARALLEL at a time; rate limits: $LIMITS"
status=0
for limit in $LIMITS; do
  rm -rf "$work/run" && mkdir -p "$work/run"
  flags=()
  label="no rate limit"
  if [ "$limit" = on ]; then
    flags=(--rate-limit "$RATE_LIMIT" --cluster-rate-limit "$CLUSTER_RATE_LIMIT")
    label="rate limit $RATE_LIMIT/min per token, $CLUSTER_RATE_LIMIT/min per cluster"
  fi
  "$target/release/dtsim" --tls --url-file "$work/run/url" --cluster-token-file "$work/run/token" \
    --write-ca "$work/run/ca.pem" "${flags[@]}" >/dev/null &
  dtsim_pid=$!
  for _ in $(seq 200); do [ -s "$work/run/url" ] && break; sleep 0.05; done
  ticks0=$(cpu_ticks "$dtsim_pid")
  start=$(date +%s.%N)
  "$target/release/examples/fleet" --bin "$target/release/oneagent-bootstrap" \
    --url "$(cat "$work/run/url")" --ca "$work/run/ca.pem" --cluster-token-file "$work/run/token" \
    --work "$work/run/hosts" --hosts "$HOSTS" --tenants "$TENANTS" --parallel "$PARALLEL" \
    --label "$label${SPLAY:+, --splay $SPLAY}" "${apply_args[@]}" || status=1
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  ticks=$(( $(cpu_ticks "$dtsim_pid") - ticks0 ))
  hwm=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$dtsim_pid/status")
  rss=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$dtsim_pid/status")
  cpu=$(echo "scale=1; $ticks / $(getconf CLK_TCK)" | bc)
  printf '| %s: dtsim CPU (both waves) | %s s over %.0f s wall (%.0f%% of one core) |\n' \
    "$label" "$cpu" "$wall" "$(echo "100 * $cpu / $wall" | bc -l)"
  printf '| %s: dtsim memory | peak %.1f MiB, now %.1f MiB |\n' "$label" "$hwm" "$rss"
  kill "$dtsim_pid"; wait "$dtsim_pid" 2>/dev/null || true; dtsim_pid=
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
