#!/bin/bash
# Runs benches/torch_reference.py with both sides pinned to the same two CPUs on distinct physical cores (the
# 2-core setting skelcam is measured in, on a bigger machine): all cases, then T300 once, then the short
# cases again in reverse order, so drift shows as the gap between the two passes.
#   benches/pinned.sh OUTDIR        (needs python3 with torch, and target/release/skelcam built)
set -u
out=${1:?usage: benches/pinned.sh OUTDIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
cpus=$(python3 - <<'EOF'
import glob, re
seen, pick = set(), []
cpus = sorted(int(re.search(r'cpu(\d+)/topology', p).group(1))
              for p in glob.glob('/sys/devices/system/cpu/cpu*/topology/core_id'))
for c in cpus[2:]:  # leave CPUs 0 and 1 to the system
    b = '/sys/devices/system/cpu/cpu%d/topology/' % c
    key = (open(b + 'physical_package_id').read().strip(), open(b + 'core_id').read().strip())
    if key not in seen:
        seen.add(key)
        pick.append(c)
print(','.join(map(str, pick[:2])) if len(pick) >= 2 else '0,1')
EOF
)
echo "pinned to CPUs $cpus" >&2
export PYTHONUNBUFFERED=1
run() {
    taskset -c "$cpus" python3 benches/torch_reference.py "$@" >>"$out/ratios.jsonl" 2>>"$out/stderr.log" ||
        echo "driver exit $?" >>"$out/stderr.log"
}
short=stgcn_train,stgcn_infer_cam,resnet18_train_112,resnet18_train_224,resnet18_infer_cam_224
run --iters 5 --cases $short
run --iters 2 --cases stgcn_train_T300_M2
run --iters 5 --cases "$(echo $short | tr ',' '\n' | tac | paste -sd,)"
cat "$out/stderr.log" "$out/ratios.jsonl"
