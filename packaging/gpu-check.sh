#!/usr/bin/env bash
# The one prepared check for a lent GPU (issue 16, deliverable 4), meant to finish within 8 minutes
# on an H200:
#   1. build core + kernels + zeropoint-cli and the Qt-free CPU-vs-CUDA parity check
#      (tests/kernels/cuda_parity) against the machine's PyTorch, no Qt, no HDF5, for sm_90;
#   2. parity: the NeUQI search (small and partial groups too), the two-stage solve, quantize /
#      dequantize, GPTQ, a block's forward, the model's logits, perplexity in float32 / bfloat16 /
#      float16, the pipeline on the demo model;
#   3. benchmarks: the NeUQI search on 4096x4096 2-bit channel-wise and g128 and on 11008x4096
#      (goal: 4096x4096 2-bit channel-wise under 50 ms); one LLaMA-2-7B-shaped block through GPTQ +
#      NeUQI with 128 x 2048 calibration tokens (goal: under 19 s, a 32-block 7B under 10 min); a
#      block's forward against the GEMM ceiling measured in the same run (goal: at least 50%);
#      device memory (the driver's figure after each step, and nvidia-smi's peak during it).
# Every step runs under `timeout`, inside an overall budget; a step that fails or runs out of time
# is recorded and the script goes on. Everything lands in OUT/gpu-check.json (rewritten after each
# step, so a killed run still leaves what it measured) and OUT/gpu-check.log, with OUT = $OUT (the
# device runner's folder) or ./gpu-check-out.
#
# Usage: packaging/gpu-check.sh [--cpu] [--build-dir DIR] [--no-build] [--out DIR] [--budget S]
#                                [--third-party DIR]
#        packaging/gpu-check.sh --prepare     (here, before a device call: see below)
#   --cpu         the same steps on the CPU at tiny sizes: a smoke test of the script, its steps and
#                 its JSON on a machine without a GPU (parity compares the CPU with itself).
#   --build-dir   build folder (default build-gpu-check); --no-build uses it as it is.
#   --budget      seconds for the whole run (default 470).
#   --third-party folder holding nlohmann/json.hpp and CLI/CLI.hpp where the system has none
#                 (default: .gpu-deps/include when it exists).
#   --prepare     copies this machine's nlohmann/json and CLI11 headers into .gpu-deps/include and
#                 ignores that folder in git, so that a device call can carry it (carry: .gpu-deps).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

