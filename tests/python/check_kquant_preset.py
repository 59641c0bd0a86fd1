#!/usr/bin/env python3
"""One llama.cpp preset end to end on the real model (issue 26): SmolLM2-135M-Instruct as Q4_K_M.

1. An F32 base by `llama-quantize --allow-requantize SMOL F32` (the dequantized weights), and
   llama-quantize's own Q4_K_M of it (no importance matrix: the file people get in seconds).
2. ZeroPoint: `zeropoint-cli quantize --method gptq-neuqi --preset Q4_K_M` calibrated on C4
   documents, then `export --format gguf --preset Q4_K_M`.
3. Read with the PyPI `gguf` package: every tensor has llama-quantize's type and data bytes, tensor
   by tensor, and the file size is within 0.1% of llama-quantize's.
4. What the file holds is what the session evaluated: every linear layer dequantized by `gguf`
   equals, bit for bit, the session's W_hat as `export --format safetensors --dtype f32` writes it
   (q/k rows put in GGUF's rope order first).
5. llama.cpp loads and runs it: llama-perplexity on WikiText-2 against the F32 base's logits; its
   mean KL divergence is below llama-quantize's file's.
Usage: check_kquant_preset.py --cli zeropoint-cli --assets ../shared/assets --gguf SMOL --work DIR
       [--venv DIR] [--tools DIR] [--preset Q4_K_M] [--nsamples 8] [--seqlen 256] [--chunks 8]
Exit 0: pass; 1: failure (one line each); 77: skipped, saying why (a failure under CI).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llamacpp_common import import_llama_cpp, skip  # noqa: E402
import llamacpp_judge as J  # noqa: E402
from check_gguf_input import model_path  # noqa: E402

GGUF_LINEARS = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def rope_order(w, n_head):
    """HF q/k rows -> GGUF's: per head, row 2i = HF row i, row 2i + 1 = HF row i + head_dim / 2."""
    import numpy as np
    rows, cols = w.shape
    hd = rows // n_head
    return np.ascontiguousarray(w.reshape(n_head, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--gguf", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    p.add_argument("--tools", default="", help="folder of llama-quantize / llama-perplexity (default VENV/bin)")
    p.add_argument("--preset", default="Q4_K_M")
    p.add_argument("--nsamples", type=int, default=8)
    p.add_argument("--seqlen", type=int, default=256)
    p.add_argument("--chunks", type=int, default=8)
    a = p.parse_args()
    import_llama_cpp(a.venv)
    a.gguf = model_path(a)  # skips (fails under CI) saying why when SmolLM2 is missing  # the venv with numpy, gguf and safetensors
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open
    tools_dir = a.tools or os.path.join(a.venv, "bin")
    try:
        tools = J.Tools(tools_dir)
    except FileNotFoundError as e:
        why = f"llama.cpp tool {e} missing (packaging/setup.sh tools builds it)"
        if os.environ.get("ZP_REQUIRE_LLAMACPP") == "1":
            print(f"FAIL: {why} (ZP_REQUIRE_LLAMACPP=1)")
            return 1
        skip(why)
    os.makedirs(a.work, exist_ok=True)
    w = lambda n: os.path.join(a.work, n)  # noqa: E731
    fails = []
    try:
        base = tools.f32_base(a.gguf, w("f32.gguf"))
        cj, _, _ = J.split_corpus(os.path.join(a.assets, "text", "c4_demo.jsonl"), a.work, 200)
        lq = tools.quantize_preset(base, a.preset, w(f"lq_{a.preset}.gguf"))
        session, zp, st = w("zp.h5"), w(f"zp_{a.preset}.gguf"), w("zp_f32")
        for path in (session, zp):
            if os.path.exists(path):
                os.remove(path)
        J.run([a.cli, "quantize", "--model", base, "--tokenizer", base, "--method", "gptq-neuqi",
               "--preset", a.preset, "--calib", cj, "--nsamples", str(a.nsamples), "--seqlen",
               str(a.seqlen), "--out", session], log=session + ".log")
        J.run([a.cli, "export", "--session", session, "--model", base, "--tokenizer", base,
               "--format", "gguf", "--preset", a.preset, "--out", zp], log=zp + ".log")
        J.run([a.cli, "export", "--session", session, "--model", base, "--tokenizer", base,
               "--format", "safetensors", "--dtype", "f32", "--out", st], log=st + ".log")
    except J.JudgeError as e:
        print(f"FAIL: {e}")
        return 1

    # 3. types and bytes.
    ours, theirs = J.tensor_types(zp), J.tensor_types(lq)
    if set(ours) != set(theirs):
        fails.append(f"tensor names differ: only ours {sorted(set(ours) - set(theirs))[:5]}, "
                     f"only llama-quantize's {sorted(set(theirs) - set(ours))[:5]}")
    for name in sorted(set(ours) & set(theirs)):
        if ours[name] != theirs[name]:
            fails.append(f"{name}: ours {ours[name]}, llama-quantize {theirs[name]} (type, bytes)")
    sz, sl = os.path.getsize(zp), os.path.getsize(lq)
    print(f"{a.preset}: {len(ours)} tensors; file {sz:,} bytes, llama-quantize {sl:,} "
          f"({100 * (sz - sl) / sl:+.4f}%)")
    if abs(sz - sl) > 0.001 * sl:
        fails.append(f"file size {sz} not within 0.1% of llama-quantize's {sl}")

    # 4. the file holds the session's W_hat, bit for bit.
    r = GGUFReader(zp)
    heads = {k: int(r.fields[f"llama.attention.{k}"].parts[-1][0]) for k in ("head_count", "head_count_kv")}
    checked = 0
    with safe_open(os.path.join(st, "model.safetensors"), framework="np") as f:
        for t in r.tensors:
            parts = t.name.split(".")
            if len(parts) != 4 or parts[0] != "blk" or parts[2] not in GGUF_LINEARS:
                continue
            got = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(
                int(t.shape[1]), int(t.shape[0]))
            ref = f.get_tensor(f"model.layers.{parts[1]}.{GGUF_LINEARS[parts[2]]}.weight").astype(np.float32)
            if parts[2] == "attn_q":
                ref = rope_order(ref, heads["head_count"])
            elif parts[2] == "attn_k":
                ref = rope_order(ref, heads["head_count_kv"])
            if ref.shape != got.shape or not np.array_equal(got.view(np.uint32), ref.view(np.uint32)):
                diff = np.abs(got - ref).max() if ref.shape == got.shape else "shape"
                fails.append(f"{t.name} ({t.tensor_type.name}): gguf's values are not the session's "
                             f"W_hat (max |diff| {diff})")
            checked += 1
    del r
    print(f"{checked} linear tensors dequantized by gguf equal the session's W_hat bit for bit"
          if not fails else f"{checked} linear tensors compared")

    # 5. llama.cpp runs it; KL divergence below llama-quantize's.
    try:
        kb = tools.kld_base(base, os.path.join(a.assets, "text", "wikitext2_test.raw"),
                            w(f"wiki{a.chunks}.kld"), a.chunks)
        jz = tools.judge(zp, kb, log=zp + ".kld.log")
        jl = tools.judge(lq, kb, log=lq + ".kld.log")
    except J.JudgeError as e:
        print(f"FAIL: {e}")
        return 1
    print(f"llama-perplexity, {a.chunks} x 512 of WikiText-2 vs the F32 base: ZeroPoint PPL "
          f"{jz['ppl']:.3f} KLD {jz['kld']:.5f} top {100 * jz['top']:.1f}% | llama-quantize PPL "
          f"{jl['ppl']:.3f} KLD {jl['kld']:.5f} top {100 * jl['top']:.1f}%")
    if not jz["kld"] < jl["kld"]:
        fails.append(f"KL divergence {jz['kld']} not below llama-quantize's {jl['kld']}")
    for f_ in fails:
        print("FAIL: " + f_)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
