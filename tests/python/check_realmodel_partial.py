#!/usr/bin/env python3
"""Partial trailing groups and the GGUF round trip on the real model (issue 13, items 1, 2 and 6).

SmolLM2-135M-Instruct (hidden 576, FFN 1536) quantized by `zeropoint-cli quantize` with RTN
Min-Max at 3 bits in groups of 128: every row of q/k/v/o/gate/up (576 columns) is 4 groups of 128
plus one of 64; down (1536) is 12 whole groups. Then, written here from the documented formats and
not from ZeroPoint's code:

  * reference: the source GGUF dequantized by the PyPI `gguf` package, and Min-Max computed by
    numpy in float32 over column groups [0,128), ..., [512,576) (s = (max - min)/7,
    z = round(-min/s), code = clamp(round(w/s + z), 0, 7), w_hat = s (code - z), half to even);
  * the exported GGUF (`zeropoint-cli export --format gguf`), read back by `gguf` and dequantized
    by it: every weight of blocks 0 and 27 (all seven linears) within 1% of a step of the
    reference (Q4_1 keeps d and m in float16), at most 1e-4 of them a whole code apart;
  * the GPTQ checkpoint (`--format gptq`), decoded by numpy (check_safetensors.py --decode-gptq):
    the same, for the linears that GGUF does not row-permute (v, o, gate, up, down);
  * ZeroPoint's perplexity of the exported GGUF reopened as model and tokenizer equals the
    session's within 0.5%;
  * the exported GGUF in llama.cpp (check_gguf_input.py on it: the token ids of WikiText-2 from
    the exported tokenizer, perplexity, teacher-forced greedy: at least 99% agreement with
    llama.cpp's F32 run, at least --agree with its Q4_1 kernels, which quantize activations to 8
    bits).

Usage: check_realmodel_partial.py --cli zeropoint-cli --assets ../shared/assets --work DIR
       [--venv DIR] [--gguf FILE] [--windows 2] [--forced 100] [--agree 0.9]
Exit 0: all agree; 1: mismatches (one line each); 77: skipped, saying why (a failure under CI for
a missing model or llama.cpp, as in check_gguf_input.py).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llamacpp_common import import_llama_cpp, run, skip  # noqa: E402
from check_gguf_input import model_path  # noqa: E402

BITS, GROUP = 3, 128
BLOCKS = (0, 27)
GGUF_LINEARS = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
ROW_PERMUTED = {"attn_q", "attn_k"}  # GGUF stores q/k rows in its rope order


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    p.add_argument("--gguf", default="")
    p.add_argument("--windows", type=int, default=2)
    p.add_argument("--forced", type=int, default=100)
    # Against llama.cpp's Q4_1 kernels (8-bit activations) a 3-bit model's argmax moves more than
    # the original's (93% over 200 positions measured); against its F32 run check_gguf_input.py
    # still requires 99%.
    p.add_argument("--agree", type=float, default=0.9)
    return p.parse_args()


def minmax_reference(np, w):
    """Min-Max in float32 over groups of GROUP columns, the last one shorter. Returns (w_hat, s)
    with s per element (the step of its group)."""
    w = w.astype(np.float32)
    out = np.empty_like(w)
    step = np.empty_like(w)
    levels = np.float32((1 << BITS) - 1)
    for c0 in range(0, w.shape[1], GROUP):
        g = w[:, c0:c0 + GROUP]
        lo = g.min(axis=1, keepdims=True)
        hi = g.max(axis=1, keepdims=True)
        rng = hi - lo
        s = np.where(rng > 0, rng / levels, np.float32(1)).astype(np.float32)
        z = np.rint(-lo / s).astype(np.float32)
        code = np.clip(np.rint(g / s + z), 0, levels)
        out[:, c0:c0 + GROUP] = s * (code - z)
        step[:, c0:c0 + GROUP] = s
    return out, step


def compare(np, name, got, ref, step, errors, figures):
    if got.shape != ref.shape:
        errors.append(f"{name}: shape {got.shape}, expected {ref.shape}")
        return
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    off = diff > 0.01 * step + 1e-7
    whole = diff > 0.5 * step
    figures.append((name, float((diff / step).max()), int(whole.sum())))
    if whole.sum() > 1e-4 * diff.size:
        errors.append(f"{name}: {int(whole.sum())} of {diff.size} weights a whole code from the "
                      f"reference (first at {tuple(int(i) for i in np.argwhere(whole)[0])})")
    elif (off & ~whole).any():
        i = tuple(int(x) for x in np.argwhere(off & ~whole)[0])
        errors.append(f"{name}: weight {i} is {diff[i] / step[i]:.4f} steps from the reference "
                      f"(more than float16 d/m explain)")


def perplexity_of(out):
    """quantize: "perplexity on FILE: quantized P"; eval: "perplexity P  (...)"."""
    for ln in out.splitlines():
        if ln.startswith("perplexity on "):
            return float(ln.split()[-1])
        if ln.startswith("perplexity "):
            return float(ln.split()[1])
    return None


def main():
    args = parse_args()
    gguf_path = model_path(args)
    text = os.path.join(args.assets, "text", "wikitext2_test.raw")
    if not os.path.isfile(text):
        skip(f"asset {text} not found (the real test data in ../shared/assets is absent)")
    import_llama_cpp(args.venv)  # the set-up venv has numpy, gguf, safetensors and llama_cpp
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from check_safetensors import decode_gptq
    from safetensors import safe_open

    os.makedirs(args.work, exist_ok=True)
    errors = []
    t0 = time.time()
    session = os.path.join(args.work, "smol.h5")
    r = run([args.cli, "quantize", "--model", gguf_path, "--tokenizer", gguf_path, "--method",
             "rtn-minmax", "--bits", str(BITS), "--group", str(GROUP), "--eval", text,
             "--window", "512", "--eval-windows", str(args.windows), "--skip-original-eval",
             "--out", session])
    ppl_session = perplexity_of(r.stdout)
    exported = os.path.join(args.work, "smol.gguf")
    run([args.cli, "export", "--session", session, "--model", gguf_path, "--tokenizer", gguf_path,
         "--format", "gguf", "--out", exported])
    gptq_dir = os.path.join(args.work, "smol-gptq")
    run([args.cli, "export", "--session", session, "--model", gguf_path, "--format", "gptq",
         "--out", gptq_dir])
    decoded = os.path.join(args.work, "smol-gptq-f32")
    decode_gptq(gptq_dir, decoded)

    src = {t.name: t for t in GGUFReader(gguf_path).tensors}
    out = {t.name: t for t in GGUFReader(exported).tensors}
    figures = []
    partial_seen = False
    with safe_open(os.path.join(decoded, "model.safetensors"), framework="np") as dec:
        for b in BLOCKS:
            for short, hf in GGUF_LINEARS.items():
                name = f"blk.{b}.{short}.weight"
                w = dequantize(src[name].data, src[name].tensor_type)
                partial_seen = partial_seen or w.shape[1] % GROUP != 0
                ref, step = minmax_reference(np, w)
                if name not in out:
                    errors.append(f"exported GGUF: no tensor {name}")
                    continue
                t = out[name]
                compare(np, f"GGUF {name} ({t.tensor_type.name})",
                        dequantize(t.data, t.tensor_type), ref, step, errors, figures)
                if short not in ROW_PERMUTED:
                    compare(np, f"GPTQ model.layers.{b}.{hf}",
                            dec.get_tensor(f"model.layers.{b}.{hf}.weight"), ref, step, errors,
                            figures)
    for name, worst, whole in figures:
        print(f"{name}: max {worst:.4f} steps from the numpy reference, {whole} whole codes")
    if not partial_seen:
        errors.append(f"self-check: no linear checked has a partial group of {GROUP}")

    r = run([args.cli, "eval", "--model", exported, "--tokenizer", exported, "--data", text,
             "--window", "512", "--max-windows", str(args.windows)])
    ppl_export = perplexity_of(r.stdout)
    if ppl_session is None or ppl_export is None:
        errors.append(f"no perplexity printed (session {ppl_session}, export {ppl_export})")
    else:
        rel = abs(ppl_export - ppl_session) / ppl_session
        print(f"perplexity ({args.windows} windows of 512): session {ppl_session:.4f}, exported "
              f"GGUF reopened {ppl_export:.4f} ({100 * rel:.3f}% apart)")
        if rel > 0.005:
            errors.append(f"the exported GGUF's perplexity is {100 * rel:.3f}% from the session's")

    # llama.cpp on the exported file, with its exported tokenizer.
    rc = subprocess.call([sys.executable, os.path.join(HERE, "check_gguf_input.py"), "--cli",
                          args.cli, "--assets", args.assets, "--gguf", exported, "--work",
                          os.path.join(args.work, "llamacpp"), "--venv", args.venv,
                          "--ppl-windows", str(args.windows), "--forced", str(args.forced),
                          "--agree", str(args.agree)])
    if rc != 0:
        errors.append(f"llama.cpp on the exported GGUF: check_gguf_input.py exit {rc}")
    for e in errors:
        print(f"FAIL: {e}")
    print(f"{len(errors)} mismatches ({time.time() - t0:.0f} s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
