#!/usr/bin/env bash
# Builds the PROTOTYPE batch guest to target/bench-proto/proto-batch.wasm with
# the same toolchain route as guest-signatures/build.sh (Debian's Rust with
# -Zbuild-std, or rustup's wasm32-wasip2 target when installed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
export CARGO_TARGET_DIR="$repo/target/bench-proto"
cd "$here"
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    cargo build --release --target wasm32-wasip2
else
    linker="${WASM_COMPONENT_LD:-$(command -v wasm-component-ld || echo "$HOME/.cargo/bin/wasm-component-ld")}"
    wasm_ld="${WASM_LD:-$(command -v wasm-ld || true)}"
    if [ -z "$wasm_ld" ]; then
        for c in /usr/lib/llvm-*/bin/wasm-ld "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/wasm-ld"; do
            [ -x "$c" ] && wasm_ld="$c" && break
        done
    fi
    flags=(-L /usr/lib/wasm32-wasi -C "linker=$linker" -C "link-arg=--wasm-ld-path=$wasm_ld")
    encoded="$(printf '%s\x1f' "${flags[@]}")"
    env -u RUSTFLAGS RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
        CARGO_ENCODED_RUSTFLAGS="${encoded%$'\x1f'}" \
        /usr/bin/cargo build --release -Zbuild-std=std,panic_abort --target wasm32-wasip2
fi
cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/sigbox_proto_batch.wasm" "$CARGO_TARGET_DIR/proto-batch.wasm"
echo "$CARGO_TARGET_DIR/proto-batch.wasm"
