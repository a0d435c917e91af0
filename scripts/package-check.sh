#!/usr/bin/env bash
# CI check of the packages (issue 12): builds them with scripts/dist.sh (which checks the glibc
# symbol versions with objdump -T), installs the .deb with dpkg -i, checks its files and the
# 0700 state dir, runs --version and two real `apply` runs against dtsim (HTTPS) from the
# installed /usr/bin binary (exit 2 changed, then 0 converged), then has the Puppet module and
# the Ansible role install that .deb from the file (package_source / oneagent_bootstrap_package_src)
# and converge against dtsim (the ignored tests of tests/integrations.rs: they need root and the
# .deb; puppet and ansible-playbook must be on PATH, as .ci/run puts them), lists the .rpm
# with rpm -qlp, and installs it into a private root: rpm -V, its scriptlet, a converged host.
# Needs root (dpkg -i). Removes the package again, and the state dir if it created it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
started=$(date +%s)

say() { printf 'package-check: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# A maintainer of our own unless one is given, to check that dist.sh puts it in both packages.
maintainer=${DEB_MAINTAINER:-${PKG_MAINTAINER:-oneagent-bootstrap CI <ci@oneagent-bootstrap.invalid>}}
DEB_MAINTAINER=$maintainer scripts/dist.sh "$@"
dist=$root/target/dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
deb=$(ls "$dist"/oneagent-bootstrap_"$version"*_amd64.deb)
rpmfile=$(ls "$dist"/oneagent-bootstrap-"$version"*.x86_64.rpm)

work=$(mktemp -d)
state=/var/lib/oneagent-bootstrap
state_existed=$([ -e "$state" ] && echo yes || echo no)
sim_pid=
cleanup() {
  [ -z "$sim_pid" ] || kill "$sim_pid" 2>/dev/null || true
  dpkg --purge oneagent-bootstrap >/dev/null 2>&1 || true
  [ "$state_existed" = yes ] || rm -rf "$state"
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the .deb ----
got=$(dpkg-deb -f "$deb" Maintainer)
[ "$got" = "$maintainer" ] || die "the .deb's Maintainer is '$got', not '$maintainer'"
dpkg -i "$deb" >/dev/null
listing=$(dpkg -L oneagent-bootstrap)
for f in /usr/bin/oneagent-bootstrap \
  /usr/share/man/man1/oneagent-bootstrap.1 /usr/share/man/man1/oneagent-bootstrap-apply.1 \
  /usr/share/bash-completion/completions/oneagent-bootstrap \
  /usr/share/zsh/vendor-completions/_oneagent-bootstrap \
  /usr/share/fish/vendor_completions.d/oneagent-bootstrap.fish \
  /usr/share/doc/oneagent-bootstrap/examples/config.toml \
  /usr/share/doc/oneagent-bootstrap/README.md /usr/share/doc/oneagent-bootstrap/LICENSE; do
  # cargo-deb may compress man pages.
  grep -qx -e "$f" -e "$f.gz" <<<"$listing" || die "the .deb does not install $f"
done
[ "$(stat -c %a "$state")" = 700 ] || die "$state is $(stat -c %a "$state"), not 0700"
# The installed binary is the portable one, byte for byte.
(cd "$dist" && sha256sum -c --quiet "oneagent-bootstrap-$version-x86_64-linux.sha256")
[ "$(sha256sum </usr/bin/oneagent-bootstrap)" = "$(sha256sum <"$dist/oneagent-bootstrap-$version-x86_64-linux")" ] \
  || die "/usr/bin/oneagent-bootstrap differs from the portable binary"
out=$(/usr/bin/oneagent-bootstrap --version)
grep -q "^oneagent-bootstrap $version (commit [0-9a-f]\{7,\})$" <<<"$out" \
  || die "--version does not print the version and the git commit: $out"

# ---- a real apply against dtsim, from the installed binary ----
cargo build -q --locked -p dtsim
"$CARGO_TARGET_DIR/debug/dtsim" --tls --url-file "$work/url" \
  --cluster-token-file "$work/cluster-token" --write-ca "$work/ca.pem" 2>"$work/dtsim.log" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || die "dtsim did not start: $(cat "$work/dtsim.log")"
# apply BIN [OPTION...]: one `apply --json` against dtsim; prints its exit code.
apply() {
  local bin=$1
  shift
  set +e
  DT_CLUSTER_TOKEN_FILE=$work/cluster-token "$bin" apply --json \
    --cluster-url "$(cat "$work/url")" --ca-file "$work/ca.pem" \
    --installer-ca-file "$work/ca.pem" \
    --fact hostname=abc-p1-web01 \
    --hostname-pattern '^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>[0-9]+)-' \
    --tenant-template '{customer}-{stage}{index}' "$@" >"$work/out.json" 2>"$work/err"
  echo $?
  set -e
}
code=$(apply /usr/bin/oneagent-bootstrap --install-path "$work/oneagent")
[ "$code" = 2 ] || die "first apply exited $code, not 2: $(cat "$work/err" "$work/out.json")"
grep -q '"tenant":"abc-p1"' "$work/out.json" || die "first apply: $(cat "$work/out.json")"
[ -s "$state/status.json" ] || die "apply wrote no $state/status.json"
code=$(apply /usr/bin/oneagent-bootstrap --install-path "$work/oneagent")
[ "$code" = 0 ] || die "second apply exited $code, not 0: $(cat "$work/err" "$work/out.json")"
if grep -qF "$(cat "$work/cluster-token")" "$work/out.json" "$work/err" "$state/status.json"; then
  die "the cluster token appears in the output or status.json"
fi

# ---- the Puppet module and the Ansible role install it from the file ----
# Each test purges the package first, installs it with the tool (changed), converges, and checks
# that a second run changes nothing.
PACKAGE_DEB=$deb cargo test -q --locked --test integrations -- --ignored installs_our_deb \
  >"$work/integrations.log" 2>&1 || die "installing the .deb with Puppet/Ansible: $(tail -n 40 "$work/integrations.log")"
grep -q "^test result: ok. 2 passed" "$work/integrations.log" \
  || die "the two package tests did not both run: $(tail -n 20 "$work/integrations.log")"

# ---- the .rpm ----
if ! command -v rpm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq rpm || { apt-get update -qq && apt-get install -y -qq rpm; }; } \
    >/dev/null 2>&1 || say "rpm does not install here; checking the .rpm header's file names instead"
fi
if command -v rpm >/dev/null 2>&1; then
  rpm_files=$(rpm -qlp "$rpmfile" 2>/dev/null)
  got=$(rpm -qp --qf '%{VENDOR}' "$rpmfile" 2>/dev/null)
  [ "$got" = "$maintainer" ] || die "the .rpm's Vendor is '$got', not '$maintainer'"
else
  # An rpm header stores base names uncompressed.
  rpm_files=$(strings "$rpmfile" | grep -x -e 'oneagent-bootstrap.*' -e '_oneagent-bootstrap' -e LICENSE)
fi
for f in /usr/bin/oneagent-bootstrap /usr/share/man/man1/oneagent-bootstrap.1 \
  /usr/share/bash-completion/completions/oneagent-bootstrap \
  /usr/share/zsh/site-functions/_oneagent-bootstrap \
  /usr/share/fish/vendor_completions.d/oneagent-bootstrap.fish \
  /usr/share/doc/oneagent-bootstrap/examples/config.toml /usr/share/licenses/oneagent-bootstrap/LICENSE; do
  if command -v rpm >/dev/null 2>&1; then
    grep -qx "$f" <<<"$rpm_files" || die "the .rpm does not hold $f"
  else
    grep -qx "$(basename "$f")" <<<"$rpm_files" || die "the .rpm does not hold $(basename "$f")"
  fi
done
# ---- the .rpm, installed: into a private root, as this is no rpm-based host ----
# rpm verifies the files it laid down, the post-install scriptlet is run against that root,
# and the installed binary converges a host of its own against dtsim.
if command -v rpm >/dev/null 2>&1; then
  rroot=$work/rpmroot
  mkdir -p "$rroot"
  rpm --root "$rroot" --initdb
  rpm -i --root "$rroot" --nodeps --noscripts "$rpmfile" 2>"$work/rpm.log" \
    || die "rpm -i: $(cat "$work/rpm.log")"
  rpm --root "$rroot" -V --nodeps oneagent-bootstrap \
    || die "rpm -V: the installed files differ from the package"
  rbin=$rroot/usr/bin/oneagent-bootstrap
  [ "$(stat -c %a "$rbin")" = 755 ] || die "the .rpm's binary is $(stat -c %a "$rbin"), not 0755"
  cmp -s "$rbin" "$dist/oneagent-bootstrap-$version-x86_64-linux" \
    || die "the .rpm's /usr/bin/oneagent-bootstrap differs from the portable binary"
  script=$(rpm -qp --scripts "$rpmfile" 2>/dev/null | sed -n '/^postinstall scriptlet/,$p' | tail -n +2)
  [ "$script" = "install -d -m 0700 /var/lib/oneagent-bootstrap" ] \
    || die "the .rpm's post-install scriptlet is not the expected one: $script"
  sh -c "${script//\/var\/lib/$rroot/var/lib}"
  [ "$(stat -c %a "$rroot/var/lib/oneagent-bootstrap")" = 700 ] \
    || die "the .rpm's scriptlet made the state dir $(stat -c %a "$rroot/var/lib/oneagent-bootstrap")"
  rpm_at=(--install-path "$work/rpm-oneagent" --state-dir "$rroot/var/lib/oneagent-bootstrap")
  code=$(apply "$rbin" "${rpm_at[@]}")
  [ "$code" = 2 ] || die "apply from the .rpm exited $code, not 2: $(cat "$work/err" "$work/out.json")"
  code=$(apply "$rbin" "${rpm_at[@]}")
  [ "$code" = 0 ] || die "second apply from the .rpm exited $code, not 0: $(cat "$work/err")"
  rpm --root "$rroot" -e --noscripts oneagent-bootstrap 2>/dev/null
  [ ! -e "$rbin" ] || die "rpm -e left $rbin"
  rpm_done="installed into a private root (rpm -V, scriptlet, converged a host, removed)"
else
  rpm_done="lists its files (no rpm here)"
fi

say "ok: dist artifacts, .deb installed and converged a host against dtsim (by hand, with Puppet" \
  "and with Ansible), .rpm $rpm_done" \
  "($(($(date +%s) - started)) s)"
