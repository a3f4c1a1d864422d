#!/bin/bash
# Fuzz every reader of skelcam for SECONDS each (default 600) with cargo-fuzz (nightly):
#   cargo install cargo-fuzz; fuzz/run.sh 600
# Corpora start from fuzz/seeds/ and the test fixtures and grow in fuzz/corpus/ (not committed). A crash, a
# timeout (10 s per input) or an input that makes the process exceed 2 GiB of memory (a size field trusted
# before it was checked) stops that target; its input is kept in fuzz/artifacts/TARGET/ and belongs in a
# regression test (tests/it/hostile.rs or tests/it/mutations.rs). A summary line per target: executions,
# corpus size, result.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
targets=${TARGETS:-"ntu msr csv_sequence labels_csv layout_json config_json run_dir image stgcn_npy pickle pyskl ctrgcn_npz kinetics"}
fixtures=../tests/fixtures/stgcn

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  case $t in
    layout_json) cp ../data/layouts/*.json "$dir/" ;;
    stgcn_npy) cp $fixtures/train_data.npy $fixtures/val_data.npy "$dir/" ;;
    pickle) cp $fixtures/*.pkl "$dir/" ;;
    pyskl) cp $fixtures/pyskl_ntu.pkl "$dir/" ;;
    ctrgcn_npz) cp $fixtures/ctrgcn.npz "$dir/" ;;
    kinetics) cp $fixtures/kinetics/kinetics_train/*.json "$dir/" ;;
    run_dir) printf '\000' | cat - seeds/run/config.json > "$dir/config"
             printf '\001' | cat - seeds/run/model.safetensors > "$dir/model" ;;
    *) cp seeds/$t/* "$dir/" ;;
  esac
}

cargo +nightly fuzz build --release >/dev/null || exit 1
status=0
for t in $targets; do
  seed "$t"
  log=$(mktemp)
  cargo +nightly fuzz run --release "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(ls "corpus/$t" | wc -l)
  if [ $rc -eq 0 ]; then result="0 crashes"; else
    result="FAILED (rc $rc): see fuzz/artifacts/$t/ (libFuzzer's whole output in fuzz.log there)"; status=1
    mkdir -p "artifacts/$t" && cp "$log" "artifacts/$t/fuzz.log"; grep -m1 -A12 'ERROR: libFuzzer' "$log"
  fi
  printf '%-14s %8s s  %12s executions  %6s corpus files  %s\n' "$t" "$secs" "${execs:-?}" "$corpus" "$result"
  rm -f "$log"
done
exit $status
