#!/usr/bin/env bash
# Builds every signature crate of this workspace to a wasm32-wasip2 component
# (release) and copies each to <repo>/target/signatures/<crate-name>.wasm, the
# default set `make run` loads, or, for crates under test-signatures/, to
# <repo>/target/signatures-test/<crate-name>.wasm (test-only modules).
#
# Signature crates are the workspace members whose Cargo.toml declares a
# `cdylib`; the sdk (an rlib) is built as their dependency but not copied. A new
# signature crate is picked up as soon as it is listed in `members`.
#
# Versioned builds: a crate whose Cargo.toml has, on one line,
#   [package.metadata.sigbox]
#   versions = ["1", "2"]
# is also built once per version V with SIGBOX_SIGNATURE_VERSION=V (which the
# crate reads with option_env!) and copied to
# <repo>/target/signatures-test/<crate-name>-v<V>.wasm. Every version builds in
# the release profile: the crate is recompiled (about a second) for each
# version on every run, which is far cheaper than a profile per version (each
# would rebuild std from source on the Debian route: minutes in CI). The
# normal build never sees the variable.
#
# Toolchain: if rustup has the wasm32-wasip2 target, plain `cargo` is used.
# Otherwise Debian's Rust builds std from source (the Makefile's `deps` target
# installs all of this):
#   apt-get install -y rustc-web cargo-web rust-web-src wasi-libc
#   cargo install --locked wasm-component-ld
#   apt-get install -y lld-22   # wasm-ld; or rustup's bundled one is used
#
# Usage: guest-signatures/build.sh [extra cargo build args...]
#        (the extra arguments go to every cargo build, versioned ones included)
# Environment: WASM_COMPONENT_LD, WASM_LD (the linkers, for the Debian route),
#              SIGBOX_GUEST_TOOLCHAIN=rustup|debian (force a route).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target_triple=wasm32-wasip2
out_dir="$repo/target/signatures"        # the default set
test_out_dir="$repo/target/signatures-test" # crates under test-signatures/, versioned builds
export CARGO_TARGET_DIR="$here/target"

die() {
    echo "build.sh: error: $*" >&2
    exit 1
}

# --- Which crates are signatures -------------------------------------------
# The workspace members (from `cargo metadata --no-deps`, which lists exactly
# them, honouring globs in `members`) whose manifest has a `crate-type` line
# with "cdylib". Their package names come from the manifests' [package] section.
metadata_cargo="$(command -v cargo || true)"
[ -n "$metadata_cargo" ] || metadata_cargo=/usr/bin/cargo
[ -x "$metadata_cargo" ] || die "no cargo found (neither on PATH nor /usr/bin/cargo)"
metadata="$("$metadata_cargo" metadata --no-deps --offline --format-version 1 \
    --manifest-path "$here/Cargo.toml")" || die "cargo metadata failed for $here/Cargo.toml"