mode=cuda
build_dir=build-gpu-check
do_build=1
budget=470
third_party=
out_dir=${OUT:-$root/gpu-check-out}
while [ $# -gt 0 ]; do
    case $1 in
    --cpu) mode=cpu ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --out) out_dir=$2; shift ;;
    --budget) budget=$2; shift ;;
    --third-party) third_party=$2; shift ;;
    --prepare)
        mkdir -p .gpu-deps/include || exit 1
        for d in nlohmann CLI; do
            [ -d /usr/include/$d ] || { echo "no /usr/include/$d here" >&2; exit 1; }
            rm -rf ".gpu-deps/include/$d" && cp -r "/usr/include/$d" .gpu-deps/include/ || exit 1
        done
        grep -qx '/.gpu-deps/' .git/info/exclude 2>/dev/null || echo '/.gpu-deps/' >>.git/info/exclude
        du -sh .gpu-deps
        exit 0
        ;;
    -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case $build_dir in /*) ;; *) build_dir=$root/$build_dir ;; esac
if [ -z "$third_party" ] && [ -d "$root/.gpu-deps/include" ]; then
    third_party=$root/.gpu-deps/include
fi

mkdir -p "$out_dir" || exit 2
work=$(mktemp -d /tmp/gpu-check.XXXXXX) || exit 2
mkdir -p "$work/steps"
log=$out_dir/gpu-check.log
json=$out_dir/gpu-check.json
: >"$log"
start=$(date +%s)
deadline=$((start + budget))
cli=$build_dir/app/zeropoint-cli
parity=$build_dir/tests/kernels/cuda_parity/zp_cuda_parity
have_smi=0
command -v nvidia-smi >/dev/null 2>&1 && have_smi=1

say() { echo "[gpu-check $(($(date +%s) - start))s] $*" | tee -a "$log"; }

# Sizes: the issue's on a GPU, tiny ones for the CPU smoke test.
if [ $mode = cuda ]; then
    dev=cuda
    bench_shapes=4096x4096,11008x4096
    bench_groups=-1,128
    bench_rows=0
    block_args=(--hidden 4096 --ffn 11008 --heads 32 --nsamples 128 --seqlen 2048 --batch 8)
    fwd_args=(--hidden 4096 --ffn 11008 --heads 32 --kv-heads 32 --seqlen 2048 --batch 4 --reps 5)
    parity_args=()
else
    dev=cpu
    bench_shapes=64x256
    bench_groups=-1,128
    bench_rows=0
    block_args=(--hidden 128 --ffn 256 --heads 4 --nsamples 4 --seqlen 64 --batch 2)
    fwd_args=(--hidden 128 --ffn 256 --heads 4 --kv-heads 4 --seqlen 64 --batch 2 --reps 2)
    parity_args=(--cpu)
fi

# Rewrites the JSON from what the steps have left in $work (called after every step).
assemble() {
    python3 - "$work" "$json" "$mode" "$start" <<'PY'
import json, os, sys, time
work, out, mode, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
steps = []
sd = os.path.join(work, "steps")
for name in sorted(os.listdir(sd)):
    d = os.path.join(sd, name)
    def read(f, default=""):
        try:
            with open(os.path.join(d, f), errors="replace") as fh:
                return fh.read()
        except OSError:
            return default
    meta = json.loads(read("meta.json", "{}") or "{}")
    rc = read("rc").strip()
    meta["rc"] = int(rc) if rc.lstrip("-").isdigit() else None
    if meta.get("status") is None:
        if meta["rc"] is None:
            meta["status"] = "running"
        elif meta["rc"] == 0:
            meta["status"] = "ok"
        elif meta["rc"] in (124, 137):
            meta["status"] = "timeout"
        elif meta["rc"] == 77:
            meta["status"] = "skipped"
        else:
            meta["status"] = "failed"
    t0, t1 = read("t0").strip(), read("t1").strip()
    if t0 and t1:
        meta["seconds"] = int(t1) - int(t0)
    mem = [int(x) for x in read("mem.txt").split() if x.strip().isdigit()]
    if mem:
        meta["nvidia_smi_peak_mib"] = max(mem)
    tail = read("log")[-3000:]
    meta["log_tail"] = tail
    result = read("result.json")
    if result.strip():
        try:
            meta["result"] = json.loads(result)
        except ValueError as e:
            meta["result_error"] = "result.json does not parse: %s" % e
    steps.append(meta)
env = {}
for f in ("env.json",):
    try:
        env = json.load(open(os.path.join(work, f)))
    except (OSError, ValueError):
        pass

def find(step, pred=lambda r: True):
    for s in steps:
        if s.get("name") == step and isinstance(s.get("result"), dict):
            return s["result"]
    return None

goals = {}
r = find("bench_search_4096") if mode == "cuda" else None
if r:
    for row in r.get("rows", []):
        if row.get("shape") == "4096x4096" and row.get("bits") == 2 and row.get("group") == -1:
            goals["neuqi_4096x4096_2bit_row_s"] = {"value": row.get("fast_layer_s"), "goal": 0.05,
                                                  "met": row.get("fast_layer_s", 1e9) < 0.05}
r = find("bench_block") if mode == "cuda" else None
if r:
    goals["pipeline_block_s"] = {"value": r.get("block_s"), "goal": 19.0,
                                 "met": r.get("block_s", 1e9) < 19.0}
r = find("bench_forward") if mode == "cuda" else None
if r:
    goals["forward_over_gemm"] = {"value": r.get("block_over_gemm"), "goal": 0.5,
                                  "met": r.get("block_over_gemm", 0) >= 0.5}
r = find("parity")
if r:
    goals["parity"] = {"passed": r.get("passed"), "failed": r.get("failed"),
                       "met": r.get("status") == "passed"}
if mode != "cuda":
    goals["note"] = "CPU smoke test at tiny sizes: the speed goals are not measured"
doc = {"script": "packaging/gpu-check.sh", "mode": mode, "elapsed_s": int(time.time()) - start,
       "environment": env, "goals": goals, "steps": steps}
tmp = out + ".tmp"
with open(tmp, "w") as fh:
    json.dump(doc, fh, indent=2)
    fh.write("\n")
os.replace(tmp, out)
PY
}

# step NAME LIMIT_S COMMAND...: runs COMMAND under timeout (at most LIMIT_S, at most what the
# budget leaves), its output in the step's log; a command that writes the step's result JSON gets
# its path as $RESULT (the literal string RESULT in its arguments is replaced by it).
step_index=0
step() {
    local name=$1 limit=$2
    shift 2
    step_index=$((step_index + 1))
    local d
    d=$work/steps/$(printf '%02d' $step_index)_$name
    mkdir -p "$d"
    local now left
    now=$(date +%s)
    left=$((deadline - now - 10))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 15 ]; then
        printf '{"name": "%s", "status": "skipped", "why": "budget spent"}\n' "$name" >"$d/meta.json"
        say "$name: skipped (budget spent)"
        assemble
        return 0
    fi
    local args=() a
    for a in "$@"; do args+=("${a//RESULT/$d/result.json}"); done
    python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "limit_s": int(sys.argv[2]), "command": sys.argv[3:]}))' \
        "$name" "$limit" "${args[@]}" >"$d/meta.json"
    say "$name: ${args[*]} (limit ${limit}s)"
    date +%s >"$d/t0"
    local smi_pid=
    if [ $have_smi = 1 ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$d/mem.txt" 2>/dev/null &
        smi_pid=$!
    fi
    timeout --kill-after=10 "$limit" "${args[@]}" >"$d/log" 2>&1
    echo $? >"$d/rc"
    date +%s >"$d/t1"
    [ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null && wait "$smi_pid" 2>/dev/null
    say "$name: rc $(cat "$d/rc") in $(($(cat "$d/t1") - $(cat "$d/t0")))s"
    sed 's/^/    /' "$d/log" | tail -n 40 >>"$log"
    assemble
}

# ---- environment ----------------------------------------------------------------------------
python3 - "$work/env.json" "$mode" <<'PY' 2>>"$log"
import json, platform, subprocess, sys
env = {"mode": sys.argv[2], "host": platform.node(), "cpus": __import__("os").cpu_count()}
try:
    import torch
    env["torch"] = torch.__version__
    env["torch_cuda"] = torch.version.cuda
    env["torch_cmake_prefix"] = torch.utils.cmake_prefix_path
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env["gpu"] = p.name
        env["gpu_memory_bytes"] = p.total_memory
        env["gpu_sms"] = p.multi_processor_count
except Exception as e:  # no torch here: recorded, the build step will say more
    env["torch_error"] = str(e)
for cmd in (["nvcc", "--version"], ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                      "--format=csv,noheader"]):
    try:
        env[cmd[0]] = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:
        env[cmd[0]] = "unavailable: %s" % e
json.dump(env, open(sys.argv[1], "w"), indent=2)
PY
say "mode $mode, budget ${budget}s, build $build_dir, out $out_dir"
assemble

# ---- 1. build -------------------------------------------------------------------------------
if [ $do_build = 1 ]; then
    torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
    cfg=(-S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DZP_BUILD_GUI=OFF -DZP_WITH_HDF5=OFF
        # Tests on, Qt off: only the Qt-free parity check is added (tests/CMakeLists is skipped).
        -DZP_BUILD_TESTS=ON -DCMAKE_DISABLE_FIND_PACKAGE_Qt6=ON -DCMAKE_CUDA_ARCHITECTURES=90)
    command -v ninja >/dev/null 2>&1 && cfg+=(-G Ninja)
    [ -n "$torch_prefix" ] && cfg+=("-DTorch_DIR=$torch_prefix/Torch")
    [ -n "$third_party" ] && cfg+=("-DZP_THIRD_PARTY_INCLUDE=$third_party")
    [ $mode = cpu ] && cfg+=(-DZP_WITH_CUDA=OFF)
    step configure 120 cmake "${cfg[@]}"
    step build 300 cmake --build "$build_dir" --target zeropoint-cli zp_cuda_parity -j "$(nproc)"
fi
if [ ! -x "$cli" ] || [ ! -x "$parity" ]; then
    say "no zeropoint-cli or zp_cuda_parity in $build_dir: the remaining steps will fail"
fi

# ---- 2. parity ------------------------------------------------------------------------------
step parity 150 "$parity" "${parity_args[@]}" --json RESULT

# ---- 3. benchmarks --------------------------------------------------------------------------
step bench_search_4096 90 "$cli" bench --device $dev --shapes "$bench_shapes" --bits 2 \
    --groups "$bench_groups" --rows $bench_rows --baseline-rows 16 --json RESULT
step bench_block 150 "$cli" bench-block --device $dev "${block_args[@]}" --method gptq-neuqi \
    --bits 2 --group 128 --json RESULT
step bench_forward 60 "$cli" bench-forward --device $dev "${fwd_args[@]}" --json RESULT
if [ $mode = cuda ]; then
    step bench_forward_fp32 45 "$cli" bench-forward --device $dev --dtype float32 \
        "${fwd_args[@]}" --json RESULT
fi

assemble
say "done in $(($(date +%s) - start))s: $json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["goals"], indent=1)); print("steps:", ", ".join("%s %s" % (s["name"], s["status"]) for s in d["steps"]))' "$json" | tee -a "$log"
rm -rf "$work"
exit 0
