#!/usr/bin/env python3
"""llama.cpp on AMX CPUs: the regression test for the crash of issue "llama.cpp crash on AMX CPUs".

With GGML_NATIVE=ON, llama.cpp compiles its AMX path (ggml-cpu/amx) on CPUs that have AMX, and
loads Q4_0 / Q4_1 / Q8_0 weights into the AMX buffer type by default (use_extra_bufts). On such a
CPU, `Llama(model_path=stories260K-q4.gguf)` then `eval([1, 100, 200, 300])` segfaulted in
llama_decode: the Q4_1 matrices of stories260K have rows of 64 columns. packaging/setup.sh
therefore builds llama.cpp feature by feature without AMX.

--mode build: on every machine, the llama.cpp that the tests use reports no AMX_INT8 in its system
  info (a build with -march=native on an AMX CPU would).
--mode amx: where the CPU has AMX (amx_tile + amx_int8 in /proc/cpuinfo), the exact crash case in
  a child process, with llama.cpp's default model parameters (extra buffer types on): it must exit
  normally, and its logits must be finite and within 0.4 of ZeroPoint's for the same ids. Skips,
  saying why, on a CPU without AMX, where the crash cannot occur.

Exit 0: pass; 1: failure (printed); 77: skipped.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_common import cpu_flags, import_llama_cpp, run, skip  # noqa: E402

IDS = [1, 100, 200, 300]

# In a child process, so that a segfault is reported as a failure with its signal. Evaluates each
# id sequence of argv[2] (a JSON list of lists) after a reset and prints their logits as JSON.
CHILD = r"""
import json, sys
import numpy as np
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], logits_all=True, verbose=False)  # llama.cpp's defaults
out = []
for ids in json.loads(sys.argv[2]):
    llm.reset()
    llm.eval(ids)
    out.append(np.array(llm.scores[:len(ids)], dtype=np.float64).tolist())
print(json.dumps(out))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["build", "amx"], required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    a = p.parse_args()
    flags = cpu_flags()
    has_amx = {"amx_tile", "amx_int8"} <= flags
    if a.mode == "amx" and not has_amx:
        skip("this CPU has no AMX (amx_tile/amx_int8 absent from /proc/cpuinfo): the crash case "
             "needs ggml's AMX path, which only runs on AMX CPUs")
    import_llama_cpp(a.venv)
    import llama_cpp
    import numpy as np

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    print(f"llama.cpp {llama_cpp.__version__} system info: {info.strip()}")
    print(f"CPU: {'AMX' if has_amx else 'no AMX'}; "
          f"{'AVX-512' if 'avx512f' in flags else 'no AVX-512'}")
    if a.mode == "build":
        if "AMX_INT8 = 1" in info:
            print("FAIL: the llama.cpp the tests use was built with its AMX path (AMX_INT8 = 1); "
                  "packaging/setup.sh builds it without (llamacpp_cpu_args)")
            sys.exit(1)
        print("llama.cpp built without AMX: OK")
        return

    model = os.path.join(a.assets, "models", "stories260K.bin")
    tok = os.path.join(a.assets, "tokenizers", "tok512.bin")
    for f in (model, tok):
        if not os.path.exists(f):
            skip(f"asset {f} not found (../shared/assets)")
    os.makedirs(a.work, exist_ok=True)
    s = os.path.join(a.work, "q4.h5")
    gguf = os.path.join(a.work, "stories260K-q4.gguf")
    # The file of the report: RTN NeUQI, 4-bit, channel-wise: Q4_1 matrices with rows of 64.
    run([a.cli, "quantize", "--model", model, "--tokenizer", tok, "--method", "rtn-neuqi",
         "--bits", "4", "--group", "-1", "--out", s])
    run([a.cli, "export", "--session", s, "--model", model, "--tokenizer", tok, "--format", "gguf",
         "--out", gguf])
    # ZeroPoint's greedy ids and logits on the weights the GGUF file holds, to compare with.
    logits_file = os.path.join(a.work, "zp.logits")
    r = run([a.cli, "generate", "--model", model, "--tokenizer", tok, "--session", s, "--weights",
             "gguf", "--steps", "8", "--print-ids", "--logits", logits_file])
    zp_ids = [int(x) for x in re.search(r"^ids:(.*)$", r.stderr, re.M).group(1).split()]
    lz = np.fromfile(logits_file, dtype=np.float32).reshape(len(zp_ids), -1).astype(np.float64)
    r = subprocess.run([sys.executable, "-c", CHILD, gguf, json.dumps([IDS, zp_ids])],
                       capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        sig = f" (signal {-r.returncode})" if r.returncode < 0 else ""
        print(f"FAIL: llama.cpp eval on {gguf} exited {r.returncode}{sig}:\n{r.stderr[-2000:]}")
        sys.exit(1)
    exact, ll = (np.array(x) for x in json.loads(r.stdout.strip().splitlines()[-1]))
    diff = float(np.abs(ll - lz).max())
    if not np.isfinite(exact).all() or not np.isfinite(ll).all() or not diff <= 0.4:
        print(f"FAIL: llama.cpp's logits on the AMX CPU: finite {bool(np.isfinite(exact).all())}"
              f"/{bool(np.isfinite(ll).all())}, max |diff| to ZeroPoint's along its greedy ids "
              f"{diff:.3g} (> 0.4)")
        sys.exit(1)
    n = len(zp_ids)
    print(f"the crash case runs on this AMX CPU: {n} positions, logits max |diff| {diff:.3g}")


if __name__ == "__main__":
    main()
