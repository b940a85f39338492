#!/usr/bin/env bash
# Runs the live exec source's kernel tests (the `source::bpf` unit tests of
# the sigbox library: load, verify, attach, and check real exec events
# against /proc and stat) on another kernel, in a QEMU virtual machine.
#
# Usage: tests/kernels/run-in-vm.sh KERNEL.deb|VMLINUZ [TEST-FILTER]
#   KERNEL.deb  a Debian linux-image package (its vmlinuz is used), e.g.
#               apt-get download linux-image-6.1.0-50-cloud-amd64-unsigned
#   TEST-FILTER the tests to run (default: source::bpf)
#   SIGBOX_VM_TEST_ARGS more arguments for the test binary (e.g. `--skip burst`)
#   SIGBOX_VM_MODULE a module of the KERNEL.deb, under lib/modules/*/kernel/
#               (default net/ipv4/tcp_illinois.ko, a TCP congestion control with a
#               version and srcversion, when the package has it): put
#               uncompressed in the VM as /modules/NAME.ko, and named to the
#               tests by SIGBOX_TEST_MODULE (the module_load test loads it)
#   SIGBOX_VM_SCRIPT a shell script to run in the VM instead of the tests
#               (its exit status is reported; SIGBOX_TEST_MODULE is set)
#   SIGBOX_VM_TIMEOUT seconds before the VM is stopped (default 900)
#   SIGBOX_VM_FILES more files for the VM, `HOST-PATH:VM-PATH` separated
#               by spaces (their libraries come along), e.g. the daemon and
#               a signature for tests/kernels/trc-1017-live.sh
#
# Needs qemu-system-x86 and the test
# binary built (`cargo test --release -p sigbox --lib --no-run`). The VM has
# no disk: an initramfs holds the test binary, the programs the tests run
# (true, sh, mount) and their libraries. Prints the tests' output and exits
# with their status. Not part of `make test` (it downloads kernels); see
# bpf/README.md, "Kernels", for the kernels tested and the results.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kernel="${1:?usage: run-in-vm.sh KERNEL.deb|VMLINUZ [TEST-FILTER]}"
filter="${2:-source::bpf}"

die() {
    echo "run-in-vm.sh: error: $*" >&2
    exit 1
}
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || die "cpio missing (apt-get install cpio)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The kernel image.
case "$kernel" in
*.deb)
    dpkg-deb -x "$kernel" "$work/kernel"
    vmlinuz="$(find "$work/kernel/boot" -name 'vmlinuz-*' | head -1)"
    [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $kernel"
    module="$(find "$work/kernel" -path "*/lib/modules/*/kernel/${SIGBOX_VM_MODULE:-net/ipv4/tcp_illinois.ko}*" | head -1)"
    [ -n "$module" ] || [ -z "${SIGBOX_VM_MODULE:-}" ] || die "no module $SIGBOX_VM_MODULE in $kernel"
    ;;
*) vmlinuz="$kernel" ;;
esac

# The test binary: the newest sigbox library test build.
test_binary="$(cd "$repo" && cargo test --release -p sigbox --lib --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
[ -x "$test_binary" ] || die "no sigbox library test binary; run cargo test --release -p sigbox --lib --no-run"

# The root file system: merged /usr like the host, the programs and their libraries.
root="$work/root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run}
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
objcopy --strip-debug "$test_binary" "$root/sigbox-tests"
programs=(/usr/bin/true /usr/bin/dash /usr/bin/mount /usr/bin/cat /usr/sbin/ip /usr/bin/grep /usr/bin/sleep)
for program in "${programs[@]}"; do
    cp "$program" "$root$program"
done
extra=()
for pair in ${SIGBOX_VM_FILES:-}; do
    mkdir -p "$root$(dirname "${pair#*:}")"
    # Programs without their debug information (the initramfs stays small).
    objcopy --strip-debug "${pair%%:*}" "$root${pair#*:}" 2>/dev/null || cp "${pair%%:*}" "$root${pair#*:}"
    extra+=("$root${pair#*:}")
done
run="/sigbox-tests --test-threads=1 --show-output '$filter' ${SIGBOX_VM_TEST_ARGS:-}"
if [ -n "${SIGBOX_VM_SCRIPT:-}" ]; then
    cp "$SIGBOX_VM_SCRIPT" "$root/script"
    run="/bin/sh /script"
fi
ln -s dash "$root/usr/bin/sh"
# The module to load, uncompressed (the test loads it with finit_module
# without MODULE_INIT_COMPRESSED_FILE).
module_env=""
if [ -n "${module:-}" ]; then
    mkdir -p "$root/modules"
    name="$(basename "$module")"
    case "$module" in
    *.ko.xz) xz -dc "$module" >"$root/modules/${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$module" >"$root/modules/${name%.zst}" ;;
    *.ko.gz) gzip -dc "$module" >"$root/modules/${name%.gz}" ;;
    *) cp "$module" "$root/modules/$name" ;;
    esac
    module_env="SIGBOX_TEST_MODULE=/modules/$(basename "$root"/modules/*.ko)"
fi
for file in "$root/sigbox-tests" "${programs[@]}" "${extra[@]}"; do
    ldd "$file" 2>/dev/null | grep -o '/[^ ]*' || true
done | sort -u | while read -r library; do
    resolved="$(readlink -f "$library")"
    mkdir -p "$root$(dirname "$library")"
    cp "$resolved" "$root$library"
done

cat >"$root/init" <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# Loopback, for the network events' test (a connect to 127.0.0.1).
/usr/sbin/ip link set lo up
echo "run-in-vm: kernel \$(cat /proc/sys/kernel/osrelease)"
cd /tmp
$module_env $run
echo "run-in-vm: exit status \$?"
echo o >/proc/sysrq-trigger
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio --quiet -o -H newc | gzip -1) >"$work/initrd.gz"

# Software emulation by default: nested KVM on this machine hangs before the
# kernel prints anything. SIGBOX_VM_ACCEL=kvm to try it elsewhere.
timeout "${SIGBOX_VM_TIMEOUT:-900}" qemu-system-x86_64 -accel "${SIGBOX_VM_ACCEL:-tcg}" -cpu max -m 2048 -smp 2 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 rdinit=/init panic=-1" | tee "$work/console.log"
status="$(sed -n 's/^run-in-vm: exit status \([0-9]*\).*/\1/p' "$work/console.log" | tail -1)"
[ -n "$status" ] || die "the VM did not report the tests' exit status"
exit "$status"
