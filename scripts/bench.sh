#!/usr/bin/env bash
# Benchmarks of the bootstrapper's hot paths against a release dtsim on loopback.
# Not a test: run it by hand, then copy the figures and this command line into BENCHMARKS.md.
#
#   scripts/bench.sh                 # 256 MiB installer, 10 fresh installs per variant
#   SIZE=64M RUNS=3 scripts/bench.sh
#   BASE_BIN=/tmp/old-oneagent-bootstrap scripts/bench.sh   # also the converged runs of an older build
#
# Needs hyperfine and GNU time (apt-get install hyperfine time curl). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-256M}
RUNS=${RUNS:-10}
for t in hyperfine curl /usr/bin/time; do command -v "$t" >/dev/null || { echo "bench.sh: needs $t (apt-get install hyperfine time curl)" >&2; exit 3; }; done

cargo build --release --workspace --quiet
bin=$PWD/target/release/oneagent-bootstrap
work=$(mktemp -d)
dtsim_pid=
cleanup() { [ -n "$dtsim_pid" ] && kill "$dtsim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

target/release/dtsim --installer-size "$SIZE" --url-file "$work/url" \
  --cluster-token-file "$work/cluster-token" --write-ca "$work/ca.pem" &
dtsim_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url=$(cat "$work/url")
export DT_CLUSTER_TOKEN_FILE="$work/cluster-token"
common="--cluster-url $url --installer-ca-file $work/ca.pem --tenant bench-p1 -q"
fresh="rm -rf $work/state $work/oa"
at="--state-dir $work/state --install-path $work/oa"

echo "== machine: $(nproc) cores, $(uname -m); installer $SIZE; dtsim $url"
# Warm dtsim's per-environment signing cache so the first timed run is not special.
$bin apply $common $at >/dev/null || true

# A fresh install exits 2 (changed); hyperfine runs each command through sh, so test it there.
fresh_pair() {
  hyperfine --runs "$RUNS" --warmup 1 --prepare "$fresh" --export-markdown "$work/fresh.md" \
    -n verified "$bin apply $common $at; test \$? -eq 2" \
    -n skip-signature "$bin apply $common $at --insecure-skip-signature; test \$? -eq 2"
  cat "$work/fresh.md"
}
echo "== 1a. fresh install over loopback, unthrottled: download + SHA-256 + signature check"
echo "       (worst case: dtsim, the download loop and the signature hasher share $(nproc) cores)"
fresh_pair
echo "== 1b. the same with dtsim rate-capped (1 MiB per 1 ms pause; ~335 MB/s here, timer slack)"
curl -fsS -X POST -H 'Content-Type: application/json' "$url/__dtsim/faults" -d \
  '{"method":"GET","path":"/e/*/api/v1/deployment/installer/agent/*","fault":{"kind":"trickle","chunk_bytes":1048576,"interval_ms":1}}' >/dev/null
fresh_pair
curl -fsS -X DELETE "$url/__dtsim/faults" >/dev/null

echo "== 2. converged host: apply and check (zero HTTP requests)"
$bin apply $common $at >/dev/null || true
# BASE_BIN=<an older release binary>: the same converged runs with it, back to back on the
# same host state, so a regression is told apart from a slower machine.
base=()
if [ -n "${BASE_BIN:-}" ]; then
  base=(-n apply-base "$BASE_BIN apply $common $at" -n check-base "$BASE_BIN check $common $at")
fi
hyperfine --warmup 3 --runs 100 -N --export-markdown "$work/converged.md" \
  -n apply "$bin apply $common $at" \
  -n check "$bin check $common $at" "${base[@]}"
cat "$work/converged.md"
$bin apply $common $at --json | sed 's/^/converged result: /'

echo "== 2b. converged check: the same options as flags, or as keys of a configuration file"
# The file is layered in by config::file::layer (one clap parse per key): what does it cost?
cat > "$work/config.toml" <<EOF
cluster-url = "$url"
installer-ca-file = "$work/ca.pem"
tenant = "bench-p1"
state-dir = "$work/state"
install-path = "$work/oa"
quiet = true
EOF
chmod 600 "$work/config.toml"
hyperfine --warmup 3 --runs 100 -N --export-markdown "$work/config.md" \
  -n flags "$bin check $common $at" \
  -n config-file "$bin check --config $work/config.toml"
cat "$work/config.md"

echo "== 3. peak memory of a fresh install ($SIZE)"
rm -rf "$work/state" "$work/oa"
/usr/bin/time -f "max RSS %M KiB, %e s" $bin apply $common $at 2>&1 >/dev/null | tail -1 || true
