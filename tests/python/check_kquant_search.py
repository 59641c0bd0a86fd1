#!/usr/bin/env python3
"""The constrained block-type search (core/quant/kquant_search.h) against llama.cpp's own choice.

"On real SmolLM2 tensors with the same importance, the constrained search's weighted loss is never
above llama.cpp's own choice for the same tensor, and lower on average."

1. The weights: an F32 copy of the SmolLM2 GGUF made by llama.cpp's `llama-quantize ... F32` (the
   dequantized Q4_1 weights: exactly what llama-quantize reads in step 3).
2. The importance h per input column of each tensor: the damped Hessian diagonal of a session
   (`zeropoint-cli quantize --method rtn-minmax --calib c4_demo.jsonl --nsamples 8 --seqlen 256`,
   exported with `export --format imatrix`: in_sum2 / counts, the mean squared activation of the
   column) -- or, with --importance synthetic or without --cli, a fixed log-normal h.
   It is written as a GGUF imatrix holding those tensors only (in_sum2 = h, counts = 1), so that
   llama-quantize's qw is exactly the float32 h the search gets.
3. For each type, `llama-quantize --imatrix IM --tensor-type 'blk\\.(0|10|20)\\.ffn_down=TYPE F32 OUT
   Q8_0` (the manual override: the type is forced, llama.cpp's mixture rules do not apply to those
   tensors), read back and dequantized with the PyPI `gguf` package.
4. A JSON manifest (float32 files of the weights, h and llama.cpp's values) for
   tests/core/tst_kquant_search.cpp (ZP_KQUANT_REFERENCE), whose llamaCppReference function runs
   the search on the same weights and h and requires, per tensor, loss(search) <= loss(llama.cpp)
   for sum h (w - x)^2, and a mean ratio below 1 per type; it prints llama.cpp's own objective
   (the quant_weights ggml-quants.c derives from the imatrix) for both, and the search run on
   those weights.

Usage:
  build/pyenv/bin/python3 tests/python/check_kquant_search.py --gguf SMOL.gguf \\
      --llama-quantize build/pyenv/bin/llama-quantize --work DIR \\
      [--cli build/app/zeropoint-cli --assets ../shared/assets] [--importance hessian|synthetic] \\
      [--blocks 0,10,20] [--types Q2_K,...] [--test-bin build/tests/core_tst_kquant_search]

Exit 0: pass (or reference written when no --test-bin); 1: failure (printed); 77: skipped
(llama-quantize, the model or the gguf module missing; the reason printed).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

SKIP = 77
TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_0", "Q5_0", "Q8_0"]


def skip(msg):
    if os.environ.get("ZP_REQUIRE_LLAMACPP") == "1" or os.environ.get("ZP_REQUIRE_REALMODEL") == "1":
        print(f"FAIL: {msg} (ZP_REQUIRE_LLAMACPP / ZP_REQUIRE_REALMODEL = 1)")
        sys.exit(1)
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
        sys.exit(1)
    return r.stdout + r.stderr


def tensors_of(path, names):
    """name -> (GGMLQuantizationType, float32 [rows, cols]) for the named tensors."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(path)
    out = {}
    for t in r.tensors:
        if t.name in names:
            x = dequantize(t.data, t.tensor_type)
            cols, rows = int(t.shape[0]), int(t.shape[1])
            out[t.name] = (t.tensor_type, np.ascontiguousarray(x, dtype=np.float32).reshape(rows, cols))
    del r
    missing = set(names) - set(out)
    if missing:
        print(f"FAIL: {path} lacks {sorted(missing)}")
        sys.exit(1)
    return out


