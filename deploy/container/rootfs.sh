#!/usr/bin/env bash
# Writes the image's root filesystem to DIR: the sigbox binary (stripped)
# and every shared library it links (as ldd resolves them here), the
# signatures in SIGNATURES, the trust policy TRUST with its key files, and
# the CA bundle (registry TLS for `sigbox pull`).
#   rootfs.sh DIR SIGBOX SIGNATURES TRUST
set -euo pipefail
out=$1 sigbox=$2 signatures=$3 trust=$4
rm -rf "$out"
mkdir -p "$out"/{usr/local/bin,etc/sigbox,var/lib/sigbox/signatures,run/sigbox,tmp}
install -d -m 0700 "$out/var/cache/sigbox"
chmod 1777 "$out/tmp"
strip -o "$out/usr/local/bin/sigbox" "$sigbox"
ldd "$sigbox" | awk '/=>/ { print $3 } /^\t\/.*ld-linux/ { print $1 }' | while read -r lib; do
  [ -n "$lib" ] || continue
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done
cp "$signatures"/*.wasm "$out/var/lib/sigbox/signatures/"
cp "$trust" "$out/etc/sigbox/trust.toml"
# The policy's key files, at the same place relative to it.
trust_dir=$(dirname "$trust")
sed -n 's/^public_key *= *"\(.*\)"/\1/p' "$trust" | while read -r key; do
  mkdir -p "$out/etc/sigbox/$(dirname "$key")"
  cp "$trust_dir/$key" "$out/etc/sigbox/$key"
done
mkdir -p "$out/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n' > "$out/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$out/etc/group"
