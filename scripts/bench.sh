#!/usr/bin/env bash
# Benchmarks of the bootstrapper's hot paths against a release dtsim on loopback.
# Not a test: run it by hand, then copy the figures and this command line into BENCHMARKS.md.
#
#   scripts/bench.sh                 # 256 MiB installer, 5 fresh installs per variant
#   SIZE=64M RUNS=3 scripts/bench.sh
#
# Needs hyperfine and GNU time (apt-get install hyperfine time). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-256M}
RUNS=${RUNS:-5}
for t in hyperfine /usr/bin/time; do command -v "$t" >/dev/null || { echo "bench.sh: needs $t (apt-get install hyperfine time)" >&2; exit 3; }; done

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

echo "== 1. fresh install: download + SHA-256 + signature check (verified vs skipped)"
hyperfine --runs "$RUNS" --prepare "$fresh" --export-markdown "$work/fresh.md" \
  -n verified "$bin apply $common $at" \
  -n skip-signature "$bin apply $common $at --insecure-skip-signature"
cat "$work/fresh.md"

echo "== 2. converged host: apply and check (zero HTTP requests)"
$bin apply $common $at >/dev/null || true
hyperfine --warmup 3 --runs 100 -N --export-markdown "$work/converged.md" \
  -n apply "$bin apply $common $at" \
  -n check "$bin check $common $at"
cat "$work/converged.md"
$bin apply $common $at --json | sed 's/^/converged result: /'

echo "== 3. peak memory of a fresh install ($SIZE)"
rm -rf "$work/state" "$work/oa"
/usr/bin/time -f "max RSS %M KiB, %e s" $bin apply $common $at 2>&1 >/dev/null | tail -1