def hessian_importance(cli, gguf_path, assets, work, names):
    """The Hessian diagonals of a calibrated ZeroPoint session, exported as a llama.cpp imatrix
    and read back as llama.cpp does (in_sum2 / counts in float32)."""
    import numpy as np
    from gguf import GGUFReader
    calib = os.path.join(assets, "text", "c4_demo.jsonl")
    if not os.path.exists(calib):
        return None, f"{calib} not found"
    session = os.path.join(work, "session.h5")
    im = os.path.join(work, "zeropoint.imatrix.gguf")
    run([cli, "quantize", "--model", gguf_path, "--tokenizer", gguf_path, "--method", "rtn-minmax",
         "--bits", "4", "--calib", calib, "--nsamples", "8", "--seqlen", "256", "--seed", "0",
         "--out", session])
    run([cli, "export", "--session", session, "--model", gguf_path, "--tokenizer", gguf_path,
         "--format", "imatrix", "--out", im])
    r = GGUFReader(im)
    data = {t.name: np.array(t.data, dtype=np.float32).ravel() for t in r.tensors}
    del r
    h = {}
    for n in names:
        s, c = data.get(n + ".in_sum2"), data.get(n + ".counts")
        if s is None or c is None:
            print(f"FAIL: the exported imatrix lacks {n}")
            sys.exit(1)
        h[n] = (s / np.float32(c[0])).astype(np.float32)
    return h, ("damped Hessian diagonal (damp 0.01) of a ZeroPoint session (zeropoint-cli "
               "quantize --method rtn-minmax --calib c4_demo.jsonl --nsamples 8 --seqlen 256; "
               "export --format imatrix; in_sum2 / counts)")


def synthetic_importance(names, cols):
    import numpy as np
    rng = np.random.default_rng(1234)
    return ({n: rng.lognormal(0.0, 1.5, size=cols[n]).astype(np.float32) for n in names},
            "synthetic log-normal (sigma 1.5, seed 1234) per column")


def jitter(path, names, amount):
    """Moves the named F32 tensors of the file off their 16-level grid in place: each weight plus
    uniform noise of +-amount x its 32-block's (max - min) / 15 (seeded)."""
    import numpy as np
    from gguf import GGUFReader
    rng = np.random.default_rng(99)
    r = GGUFReader(path, "r+")
    for t in r.tensors:
        if t.name in names:
            x = t.data  # writable memmap, [rows, cols] float32
            blocks = x.reshape(-1, 32)
            step = (blocks.max(axis=1, keepdims=True) - blocks.min(axis=1, keepdims=True)) / 15
            noise = rng.uniform(-amount, amount, size=blocks.shape) * step
            blocks += noise.astype(np.float32)
            x.flush() if hasattr(x, "flush") else None
    del r


