#!/usr/bin/env python3
"""ZeroPoint's GGUF export run by llama.cpp itself (PyPI llama-cpp-python, which compiles the
vendored llama.cpp; packaging/setup.sh installs it into BUILD_DIR/pyenv).

For stories260K (llama2.c) with tok512, through zeropoint-cli only:
  * quantize (GPTQ NeUQI by default, calibrated on 32 x 256 tokens of TinyStories, channel-wise)
    at 4 bits (Q4_1, an exact mapping; ffn_down,
    whose rows of 172 are not whole 32-blocks, is F16) and 8 bits (re-quantized to Q8_0), and a
    session with every layer skipped (an F16 export of the original);
  * export each to GGUF and load it in llama_cpp.Llama (n_ctx 512, F32 KV cache, no flash
    attention, one thread);
  * greedy decoding from BOS by eval + argmax (no sampler) against `zeropoint-cli generate` on the
    same weights (`--session S --weights gguf`: exactly what the file holds). The F16 export must
    give the original float32 model's ids and text over the whole run, and the reference text
    stories260K.greedy200.txt. For Q4_1 / Q8_0 llama.cpp's CPU kernels quantize the activations
    to 8 bits (Q8_1 / Q8_0 blocks), so the logits differ by a few tenths and a free greedy run may
    leave ZeroPoint's at a near-tie: the check is teacher-forced -- along ZeroPoint's sequence
    every position where llama.cpp's argmax differs must be a near-tie of ZeroPoint's logits --
    with bounded logit differences (the weights themselves are checked bit for bit against
    gguf-py by tests/core/tst_gguf.cpp);
  * tokenization of prompts: llama.cpp's tokenizer of the exported vocabulary vs
    `zeropoint-cli tokenize --bos`;
  * perplexity of the F16 and 4-bit GGUF in llama.cpp on the windows `zeropoint-cli eval --window
    512 --max-windows 40` uses (ZeroPoint's token ids of the text, non-overlapping windows, first
    token of each window not predicted) vs ZeroPoint's perplexity of the original and quantized
    model (`quantize --eval`), within 0.5%.

Usage: check_llamacpp.py --cli zeropoint-cli --assets ../shared/assets --work DIR [--venv DIR]
       [--method gptq-neuqi] [--calib FILE] [--steps 200] [--forced 200] [--ppl-windows 40]
       [--json OUT]
Quantized files must also agree with ZeroPoint's argmax on at least 95% of --forced teacher-forced
positions of real text (TinyStories), every disagreement at a near-tie of ZeroPoint's logits.
Exit 0: everything matches; 1: a mismatch (one line each); 77: skipped (llama_cpp or the assets
missing; the reason is printed). ZP_REQUIRE_LLAMACPP=1 turns the llama_cpp skip into a failure.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_common import import_llama_cpp, run, skip  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    p.add_argument("--method", default="gptq-neuqi")
    p.add_argument("--calib", default="",
                   help="calibration text for GPTQ methods (default: ASSETS/text/tinystories_val.txt)")
    p.add_argument("--forced", type=int, default=200,
                   help="teacher-forced positions of real text compared for quantized files")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--logit-positions", type=int, default=16)
    p.add_argument("--ppl-windows", type=int, default=40)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--bits", default="4,8")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="", help="write the measured figures here")
    return p.parse_args()


def main():
    args = parse_args()
    import_llama_cpp(args.venv)
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama

    model = os.path.join(args.assets, "models", "stories260K.bin")
    tok = os.path.join(args.assets, "tokenizers", "tok512.bin")
    ref_text_path = os.path.join(args.assets, "models", "stories260K.greedy200.txt")
    text_path = os.path.join(args.assets, "text", "tinystories_val.txt")
    for f in (model, tok, ref_text_path, text_path):
        if not os.path.exists(f):
            skip(f"asset {f} not found (../shared/assets)")
    os.makedirs(args.work, exist_ok=True)
    W = lambda name: os.path.join(args.work, name)  # noqa: E731
    cli = args.cli
    failures = []
    figures = {"llama_cpp_version": llama_cpp.__version__, "method": args.method}
    t_start = time.time()

    # ---- sessions and exports ----
    ppl_zp = {}
    sessions = {}
    for bits in [int(b) for b in args.bits.split(",") if b]:
        s = W(f"q{bits}.h5")
        cmd = [cli, "quantize", "--model", model, "--tokenizer", tok, "--method", args.method,
               "--bits", str(bits), "--group", "-1", "--out", s]
        if args.method.startswith("gptq"):
            cmd += ["--calib", args.calib or text_path, "--nsamples", "32", "--seqlen", "256", "--seed", "0"]
        if bits == 4 and args.ppl_windows > 0:
            cmd += ["--eval", text_path, "--window", str(args.window),
                    "--eval-windows", str(args.ppl_windows)]
        r = run(cmd)
        m = re.search(r"perplexity on .*: original ([0-9.]+), quantized ([0-9.]+)", r.stdout)
        if m:
            ppl_zp[f"original"] = float(m.group(1))
            ppl_zp[f"q{bits}"] = float(m.group(2))
        sessions[f"q{bits}"] = s
    s = W("f16.h5")
    skip_all = []
    for layer in ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]:
        skip_all += ["--override", f"*.{layer}:skip"]
    run([cli, "quantize", "--model", model, "--method", "rtn-minmax", "--bits", "4", "--group",
         "-1", "--out", s] + skip_all)
    sessions["f16"] = s
    gguf_files = {}
    for name, s in sessions.items():
        out = W(f"stories260K-{name}.gguf")
        run([cli, "export", "--session", s, "--model", model, "--tokenizer", tok, "--format",
             "gguf", "--out", out])
        gguf_files[name] = out
        figures[f"{name}_file_bytes"] = os.path.getsize(out)

    def load(path):
        return Llama(model_path=path, n_ctx=args.window, n_batch=args.window,
                     n_ubatch=args.window, logits_all=True, n_threads=args.threads,
                     n_threads_batch=args.threads, type_k=0, type_v=0,  # GGML_TYPE_F32 KV cache
                     flash_attn=False, verbose=False)

    BOS, EOS = 1, 2

    def llama_greedy(llm, steps):
        """run.c's loop: feed BOS at position 0; each position yields the argmax; stop at BOS/EOS
        or after `steps` positions. Returns ids (BOS included)."""
        llm.reset()
        ids = [BOS]
        while True:
            llm.eval([ids[-1]])
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            if nxt in (BOS, EOS):
                break
            ids.append(nxt)
            if len(ids) > steps:
                break
        return ids

    def llama_logits(llm, ids):
        llm.reset()
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float64)

    def zp_generate(extra, tag):
        logits_file = W(f"zp-{tag}.logits")
        r = run([cli, "generate", "--model", model, "--tokenizer", tok, "--steps",
                 str(args.steps), "--print-ids", "--logits", logits_file] + extra)
        m = re.search(r"^ids:(.*)$", r.stderr, re.M)
        ids = [int(x) for x in m.group(1).split()]
        logits = np.fromfile(logits_file, dtype=np.float32).reshape(len(ids), -1)
        return ids, r.stdout.rstrip("\n"), logits

    forced_text = open(text_path, encoding="utf-8").read()[:800]

    def zp_forced(extra, tag):
        """ZeroPoint's ids (BOS + the first args.forced tokens of TinyStories) and its logits at
        each of them: `generate` with the text as the prompt (logits of the whole sequence)."""
        logits_file = W(f"zp-forced-{tag}.logits")
        r = run([cli, "generate", "--model", model, "--tokenizer", tok, "--prompt", forced_text,
                 "--steps", "0", "--print-ids", "--logits", logits_file] + extra)
        m = re.search(r"^ids:(.*)$", r.stderr, re.M)
        ids = [int(x) for x in m.group(1).split()]
        logits = np.fromfile(logits_file, dtype=np.float32).reshape(len(ids), -1)
        n = min(len(ids), args.forced + 1)
        return ids[:n], logits[:n].astype(np.float64)

    def first_diff(a, b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return i
        return None if len(a) == len(b) else min(len(a), len(b))

    ref_text = open(ref_text_path, encoding="utf-8").read().rstrip("\n")
    cases = [("f16", [], "original float32 model")]
    for name in sessions:
        if name != "f16":
            cases.append((name, ["--session", sessions[name], "--weights", "gguf"],
                          "the session's weights as exported"))
    for name, extra, what in cases:
        llm = load(gguf_files[name])
        t0 = time.time()
        ids_l = llama_greedy(llm, args.steps)
        figures[f"{name}_llamacpp_tok_s"] = round(len(ids_l) / (time.time() - t0), 1)
        ids_z, text_z, logits_z = zp_generate(extra, name)
        d = first_diff(ids_l, ids_z)
        figures[f"{name}_tokens"] = len(ids_l)
        figures[f"{name}_greedy_match"] = d is None
        figures[f"{name}_greedy_common_prefix"] = len(ids_l) if d is None else d
        text_l = llm.detokenize(ids_l[1:]).decode("utf-8", errors="replace")
        figures[f"{name}_text_match"] = text_l.strip() == text_z.strip()
        # Logits along ZeroPoint's whole sequence (teacher forcing).
        ll = llama_logits(llm, ids_z)
        lz = logits_z.astype(np.float64)
        diff = np.abs(ll - lz)
        n = min(args.logit_positions, len(ids_z))
        top2 = np.sort(lz, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        disagree = np.nonzero(ll.argmax(axis=1) != lz.argmax(axis=1))[0]
        figures[f"{name}_logits_max_abs_diff_first{n}"] = float(diff[:n].max())
        figures[f"{name}_logits_max_abs_diff"] = float(diff.max())
        figures[f"{name}_logits_mean_abs_diff"] = float(diff.mean())
        figures[f"{name}_logits_max_abs"] = float(np.abs(lz).max())
        figures[f"{name}_argmax_disagreements"] = [
            {"position": int(i), "zeropoint_top2_margin": float(margin[i])} for i in disagree]
        if name == "f16":
            # Same weights up to fp16 rounding: the whole greedy run, the text and the reference.
            if d is not None:
                failures.append(f"f16: llama.cpp greedy ids differ from zeropoint-cli generate "
                                f"({what}) at position {d}: llama.cpp "
                                f"{ids_l[max(0, d - 2):d + 3]} vs ZeroPoint "
                                f"{ids_z[max(0, d - 2):d + 3]}")
            if text_l.strip() != text_z.strip():
                failures.append(f"f16: llama.cpp text differs from ZeroPoint's:\n  llama.cpp: "
                                f"{text_l[:200]!r}\n  ZeroPoint: {text_z[:200]!r}")
            figures["f16_reference_text_match"] = text_l.strip() == ref_text.strip()
            if text_l.strip() != ref_text.strip():
                failures.append(f"f16: llama.cpp text differs from stories260K.greedy200.txt:\n"
                                f"  llama.cpp: {text_l[:200]!r}\n  reference: {ref_text[:200]!r}")
        else:
            # Teacher-forced on real text: args.forced predicted positions of TinyStories.
            ids_f, lf = zp_forced(extra, name)
            lf_l = llama_logits(llm, ids_f)
            n_f = len(ids_f) - 1
            top2f = np.sort(lf[:n_f], axis=1)[:, -2:]
            margin_f = top2f[:, 1] - top2f[:, 0]
            dis_f = np.nonzero(lf_l[:n_f].argmax(axis=1) != lf[:n_f].argmax(axis=1))[0]
            agree = 1.0 - len(dis_f) / n_f
            figures[f"{name}_forced_positions"] = n_f
            figures[f"{name}_forced_agreement"] = agree
            figures[f"{name}_forced_disagreement_margins"] = [float(margin_f[i]) for i in dis_f]
            print(f"{name}: teacher-forced on {n_f} positions of real text: argmax agrees at "
                  f"{agree:.1%} (disagreements at ZeroPoint margins "
                  f"{[round(float(margin_f[i]), 3) for i in dis_f]})")
            if n_f < args.forced:
                failures.append(f"{name}: only {n_f} teacher-forced positions (< {args.forced})")
            if agree < 0.95:
                failures.append(f"{name}: llama.cpp's argmax agrees with ZeroPoint's at only "
                                f"{agree:.1%} of {n_f} teacher-forced positions (< 95%)")
            for i in dis_f:
                if margin_f[i] > 0.8:
                    failures.append(f"{name}: forced position {i}: llama.cpp's argmax differs "
                                    f"where ZeroPoint's top-2 margin is {margin_f[i]:.3g}")
        # llama.cpp's CPU kernels multiply F16 weights with fp16-rounded activations and Q4_1 /
        # Q8_0 weights with activations quantized to 8 bits (Q8_1 / Q8_0 blocks), so the logits
        # differ by a few hundredths (F16) to a few tenths (quantized) on logits of ~20, and a
        # greedy run may leave ZeroPoint's at a near-tie. Every argmax disagreement along
        # ZeroPoint's sequence must be such a near-tie.
        tol = 0.05 if name == "f16" else 0.4
        if not diff.max() <= tol:
            failures.append(f"{name}: logits differ by up to {diff.max():.4g} (> {tol}; max "
                            f"|logit| {np.abs(lz).max():.3g})")
        for i in disagree:
            if margin[i] > 2 * tol:
                failures.append(f"{name}: position {i}: llama.cpp's argmax differs from "
                                f"ZeroPoint's where ZeroPoint's top-2 margin is {margin[i]:.3g}")
        print(f"{name}: greedy run {'identical' if d is None else f'identical for {d} tokens'} "
              f"of {len(ids_l)} ({what}); teacher-forced argmax disagrees at "
              f"{len(disagree)}/{len(ids_z)} positions (ZeroPoint margins "
              f"{[round(float(margin[i]), 3) for i in disagree]}); logits max |diff| "
              f"{diff[:n].max():.3e} over the first {n} positions, {diff.max():.3e} over all "
              f"(mean {diff.mean():.2e}, max |logit| {np.abs(lz).max():.2f}); file "
              f"{figures[f'{name}_file_bytes']} bytes")
        if name == "q4":
            # Informational: the workbench's own W_hat (before the fp16 snap of d, m).
            ids_w, _, _ = zp_generate(["--session", sessions[name], "--weights", "workbench"],
                                      name + "-workbench")
            dw = first_diff(ids_l, ids_w)
            figures["q4_greedy_match_workbench_weights"] = dw is None
            print(f"q4: llama.cpp vs ZeroPoint with the workbench W_hat: "
                  f"{'match' if dw is None else f'differ at {dw}'}")
        del llm

    # ---- tokenization ----
    llm = load(gguf_files["f16"])
    for prompt in ["Once upon a time, there was a little girl named Lily.",
                   "Tom said: \"I like 3 big red apples!\"\n\nThe end."]:
        r = run([cli, "tokenize", "--tokenizer", tok, "--text", prompt, "--bos"])
        ids_z = [int(x) for x in r.stdout.split()]
        ids_l = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
        if ids_l != ids_z:
            failures.append(f"tokenize {prompt!r}: llama.cpp {ids_l} vs ZeroPoint {ids_z}")
        figures.setdefault("tokenize_match", True)
        figures["tokenize_match"] = figures["tokenize_match"] and ids_l == ids_z
    print(f"tokenization of prompts: {'match' if figures['tokenize_match'] else 'DIFFER'}")
    del llm

    # ---- perplexity (the eval protocol "text": ZeroPoint's ids of the whole file, no BOS) ----
    if args.ppl_windows > 0 and "q4" in gguf_files:
        r = run([cli, "tokenize", "--tokenizer", tok, "--file", text_path])
        ids = [int(x) for x in r.stdout.split()]
        L = args.window
        nwin = min(len(ids) // L, args.ppl_windows)
        for name in ["f16", "q4"]:
            llm = load(gguf_files[name])
            nll, count = 0.0, 0
            t0 = time.time()
            for w in range(nwin):
                win = ids[w * L:(w + 1) * L]
                lg = llama_logits(llm, win)[:-1]
                lg -= lg.max(axis=1, keepdims=True)
                lse = np.log(np.exp(lg).sum(axis=1))
                tgt = np.array(win[1:])
                nll -= float((lg[np.arange(L - 1), tgt] - lse).sum())
                count += L - 1
            ppl = math.exp(nll / count)
            figures[f"{name}_ppl_llamacpp"] = ppl
            figures[f"{name}_ppl_llamacpp_seconds"] = round(time.time() - t0, 1)
            del llm
        figures["ppl_windows"] = nwin
        figures["ppl_window"] = L
        figures["original_ppl_zeropoint"] = ppl_zp.get("original")
        figures["q4_ppl_zeropoint"] = ppl_zp.get("q4")
        print(f"perplexity, {nwin} windows of {L} tokens of {os.path.basename(text_path)}: "
              f"llama.cpp F16 GGUF {figures['f16_ppl_llamacpp']:.4f} vs ZeroPoint original "
              f"{ppl_zp.get('original', float('nan')):.4f}; llama.cpp 4-bit GGUF "
              f"{figures['q4_ppl_llamacpp']:.4f} vs ZeroPoint quantized "
              f"{ppl_zp.get('q4', float('nan')):.4f}")
        for name, zp_key in [("f16", "original"), ("q4", "q4")]:
            a, b = figures[f"{name}_ppl_llamacpp"], ppl_zp.get(zp_key)
            if b is None or abs(a - b) / b > 0.005:
                failures.append(f"perplexity {name}: llama.cpp {a:.4f} vs ZeroPoint {b} "
                                f"(more than 0.5% apart)")

    figures["seconds"] = round(time.time() - t_start, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    print(json.dumps(figures))
    for f in failures:
        print("FAIL: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
