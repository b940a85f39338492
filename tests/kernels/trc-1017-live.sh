#!/bin/sh
# TRC-1017 live, in a QEMU kernel with modules: the real daemon with the
# real TRC-1017 component, then `insmod` of a module; passes when the
# daemon prints TRC-1017's finding for it. Runs inside the VM of
# run-in-vm.sh (which sets SIGBOX_TEST_MODULE), from the repository root:
#
#   make all
#   SIGBOX_VM_SCRIPT=tests/kernels/trc-1017-live.sh \
#   SIGBOX_VM_FILES="target/release/sigbox:/usr/bin/sigbox \
#     target/signatures/trc-1017.wasm:/signatures/trc-1017.wasm /usr/bin/kmod:/usr/sbin/insmod" \
#     tests/kernels/run-in-vm.sh linux-image-6.1.0-50-cloud-amd64-unsigned_*.deb
#
# Deadlines are generous: under TCG the daemon compiles the component
# slowly.
set -u
[ -n "${SIGBOX_TEST_MODULE:-}" ] || { echo "trc-1017-live: SIGBOX_TEST_MODULE unset"; exit 2; }

/usr/bin/sigbox run --signatures /signatures --allow-unsigned \
    --status-file /tmp/status.json >/tmp/findings.json 2>/tmp/daemon.log &
daemon=$!

# Waits up to $2 seconds for the pattern $1 in file $3.
wait_for() {
    waited=0
    while ! grep -q "$1" "$3"; do
        if [ "$waited" -ge "$2" ] || ! kill -0 "$daemon" 2>/dev/null; then
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

status=1
if ! wait_for "watching exec events" 600 /tmp/daemon.log; then
    echo "trc-1017-live: the daemon did not start"
elif ! wait_for "module_load_attached=true" 600 /tmp/daemon.log; then
    echo "trc-1017-live: module_load's program was not attached"
else
    echo "trc-1017-live: daemon ready after ${waited}s; insmod $SIGBOX_TEST_MODULE"
    insmod "$SIGBOX_TEST_MODULE" || echo "trc-1017-live: insmod failed"
    if wait_for '"TRC-1017"' 300 /tmp/findings.json; then
        echo "trc-1017-live: finding:"
        grep '"TRC-1017"' /tmp/findings.json
        status=0
    else
        echo "trc-1017-live: no TRC-1017 finding"
    fi
fi
kill -TERM "$daemon" 2>/dev/null
wait "$daemon"
echo "trc-1017-live: daemon log:"
cat /tmp/daemon.log
exit "$status"
