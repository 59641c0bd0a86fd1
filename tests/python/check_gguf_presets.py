#!/usr/bin/env python3
"""llama-quantize's per-tensor type choice, recorded for ZeroPoint's preset rules.

Runs llama.cpp's own `llama-quantize` (built by packaging/setup.sh from the llama-cpp-python 0.3.36
sources) on real GGUF models for every preset (Q2_K ... Q8_0, and Q4_0 / Q5_0 with a one-entry
importance matrix, which changes the Q4_0 / Q5_0 rule for ffn_down), reads each output file with
the PyPI `gguf` package (tensor name -> type, shape, file size, data offset) and writes a JSON
reference:

  {"models": [{"name", "path", "facts": {arch, n_layer, n_head, n_head_kv, n_expert},
               "runs": [{"preset", "imatrix", "file_bytes", "data_offset", "alignment",
                         "tensors": [{"name", "ne", "source_type", "type"}]}]}],
   "input_independence": [...]}

tests/core/tst_gguf_presets.cpp (ZP_PRESET_REFERENCE=that JSON) feeds each run's names, shapes
and facts to zp::gguf::choose_preset_types and requires every type and the tensor-data byte count
to be llama-quantize's. With --test-bin it runs that test here.

Inputs: any GGUF llama-quantize can load (quantized inputs are requantized with
--allow-requantize: the type choice does not depend on the input's types, which --f32-check
verifies by running every preset again from an F32 copy made by llama-quantize itself and
comparing types and file sizes). With --cli and --assets it also exports stories260K (llama2.c,
../shared/assets) as an F16 GGUF with zeropoint-cli and adds it.

Usage:
  python3 tests/python/check_gguf_presets.py --gguf SMOL.gguf [--gguf GEMMA.gguf] \\
      --llama-quantize build/pyenv/bin/llama-quantize --work DIR --out DIR/reference.json \\
      [--cli build/app/zeropoint-cli --assets ../shared/assets] [--f32-check] \\
      [--test-bin build/tests/core_tst_gguf_presets]

Exit 0: pass (reference written; test passed if --test-bin); 1: failure (printed); 77: skipped
(llama-quantize or the gguf module missing, the reason printed).
"""
import argparse
import json
from collections import Counter
import os
import subprocess
import sys

SKIP = 77

PRESETS = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0",
           "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"]
IMATRIX_PRESETS = ["Q4_0", "Q5_0"]


def skip(msg):
    # Under CI (packaging/setup.sh test with CI=true) llama.cpp and the readers must be there.
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


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def read_gguf(path):
    from gguf import GGUFReader
    r = GGUFReader(path)
    tensors = [{"name": t.name, "ne": [int(x) for x in t.shape], "type": int(t.tensor_type)}
               for t in r.tensors]
    return r, tensors


def model_facts(reader):
    arch = field(reader, "general.architecture")
    if not arch:
        raise SystemExit(f"FAIL: no general.architecture in {reader}")

    def first(v, default):
        if v is None:
            return default
        if isinstance(v, list):
            return int(v[0]) if v else default
        return int(v)
    n_head = first(field(reader, f"{arch}.attention.head_count"), 0)
    return {
        "arch": arch,
        "n_layer": first(field(reader, f"{arch}.block_count"), 0),
        "n_head": n_head,
        # absent: llama.cpp uses n_head; -1 says "absent" to the C++ side
        "n_head_kv": first(field(reader, f"{arch}.attention.head_count_kv"), -1),
        "n_expert": first(field(reader, f"{arch}.expert_count"), 0),
    }


