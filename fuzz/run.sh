#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (`make fuzz`: 600; `make fuzz-ci`:
# 30), after replaying the committed regression inputs, and prints
# executions and coverage per target. Exit status 1 on a crash: its input is
# in fuzz/artifacts/TARGET/ (add it to fuzz/regressions/TARGET/ with the
# fix). `make test` replays every saved input without this instrumented
# build (host/src/fuzz_replay.rs). cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 gives
# them on this stable toolchain.
#   fuzz/run.sh SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tracee_json ring_record config_file trust_policy guest_output finding_writer)
export RUSTC_BOOTSTRAP=1
CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# Replay's seeds: every line of the Tracee fixtures, one input each.
mkdir -p corpus/tracee_json
n=0
for fixture in ../tests/fixtures/*.jsonl; do
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" > "corpus/tracee_json/fixture-$n"
  done < "$fixture"
done
# Sanitizer off: the code is Rust, and the few unsafe reads are
# bounds-checked by the decoder before they happen; coverage guidance stays.
flags=(-s none --release)
cargo fuzz build "${flags[@]}"
status=0
printf '%-16s %12s %10s %10s %s\n' target executions exec/s coverage result
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "regressions/$target"
  if [ -n "$(ls -A "regressions/$target")" ]; then
    cargo fuzz run "${flags[@]}" "$target" "regressions/$target" -- -runs=0 >/dev/null 2>&1 ||
      { echo "$target: a committed regression input fails again"; status=1; }
  fi
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log="artifacts/$target.log"
  mkdir -p artifacts
  if cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and artifacts/$target/)"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %10s %10s %s\n' "$target" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$result"
done
exit $status