mapfile -t manifests < <(
    grep -o '"manifest_path":"[^"]*"' <<<"$metadata" | sed 's/^"manifest_path":"//; s/"$//' | sort
)
signatures=()               # package names
declare -A destination=()   # package name -> directory its module is copied to
declare -A version_packages=() # version -> space-separated package names
versions=()                 # the distinct versions, in order of appearance
for manifest in "${manifests[@]}"; do
    grep -Eq '^[[:space:]]*crate-type[[:space:]]*=.*"cdylib"' "$manifest" || continue
    name="$(sed -n '/^\[package\]/,/^\[/s/^[[:space:]]*name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest")"
    [ -n "$name" ] || die "no [package] name in $manifest"
    signatures+=("$name")
    case "$manifest" in
    "$here"/test-signatures/*) destination[$name]="$test_out_dir" ;;
    *) destination[$name]="$out_dir" ;;
    esac

    # `versions = [...]` in [package.metadata.sigbox], on one line.
    versions_line="$(sed -n '/^\[package\.metadata\.sigbox\]/,/^\[/{/^[[:space:]]*versions[[:space:]]*=/p}' "$manifest")"
    [ -n "$versions_line" ] || continue
    [[ "$versions_line" =~ ^[[:space:]]*versions[[:space:]]*=[[:space:]]*\[([^]]*)\][[:space:]]*(#.*)?$ ]] ||
        die "$manifest: [package.metadata.sigbox] versions must be a list of strings on one line, not: $versions_line"
    mapfile -t declared < <(grep -o '"[^"]*"' <<<"${BASH_REMATCH[1]}" | sed 's/^"//; s/"$//')
    [ "${#declared[@]}" -gt 0 ] || die "$manifest: [package.metadata.sigbox] versions is empty"
    for version in "${declared[@]}"; do
        [[ "$version" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
            die "$manifest: version '$version' must be letters, digits, '.', '_' or '-' (it names a file)"
        [ -n "${version_packages[$version]+set}" ] || versions+=("$version")
        case " ${version_packages[$version]:-} " in
        *" $name "*) die "$manifest: version '$version' listed twice" ;;
        esac
        version_packages[$version]="${version_packages[$version]:-} $name"
    done
done
[ "${#signatures[@]}" -gt 0 ] || die "no signature (cdylib) crates among the members of $here/Cargo.toml"

# --- Which toolchain ---------------------------------------------------------
route="${SIGBOX_GUEST_TOOLCHAIN:-}"
if [ -z "$route" ]; then
    if command -v rustup >/dev/null &&
        rustup target list --installed 2>/dev/null | grep -qx "$target_triple"; then
        route=rustup
    else
        route=debian
    fi
fi

cd "$here"
case "$route" in
rustup)
    command -v rustup >/dev/null && command -v cargo >/dev/null ||
        die "SIGBOX_GUEST_TOOLCHAIN=rustup, but rustup or its cargo is not on PATH"
    rustup target list --installed | grep -qx "$target_triple" ||
        die "rustup has no $target_triple target (rustup target add $target_triple)"
    echo "build.sh: rustup's $target_triple target; building: ${signatures[*]}" >&2
    cargo_env=()
    cargo_build=(cargo build)
    ;;
debian)
    missing=()
    llvm_major=NN
    if [ -x /usr/bin/rustc ]; then
        sysroot="$(/usr/bin/rustc --print sysroot)"
        [ -d "$sysroot/lib/rustlib/src/rust/library/std" ] ||
            missing+=("Rust's std sources in $sysroot/lib/rustlib/src (apt-get install rust-web-src)")
        llvm_major="$(/usr/bin/rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
    else
        missing+=("/usr/bin/rustc (apt-get install rustc-web)")
    fi
    [ -x /usr/bin/cargo ] || missing+=("/usr/bin/cargo (apt-get install cargo-web)")
    [ -d /usr/lib/wasm32-wasi ] || missing+=("/usr/lib/wasm32-wasi (apt-get install wasi-libc)")

    # The wasip2 linker: $WASM_COMPONENT_LD, else on PATH, else ~/.cargo/bin.
    linker="${WASM_COMPONENT_LD:-$(command -v wasm-component-ld || true)}"
    [ -n "$linker" ] || linker="$HOME/.cargo/bin/wasm-component-ld"
    [ -x "$linker" ] ||
        missing+=("wasm-component-ld at $linker (cargo install --locked wasm-component-ld)")

    # wasm-component-ld runs `wasm-ld`, which Debian's Rust does not ship:
    # $WASM_LD, else wasm-ld on PATH, else the lld of the LLVM Debian's rustc
    # was built with (apt-get install lld-NN), else the one rustup bundles.
    wasm_ld="${WASM_LD:-$(command -v wasm-ld || true)}"
    if [ -z "$wasm_ld" ]; then
        for candidate in "/usr/lib/llvm-$llvm_major/bin/wasm-ld" "/usr/bin/wasm-ld-$llvm_major"; do
            if [ -x "$candidate" ]; then
                wasm_ld="$candidate"
                break
            fi
        done
    fi
    if [ -z "$wasm_ld" ] && command -v rustup >/dev/null; then
        if rustup_rustc="$(rustup which rustc 2>/dev/null)"; then
            rustup_host="$("$rustup_rustc" -vV | sed -n 's/^host: //p')"
            candidate="$("$rustup_rustc" --print sysroot)/lib/rustlib/$rustup_host/bin/gcc-ld/wasm-ld"
            [ -x "$candidate" ] && wasm_ld="$candidate"
        fi
    fi
    if [ -z "$wasm_ld" ]; then
        missing+=("wasm-ld (apt-get install lld-$llvm_major, or set WASM_LD; none on PATH, in /usr/lib/llvm-$llvm_major/bin or in rustup's toolchain)")
    elif [ ! -x "$wasm_ld" ]; then
        missing+=("wasm-ld: $wasm_ld is not an executable")
    fi

    if [ "${#missing[@]}" -gt 0 ]; then
        echo "build.sh: error: rustup has no $target_triple target, and the Debian toolchain for it is incomplete; missing:" >&2
        printf '  - %s\n' "${missing[@]}" >&2
        exit 1
    fi
    echo "build.sh: Debian's Rust with -Zbuild-std (linkers $linker, $wasm_ld); building: ${signatures[*]}" >&2
    # CARGO_ENCODED_RUSTFLAGS (0x1f-separated) keeps paths with spaces intact.
    flags=(-L /usr/lib/wasm32-wasi -C "linker=$linker" -C "link-arg=--wasm-ld-path=$wasm_ld")
    read -r -a user_flags <<<"${RUSTFLAGS:-}"
    flags+=("${user_flags[@]}")
    encoded="$(printf '%s\x1f' "${flags[@]}")"
    cargo_env=(-u RUSTFLAGS RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
        CARGO_ENCODED_RUSTFLAGS="${encoded%$'\x1f'}")
    cargo_build=(/usr/bin/cargo build -Zbuild-std=std,panic_abort)
    ;;
*)
    die "SIGBOX_GUEST_TOOLCHAIN must be rustup or debian, not '$route'"
    ;;
esac

# copy BUILT DEST: copies a built module, naming it. An unchanged DEST is left
# alone, and a changed one is replaced by a rename, so that a daemon watching
# the directory never sees a half-written module.
copy() {
    [ -f "$1" ] || die "cargo reported success but $1 is missing"
    mkdir -p "$(dirname "$2")"
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.tmp.$$"
        mv -f "$2.tmp.$$" "$2"
    fi
    echo "build.sh: $2 ($(stat -c %s "$2") bytes)" >&2
}

# --- The normal build --------------------------------------------------------
# Without SIGBOX_SIGNATURE_VERSION, so versioned crates get their default.
package_args=()
for name in "${signatures[@]}"; do
    package_args+=(--package "$name")
done
env -u SIGBOX_SIGNATURE_VERSION "${cargo_env[@]}" "${cargo_build[@]}" \
    --release --target "$target_triple" "${package_args[@]}" "$@"

# --- Collect the components -----------------------------------------------------
for name in "${signatures[@]}"; do
    # A test-only module left in the default set by an older build.sh goes.
    if [ "${destination[$name]}" != "$out_dir" ] && [ -e "$out_dir/$name.wasm" ]; then
        rm -f "$out_dir/$name.wasm"
        echo "build.sh: removed $out_dir/$name.wasm (test-only; now in $test_out_dir)" >&2
    fi
    # cargo names a cdylib after the crate with dashes turned into underscores.
    copy "$CARGO_TARGET_DIR/$target_triple/release/${name//-/_}.wasm" \
        "${destination[$name]}/$name.wasm"
done

# --- Versioned builds --------------------------------------------------------
# One cargo build per version, of the packages declaring it, copied before the
# next version's build overwrites the artifact.
for version in "${versions[@]}"; do
    read -r -a names <<<"${version_packages[$version]}"
    package_args=()
    for name in "${names[@]}"; do
        package_args+=(--package "$name")
    done
    echo "build.sh: version $version (SIGBOX_SIGNATURE_VERSION=$version): ${names[*]}" >&2
    env "${cargo_env[@]}" SIGBOX_SIGNATURE_VERSION="$version" "${cargo_build[@]}" \
        --release --target "$target_triple" "${package_args[@]}" "$@"
    for name in "${names[@]}"; do
        copy "$CARGO_TARGET_DIR/$target_triple/release/${name//-/_}.wasm" \
            "$test_out_dir/$name-v$version.wasm"
    done
done

# Python signatures (componentize-py), test-only for now.
bash "$here/python/build.sh"
