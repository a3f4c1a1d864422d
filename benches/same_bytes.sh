#!/bin/bash
# Same seed, same bytes across two builds: run the same training commands with each binary and compare the
# sha256 of every model.safetensors. Use it before and after a change that must not change arithmetic.
#   benches/same_bytes.sh OLD_BINARY NEW_BINARY [WORKDIR]
set -eu
old=${1:?usage: benches/same_bytes.sh OLD_BINARY NEW_BINARY [WORKDIR]}; new=${2:?}; work=${3:-$(mktemp -d)}
export SKELCAM_QUIET=1
run() { # BIN DIR
    local bin=$1 out=$2
    rm -rf "$out"; mkdir -p "$out"
    "$bin" skeleton train --format synthetic --seed 1 --out "$out/synth" 2>"$out/synth.log"
    "$bin" ragcn train --baseline "$out/synth" --streams 3 --epochs 5 --out "$out/ragcn" 2>"$out/ragcn.log"
    "$bin" ragcn train --baseline "$out/synth" --streams 2 --mode official --loss v2 --epochs 3 \
        --out "$out/ragcn_off" 2>"$out/ragcn_off.log"
    "$bin" demo --images-only --out "$out/plots" --image-run "$out/demo_image" --run "$out/demo" \
        >"$out/demo.out" 2>"$out/demo.log"
    (cd "$out" && sha256sum synth/model.safetensors ragcn/model.safetensors ragcn_off/model.safetensors \
        demo_image/model.safetensors)
}
run "$old" "$work/old" >"$work/old.sha"
run "$new" "$work/new" >"$work/new.sha"
cat "$work/new.sha"
if diff "$work/old.sha" "$work/new.sha"; then echo "identical"; else echo "DIFFERENT"; exit 1; fi