def write_imatrix(path, tensors):
    """A one-entry importance matrix in the layout ZeroPoint's export_imatrix writes (and
    llama-quantize loads): <weight>.in_sum2 [in, 1] and <weight>.counts [1, 1], F32."""
    import numpy as np
    from gguf import GGUFWriter
    target = next(t for t in tensors if t["name"].endswith("attn_q.weight") and len(t["ne"]) >= 2)
    w = GGUFWriter(path, "imatrix")  # it always writes general.architecture; the loader ignores it
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["check_gguf_presets"])
    w.add_uint32("imatrix.chunk_count", 1)
    w.add_uint32("imatrix.chunk_size", 1)
    n = target["ne"][0]
    w.add_tensor(target["name"] + ".in_sum2", np.ones((1, n), dtype=np.float32))
    w.add_tensor(target["name"] + ".counts", np.ones((1, 1), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return target["name"]


def quantize_runs(tool, src, work, tag, presets, imatrix_presets, threads, src_tensors):
    """llama-quantize src for each preset; returns the runs (as in the JSON)."""
    from gguf import GGMLQuantizationType
    runs = []
    imatrix = None
    if imatrix_presets:
        imatrix = os.path.join(work, f"{tag}.imatrix.gguf")
        write_imatrix(imatrix, src_tensors)
    src_type = {t["name"]: t["type"] for t in src_tensors}
    jobs = [(p, False) for p in presets] + [(p, True) for p in imatrix_presets]
    for preset, with_im in jobs:
        out = os.path.join(work, f"{tag}.{preset}{'.im' if with_im else ''}.gguf")
        cmd = [tool, "--allow-requantize"]
        if with_im:
            cmd += ["--imatrix", imatrix]
        cmd += [src, out, preset, str(threads)]
        log = run(cmd)
        if with_im and "loaded 1 importance matrix entries" not in log:
            print(f"FAIL: {tag} {preset}: llama-quantize did not load the importance matrix:\n" +
                  "\n".join(l for l in log.splitlines() if "imatrix" in l.lower()))
            sys.exit(1)
        r, ts = read_gguf(out)
        names_in, names_out = set(src_type), {t["name"] for t in ts}
        if names_in != names_out:
            print(f"FAIL: {tag} {preset}: tensor names differ from the input: "
                  f"{sorted(names_in ^ names_out)[:10]}")
            sys.exit(1)
        runs.append({
            "preset": preset,
            "imatrix": with_im,
            "file_bytes": os.path.getsize(out),
            "data_offset": int(r.data_offset),
            "alignment": int(r.alignment),
            "tensors": [{"name": t["name"], "ne": t["ne"], "source_type": src_type[t["name"]],
                         "type": t["type"]} for t in ts],
        })
        del r
        os.remove(out)
        c = Counter(GGMLQuantizationType(t["type"]).name for t in ts)
        print(f"  {tag} {preset}{'+imatrix' if with_im else ''}: {os.path.getsize(src)} -> "
              f"{runs[-1]['file_bytes']} B; " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())),
              flush=True)
    return runs


