#!/usr/bin/env bash
# Builds every Python signature under guest-signatures/python/<name>/ (an
# `app.py` defining `Detector`) into <repo>/target/signatures-test/<name>.wasm
# with componentize-py, against the contract in <repo>/wit. Python signatures
# are test-only for now (an 18 MB component each, CPython inside).
#
# Needs componentize-py 0.25.1 (`make deps` installs it: pip install
# componentize-py==0.25.1); no network at build time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out_dir="$repo/target/signatures-test"
componentize="${COMPONENTIZE_PY:-componentize-py}"
command -v "$componentize" >/dev/null ||
    { echo "python/build.sh: error: componentize-py not found; run make deps (pip install componentize-py==0.25.1)" >&2; exit 1; }
mkdir -p "$out_dir"
for app in "$here"/*/app.py; do
    [ "$(dirname "$app")" != "$here/sdk" ] || continue
    [ -e "$app" ] || continue
    dir="$(dirname "$app")"
    name="$(basename "$dir")"
    out="$out_dir/$name.wasm"
    # Rebuild only when the source or the contract is newer than the module.
    if [ -f "$out" ] && [ -z "$(find "$dir" "$here/sdk" "$repo/wit" -newer "$out" -type f -print -quit)" ]; then
        echo "python/build.sh: $out is up to date"
        continue
    fi
    # The SDK (sdk/sigbox_sdk) is bundled beside the app.
    "$componentize" -d "$repo/wit" -w signature componentize -p "$dir" -p "$here/sdk" app -o "$out.tmp"
    mv "$out.tmp" "$out"
    echo "python/build.sh: $out ($(stat -c %s "$out") bytes)"
done
