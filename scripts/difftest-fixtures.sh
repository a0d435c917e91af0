#!/bin/sh
# Regenerates the signed-installer test fixtures in crates/signed-installer/tests/data/ with
# throwaway keys (printed nowhere, deleted afterwards). The fixtures are signed by OpenSSL the way
# Dynatrace's installers are laid out, so tests can check the native verifier without openssl.
# Usage: scripts/difftest-fixtures.sh   (needs openssl; run from anywhere)
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/crates/signed-installer/tests/data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$out"

ca_conf() { # $1 = dir
  mkdir -p "$1/new"; : > "$1/index.txt"; echo 1000 > "$1/serial"
  cat > "$1/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $1/index.txt
new_certs_dir = $1/new
serial = $1/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
organizationName = optional
CNF
}

# Root (EC P-384, like Dynatrace's), an RSA intermediate, an RSA signer; dates far apart so
# the fixtures stay valid for tests that verify at a fixed time in 2027.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout root.key -out root.pem \
  -subj "/CN=Fixture Root CA/O=signed-installer tests" -days 36500 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
ca_conf "$work/root"
openssl req -new -newkey rsa:3072 -nodes -keyout int.key -out int.csr -subj "/CN=Fixture Intermediate/O=signed-installer tests" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > int.ext
openssl ca -batch -config root/ca.cnf -cert root.pem -keyfile root.key -in int.csr -out int.pem \
  -startdate 20250101000000Z -enddate 20990101000000Z -extfile int.ext -notext 2>/dev/null
ca_conf "$work/int"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > signer.ext
signer() { # $1 name, $2 start, $3 end
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=Fixture $1/O=signed-installer tests" 2>/dev/null
  openssl ca -batch -config int/ca.cnf -cert int.pem -keyfile int.key -in "$1.csr" -out "$1.pem" \
    -startdate "$2" -enddate "$3" -extfile signer.ext -notext 2>/dev/null
}
signer signer 20250101000000Z 20980101000000Z
signer expired 20200101000000Z 20210101000000Z

layout() { # $1 script, $2 signature DER, $3 output
  { cat "$1"; printf '\n----SIGNED-INSTALLER\n'
    printf 'Content-Type: application/x-pkcs7-signature; name="smime.p7s"\n'
    printf 'Content-Transfer-Encoding: base64\n'
    printf 'Content-Disposition: attachment; filename="smime.p7s"\n\n'
    base64 -w 64 "$2"; printf '\n----SIGNED-INSTALLER--\n'; } > "$3"
}
sign() { # $1 script, $2 signer, $3 output, then extra `openssl cms -sign` options
  script="$1" who="$2" to="$3"; shift 3
  openssl cms -sign -in "$script" -signer "$who.pem" -inkey "$who.key" -certfile int.pem -md sha256 \
    -outform DER -out sig.der "$@"
  layout "$script" sig.der "$to"
}

printf '#!/bin/sh\n# signed-installer fixture\nif [ "$1" = --version ]; then echo 1.301.55.20260114-153010; exit 0; fi\necho "installing"\nexit 0\n' > script.sh
sign script.sh signer "$out/valid.sh"
sign script.sh expired "$out/expired-signer.sh"
# Lines longer than OpenSSL's 1023-byte chunks, CRLF and lone CR line ends.
{ head -c 3000 /dev/zero | tr '\0' 'a'; printf '\r\n'; printf 'x\ry\r\r\n\n'; cat script.sh; } > long.sh
sign long.sh signer "$out/long-lines.sh"
# No signed attributes: the signature is over the content digest itself.
sign script.sh signer "$out/noattr.sh" -noattr
cp root.pem "$out/root.pem"
cp int.pem "$out/intermediate.pem"
openssl x509 -in root.pem -outform DER -out "$out/root.der"
echo "fixtures written to $out"