def stories_gguf(cli, assets, work):
    model = os.path.join(assets, "models", "stories260K.bin")
    tok = os.path.join(assets, "tokenizers", "tok512.bin")
    for f in (model, tok):
        if not os.path.exists(f):
            print(f"note: {f} not found: stories260K left out")
            return None
    s = os.path.join(work, "stories260K-f16.h5")
    out = os.path.join(work, "stories260K-f16.gguf")
    skip_all = []
    for layer in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        skip_all += ["--override", f"*.{layer}:skip"]
    run([cli, "quantize", "--model", model, "--tokenizer", tok, "--method", "rtn-minmax",
         "--bits", "4", "--out", s] + skip_all)
    run([cli, "export", "--session", s, "--model", model, "--tokenizer", tok, "--format", "gguf",
         "--out", out])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gguf", action="append", default=[], help="input model (repeatable)")
    p.add_argument("--llama-quantize", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True, help="the reference JSON to write")
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--imatrix-presets", default=",".join(IMATRIX_PRESETS),
                   help="presets also run with a one-entry importance matrix ('' for none)")
    p.add_argument("--cli", default="", help="zeropoint-cli: adds stories260K (needs --assets)")
    p.add_argument("--assets", default="")
    p.add_argument("--f32-check", action="store_true",
                   help="rerun every preset of the first model from an F32 copy and compare")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test-bin", default="", help="core_tst_gguf_presets to run on the JSON")
    p.add_argument("--venv", default="", help="a venv with gguf and numpy (this script re-runs in it)")
    a = p.parse_args()

    if not os.path.exists(a.llama_quantize):
        skip(f"llama-quantize not found at {a.llama_quantize} (packaging/setup.sh test builds it)")
    try:
        import gguf  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        venv_py = os.path.join(a.venv, "bin", "python3") if a.venv else ""
        if venv_py and os.path.exists(venv_py) and os.environ.get("ZP_PRESETS_REEXEC") != "1":
            os.environ["ZP_PRESETS_REEXEC"] = "1"
            os.execv(venv_py, [venv_py] + sys.argv)
        skip(f"python module unavailable ({e}); packaging/setup.sh test installs it into "
             f"{a.venv or 'BUILD_DIR/pyenv'}")
    os.makedirs(a.work, exist_ok=True)
    presets = [x for x in a.presets.split(",") if x]
    im_presets = [x for x in a.imatrix_presets.split(",") if x]

    inputs = list(a.gguf)
    if a.cli:
        s = stories_gguf(a.cli, a.assets, a.work)
        if s:
            inputs.append(s)
    if not inputs:
        skip("no input model (--gguf, or --cli with --assets)")

    models = []
    for path in inputs:
        if not os.path.exists(path):
            print(f"FAIL: {path} not found")
            return 1
        reader, tensors = read_gguf(path)
        facts = model_facts(reader)
        del reader
        name = os.path.basename(path)
        name = name[: -len(".gguf")] if name.endswith(".gguf") else name
        print(f"{name}: {facts}, {len(tensors)} tensors", flush=True)
        runs = quantize_runs(a.llama_quantize, path, a.work, name, presets, im_presets, a.threads,
                             tensors)
        models.append({"name": name, "path": os.path.abspath(path), "facts": facts,
                       "runs": runs})

    independence = []
    failures = []
    if a.f32_check:
        src = inputs[0]
        f32 = os.path.join(a.work, "f32-copy.gguf")
        run([a.llama_quantize, "--allow-requantize", src, f32, "F32", str(a.threads)])
        _, t32 = read_gguf(f32)
        print(f"F32 copy of {os.path.basename(src)}: {os.path.getsize(f32)} B", flush=True)
        runs32 = quantize_runs(a.llama_quantize, f32, a.work, "f32-copy", presets, [], a.threads,
                               t32)
        os.remove(f32)
        base = {r["preset"]: r for r in models[0]["runs"] if not r["imatrix"]}
        for r in runs32:
            b = base[r["preset"]]
            ta = {t["name"]: t["type"] for t in b["tensors"]}
            tb = {t["name"]: t["type"] for t in r["tensors"]}
            diff = sorted(n for n in ta if ta[n] != tb.get(n))
            same = not diff and b["file_bytes"] == r["file_bytes"]
            independence.append({"preset": r["preset"], "types_equal": not diff,
                                 "file_bytes": b["file_bytes"], "file_bytes_f32_input":
                                 r["file_bytes"]})
            print(f"  input independence {r['preset']}: types {'equal' if not diff else diff[:5]}"
                  f", file {b['file_bytes']} vs {r['file_bytes']} B from F32")
            if not same:
                failures.append(f"{r['preset']}: the F32 input gives other types or size")

    with open(a.out, "w") as f:
        json.dump({"llama_cpp": "llama-cpp-python 0.3.36 (vendor/llama.cpp), llama-quantize",
                   "models": models, "input_independence": independence}, f)
    print(f"wrote {a.out}")
    for m in failures:
        print("FAIL: " + m)
    if failures:
        return 1
    if a.test_bin:
        env = dict(os.environ, ZP_PRESET_REFERENCE=os.path.abspath(a.out))
        r = subprocess.run([a.test_bin, "llamaQuantizeReference"], env=env, text=True,
                           capture_output=True)
        print(r.stdout + r.stderr)
        if r.returncode != 0:
            print("FAIL: the C++ prediction differs from llama-quantize")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