def write_imatrix(path, h):
    """in_sum2 = h, counts = 1: llama-quantize's qw = in_sum2 / counts = h exactly."""
    import numpy as np
    from gguf import GGUFWriter
    w = GGUFWriter(path, "imatrix")
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["check_kquant_search"])
    w.add_uint32("imatrix.chunk_count", 1)
    w.add_uint32("imatrix.chunk_size", 1)
    for name, v in h.items():
        w.add_tensor(name + ".in_sum2", v.reshape(1, -1).astype(np.float32))
        w.add_tensor(name + ".counts", np.ones((1, 1), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gguf", required=True, help="SmolLM2-135M-Instruct GGUF")
    p.add_argument("--llama-quantize", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--cli", default="", help="zeropoint-cli: the Hessian importance (with --assets)")
    p.add_argument("--assets", default="")
    p.add_argument("--importance", choices=["hessian", "synthetic"], default="hessian")
    p.add_argument("--blocks", default="0,10,20")
    p.add_argument("--tensor", default="ffn_down")
    p.add_argument("--types", default=",".join(TYPES))
    p.add_argument("--jitter", type=float, default=0.0,
                   help="add uniform noise of +-JITTER x each 32-block's 4-bit step to the weights "
                        "(in the F32 copy itself): weights off the Q4_1 grid they come from")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test-bin", default="", help="core_tst_kquant_search to run on the manifest")
    p.add_argument("--venv", default="", help="a venv with gguf and numpy (this script re-runs in it)")
    a = p.parse_args()

    if not os.path.exists(a.llama_quantize):
        skip(f"llama-quantize not found at {a.llama_quantize} (packaging/setup.sh test builds it)")
    if not os.path.exists(a.gguf):
        skip(f"{a.gguf} not found (packaging/setup.sh fetches SmolLM2)")
    try:
        import numpy as np
        import gguf  # noqa: F401
    except ImportError as e:
        venv_py = os.path.join(a.venv, "bin", "python3") if a.venv else ""
        if venv_py and os.path.exists(venv_py) and os.environ.get("ZP_KQUANT_REEXEC") != "1":
            os.environ["ZP_KQUANT_REEXEC"] = "1"
            os.execv(venv_py, [venv_py] + sys.argv)
        skip(f"python module unavailable ({e}); packaging/setup.sh test installs it into "
             f"{a.venv or 'BUILD_DIR/pyenv'}")
    os.makedirs(a.work, exist_ok=True)
    blocks = [int(b) for b in a.blocks.split(",") if b]
    types = [t for t in a.types.split(",") if t]
    names = [f"blk.{b}.{a.tensor}.weight" for b in blocks]

    t0 = time.time()
    f32 = os.path.join(a.work, "model-f32.gguf")
    run([a.llama_quantize, "--allow-requantize", a.gguf, f32, "F32", str(a.threads)])
    if a.jitter > 0:
        jitter(f32, names, a.jitter)
    src = tensors_of(f32, names)
    cols = {n: src[n][1].shape[1] for n in names}
    print(f"F32 copy: {os.path.getsize(f32)} B; " +
          ", ".join(f"{n} {src[n][1].shape}" for n in names), flush=True)

    h, source = None, ""
    if a.importance == "hessian":
        if a.cli and os.path.exists(a.cli):
            h, source = hessian_importance(a.cli, a.gguf, a.assets, a.work, names)
            if h is None:
                print(f"note: no Hessian importance ({source}); synthetic instead")
        else:
            print("note: no --cli: synthetic importance instead of the Hessian diagonal")
    if h is None:
        h, source = synthetic_importance(names, cols)
    print(f"importance: {source}", flush=True)
    imatrix = os.path.join(a.work, "kquant.imatrix.gguf")
    write_imatrix(imatrix, h)

    entries = []
    for n in names:
        base = os.path.join(a.work, n.replace(".", "_"))
        src[n][1].tofile(base + ".weights.f32")
        h[n].tofile(base + ".h.f32")
    regex = r"blk\.(" + "|".join(str(b) for b in blocks) + r")\." + a.tensor
    for t in types:
        out = os.path.join(a.work, f"llama-{t}.gguf")
        log = run([a.llama_quantize, "--imatrix", imatrix, "--tensor-type", f"{regex}={t.lower()}",
                   f32, out, "Q8_0", str(a.threads)])
        m = re.search(r"loaded (\d+) importance matrix entries", log)
        if not m or int(m.group(1)) != len(names):
            print(f"FAIL: {t}: llama-quantize did not load the {len(names)} imatrix entries:\n" +
                  "\n".join(l for l in log.splitlines() if "imatrix" in l.lower()))
            return 1
        for n in names:
            if f"did not find weights for {n}" in log:
                print(f"FAIL: {t}: llama-quantize quantized {n} without the importance")
                return 1
        got = tensors_of(out, names)
        os.remove(out)
        for n in names:
            qtype, x = got[n]
            if qtype.name != t:
                print(f"FAIL: {n} came out {qtype.name}, not {t}")
                return 1
            base = os.path.join(a.work, n.replace(".", "_"))
            x.tofile(base + f".llama-{t}.f32")
            entries.append({"type": t, "tensor": n, "rows": int(x.shape[0]),
                            "cols": int(x.shape[1]), "weights": base + ".weights.f32",
                            "importance": base + ".h.f32", "llama": base + f".llama-{t}.f32"})
        print(f"  llama-quantize {t}: done ({time.time() - t0:.0f} s)", flush=True)
    os.remove(f32)
    manifest = os.path.join(a.work, "reference.json")
    with open(manifest, "w") as f:
        json.dump({"importance": source, "jitter": a.jitter, "entries": entries}, f, indent=1)
    print(f"reference: {manifest} ({len(entries)} entries)", flush=True)

    if not a.test_bin:
        return 0
    env = dict(os.environ, ZP_KQUANT_REFERENCE=os.path.abspath(manifest))
    r = subprocess.run([a.test_bin, "llamaCppReference"], env=env, text=True,
                       capture_output=True)
    print(r.stdout[-20000:])
    if r.returncode != 0:
        print(r.stderr[-4000:])
        print(f"FAIL: {a.test_bin} llamaCppReference exited {r.returncode}")
        return 1
    if "SKIP" in r.stdout and "PASS   : TestKquantSearch::llamaCppReference" not in r.stdout:
        print("FAIL: llamaCppReference skipped")
        return 1
    print(f"PASS ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
