#!/usr/bin/env python3
"""ZeroPoint's importance matrix in llama.cpp's own llama-quantize.

Quantizes stories260K with GPTQ + NeUQI on real calibration text (zeropoint-cli), exports the
session's Hessian diagonals as a llama.cpp importance matrix (`export --format imatrix`) and the
original model as an F16 GGUF, then runs llama.cpp's `llama-quantize` (built by
packaging/setup.sh from the llama-cpp-python sources) to Q4_0 with and without `--imatrix`.
Checks: llama-quantize loads one entry per linear layer (35), the two Q4_0 files differ, and
the perplexity llama.cpp measures with the importance matrix is not worse than without it.

Exit 0: pass; 1: a failure (printed); 77: skipped (llama-quantize, llama_cpp or the assets
missing; the reason is printed).
"""
import argparse
import math
import os
import re
import subprocess
import sys

SKIP = 77


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        sys.exit(1)
    return r.stdout + r.stderr


def perplexity(path, text, windows=4, window=512):
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=window, verbose=False, logits_all=True, n_threads=1)
    toks = llm.tokenize(text.encode())[: windows * window]
    nll, n = 0.0, 0
    for start in range(0, len(toks) - 1, window):
        w = toks[start:start + window]
        if len(w) < 2:
            break
        llm.reset()
        llm.eval(w)
        lg = np.array(llm.scores[: len(w)], dtype=np.float64)
        m = lg.max(axis=1, keepdims=True)
        lse = (m[:, 0] + np.log(np.exp(lg - m).sum(axis=1)))[:-1]
        nll += float((lse - lg[np.arange(len(w) - 1), w[1:]]).sum())
        n += len(w) - 1
    return math.exp(nll / n)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    a = p.parse_args()

    quantize_tool = os.path.join(a.venv, "bin", "llama-quantize") if a.venv else ""
    if not quantize_tool or not os.path.exists(quantize_tool):
        note = os.path.join(a.venv, "llamacpp-unavailable.txt") if a.venv else ""
        why = open(note).read().strip() if note and os.path.exists(note) else \
            "run packaging/setup.sh test (builds it from the llama-cpp-python sources)"
        skip(f"llama-quantize not found at {quantize_tool or '(no --venv)'}: {why}")
    try:
        import numpy  # noqa: F401
        import llama_cpp  # noqa: F401
    except ImportError as e:
        venv_py = os.path.join(a.venv, "bin", "python3")
        if os.path.exists(venv_py) and os.environ.get("ZP_IMATRIX_REEXEC") != "1":
            os.environ["ZP_IMATRIX_REEXEC"] = "1"
            os.execv(venv_py, [venv_py] + sys.argv)
        skip(f"python module llama_cpp unavailable ({e})")

    model = os.path.join(a.assets, "models", "stories260K.bin")
    tok = os.path.join(a.assets, "tokenizers", "tok512.bin")
    text_path = os.path.join(a.assets, "text", "tinystories_val.txt")
    for f in (model, tok, text_path):
        if not os.path.exists(f):
            skip(f"asset {f} not found (../shared/assets)")
    os.makedirs(a.work, exist_ok=True)
    W = lambda n: os.path.join(a.work, n)  # noqa: E731
    for f in ("f16.gguf", "imatrix.gguf", "q40.gguf", "q40_im.gguf"):
        if os.path.exists(W(f)):
            os.remove(W(f))

    skip_all = []
    for layer in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        skip_all += ["--override", f"*.{layer}:skip"]
    run([a.cli, "quantize", "--model", model, "--tokenizer", tok, "--method", "rtn-minmax",
         "--bits", "4", "--out", W("f16.h5")] + skip_all)
    run([a.cli, "quantize", "--model", model, "--tokenizer", tok, "--method", "gptq-neuqi",
         "--bits", "4", "--calib", text_path, "--nsamples", "16", "--seqlen", "256", "--seed", "0",
         "--out", W("g4.h5")])
    run([a.cli, "export", "--session", W("f16.h5"), "--model", model, "--tokenizer", tok,
         "--format", "gguf", "--out", W("f16.gguf")])
    run([a.cli, "export", "--session", W("g4.h5"), "--format", "imatrix", "--out", W("imatrix.gguf")])

    log_im = run([quantize_tool, "--imatrix", W("imatrix.gguf"), W("f16.gguf"), W("q40_im.gguf"), "Q4_0"])
    log = run([quantize_tool, W("f16.gguf"), W("q40.gguf"), "Q4_0"])
    failures = []
    m = re.search(r"loaded (\d+) importance matrix entries", log_im)
    if not m or int(m.group(1)) != 35:
        failures.append("llama-quantize did not load 35 importance matrix entries:\n" +
                        "\n".join(l for l in log_im.splitlines() if "imatrix" in l.lower()))
    if "importance matrix" in log:
        failures.append("the run without --imatrix mentions an importance matrix")
    if open(W("q40_im.gguf"), "rb").read() == open(W("q40.gguf"), "rb").read():
        failures.append("Q4_0 with and without the importance matrix are identical: it was not used")

    text = open(text_path, encoding="utf-8").read()[:40000]
    ppl = {f: perplexity(W(f), text) for f in ("f16.gguf", "q40.gguf", "q40_im.gguf")}
    print("llama.cpp perplexity (4 windows of 512 tokens of TinyStories): " +
          ", ".join(f"{k} {v:.4f}" for k, v in ppl.items()))
    if not ppl["q40_im.gguf"] <= ppl["q40.gguf"]:
        failures.append(f"Q4_0 with ZeroPoint's importance matrix is worse: {ppl['q40_im.gguf']:.4f} "
                        f"> {ppl['q40.gguf']:.4f} without")
    for f in failures:
        print("FAIL: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
