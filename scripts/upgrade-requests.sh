#!/usr/bin/env bash
# HTTP requests per converged `apply --upgrade` run (the cost a fleet pays every
# configuration-management run), counted by dtsim's request log.
# Not a test: run it by hand, then copy the figures and this command line into BENCHMARKS.md.
#
#   scripts/upgrade-requests.sh                      # this tree's debug build, 10 runs
#   BIN=/path/to/other/oneagent-bootstrap RUNS=5 scripts/upgrade-requests.sh
#
# Needs curl. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
command -v curl >/dev/null || { echo "upgrade-requests.sh: needs curl" >&2; exit 3; }
cargo build --workspace --quiet
BIN=${BIN:-$PWD/target/debug/oneagent-bootstrap}
work=$(mktemp -d)
dtsim_pid=
cleanup() { [ -n "$dtsim_pid" ] && kill "$dtsim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

target/debug/dtsim --url-file "$work/url" --cluster-token-file "$work/cluster-token" \
  --write-ca "$work/ca.pem" >/dev/null 2>&1 &
dtsim_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url=$(cat "$work/url")
ct=$(cat "$work/cluster-token")
at="--state-dir $work/state --install-path $work/oa --installer-ca-file $work/ca.pem"
at="$at --cluster-url $url --tenant bench-p1 -q"

# The JSON field a request-log answer has once per request.
count() { curl -fsS "$url/__dtsim/requests" | { grep -o '"method"' || true; } | wc -l; }
clear() { curl -fsS -X DELETE "$url/__dtsim/requests" >/dev/null; }

# An InstallerDownload token of bench-p1, made the way an operator would.
env_token() {
  curl -fsS -X PUT -H "Authorization: Api-Token $ct" -H 'Content-Type: application/json' \
    "$url/api/cluster/v2/environments/bench-p1" -d '{"name":"bench-p1"}' >/dev/null
  local tm
  tm=$(curl -fsS -X POST -H "Authorization: Api-Token $ct" -H 'Content-Type: application/json' \
    "$url/api/cluster/v2/environments/bench-p1/tokenManagementToken" \
    -d '{"name":"bench","expiresIn":{"value":300,"unit":"SECONDS"}}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -fsS -X POST -H "Authorization: Api-Token $tm" -H 'Content-Type: application/json' \
    "$url/e/bench-p1/api/v2/apiTokens" \
    -d '{"name":"bench","scopes":["InstallerDownload"]}' | sed 's/.*"token":"\([^"]*\)".*/\1/'
}

echo "== $BIN ($("$BIN" -V 2>/dev/null || echo '?'))"
DT_CLUSTER_TOKEN_FILE="$work/cluster-token" "$BIN" apply $at || test $? -eq 2
installer_token=$(env_token)
# Each case starts without a remembered version; a binary that predates
# --version-check-interval skips the every-run case (it asks on every run anyway).
for who in cluster-token installer-download-token installer-download-token-every-run; do
  extra=()
  if [ "$who" = installer-download-token-every-run ]; then
    "$BIN" --help | grep -q -- --version-check-interval || continue
    extra=(--version-check-interval 0s)
  fi
  rm -f "$work/state/version-check.json"
  per_run=()
  for _ in $(seq "$RUNS"); do
    clear
    if [ "$who" = cluster-token ]; then
      DT_CLUSTER_TOKEN_FILE="$work/cluster-token" "$BIN" apply --upgrade $at "${extra[@]}"
    else
      DT_API_TOKEN="$installer_token" "$BIN" apply --upgrade $at "${extra[@]}"
    fi
    per_run+=("$(count)")
  done
  total=0; for n in "${per_run[@]}"; do total=$((total + n)); done
  echo "$who: $RUNS converged --upgrade runs, requests per run: ${per_run[*]} (total $total)"
done
