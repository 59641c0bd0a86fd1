#!/usr/bin/env python3
"""A Hugging Face model directory of a real model's SHAPE, with seeded random weights.

For benchmarks of memory and time at 1B-8B scale, where the weights' values do not matter and no
real model of that size can be downloaded: writes config.json, sharded safetensors
(model-0000K-of-0000N.safetensors, each at most --shard-gb) with model.safetensors.index.json as
the hub publishes them, and a tokenizer copied from the assets (LLaMA 2's SentencePiece
tokenizer.model; it covers the first 32,000 ids of any vocabulary, enough to run text through a
shape). Linear weights are N(0, 0.02^2), norms 1, biases 0, all seeded per tensor, written in
bf16 or fp16 one row chunk at a time (memory: one chunk, not the model).

THE RESULT IS A SHAPE, NOT A MODEL: its text is noise. config.json says so in "_zeropoint_note",
every shard in its metadata ("zeropoint_shape_only"), and a NOTICE.txt beside them.

    python3 tests/bench/make_shape_model.py --shape llama-2-7b --out /tmp/llama-2-7b-shape \\
        [--dtype bf16|fp16] [--seed 0] [--shard-gb 5] [--layers N] [--vocab V] \\
        [--tokenizer ../shared/assets/tokenizers/llama2_tokenizer.model]

--layers and --vocab shrink a shape for quick tests. Shapes (from the models' config.json files):
llama-2-7b, llama-3-8b, qwen2.5-7b, llama-3.2-1b.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

SHAPES = {
    "llama-2-7b": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=4096,
                       intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096,
                       rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                       hidden_act="silu", bos_token_id=1, eos_token_id=2),
    "llama-3-8b": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=4096,
                       intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192,
                       rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                       hidden_act="silu", bos_token_id=128000, eos_token_id=128001),
    "qwen2.5-7b": dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=3584,
                       intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768,
                       rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                       hidden_act="silu", bos_token_id=151643, eos_token_id=151643),
    "llama-3.2-1b": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=2048,
                         intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=64, vocab_size=128256,
                         max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
                         tie_word_embeddings=True, hidden_act="silu", bos_token_id=128000,
                         eos_token_id=128001,
                         rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                           high_freq_factor=4.0,
                                           original_max_position_embeddings=8192)),
}

CHUNK = 1 << 24  # values generated at once (64 MB of float32)


def tensors(cfg):
    """(name, shape, kind) in the order HF checkpoints list them; kind: linear, norm, bias."""
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", H // nh)
    bias = cfg["model_type"] == "qwen2"
    out = [("model.embed_tokens.weight", (cfg["vocab_size"], H), "linear")]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out.append((p + "input_layernorm.weight", (H,), "norm"))
        out.append((p + "self_attn.q_proj.weight", (nh * hd, H), "linear"))
        out.append((p + "self_attn.k_proj.weight", (nkv * hd, H), "linear"))
        out.append((p + "self_attn.v_proj.weight", (nkv * hd, H), "linear"))
        if bias:
            out.append((p + "self_attn.q_proj.bias", (nh * hd,), "bias"))
            out.append((p + "self_attn.k_proj.bias", (nkv * hd,), "bias"))
            out.append((p + "self_attn.v_proj.bias", (nkv * hd,), "bias"))
        out.append((p + "self_attn.o_proj.weight", (H, nh * hd), "linear"))
        out.append((p + "post_attention_layernorm.weight", (H,), "norm"))
        out.append((p + "mlp.gate_proj.weight", (I, H), "linear"))
        out.append((p + "mlp.up_proj.weight", (I, H), "linear"))
        out.append((p + "mlp.down_proj.weight", (H, I), "linear"))
    out.append(("model.norm.weight", (H,), "norm"))
    if not cfg["tie_word_embeddings"]:
        out.append(("lm_head.weight", (cfg["vocab_size"], H), "linear"))
    return out


def to_half(x, dtype):
    """float32 -> the 16-bit pattern of bf16 (round to nearest even) or fp16."""
    if dtype == "fp16":
        return x.astype(np.float16).view(np.uint16)
    u = x.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_tensor(f, shape, kind, dtype, seed):
    n = int(np.prod(shape))
    if kind != "linear":
        value = 1.0 if kind == "norm" else 0.0
        f.write(to_half(np.full(n, value, dtype=np.float32), dtype).tobytes())
        return
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        x = rng.standard_normal(k, dtype=np.float32)
        x *= 0.02
        f.write(to_half(x, dtype).tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-gb", type=float, default=5.0)
    ap.add_argument("--layers", type=int, default=0, help="fewer decoder layers (0: the shape's)")
    ap.add_argument("--vocab", type=int, default=0, help="a smaller vocabulary (0: the shape's)")
    ap.add_argument("--tokenizer", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "assets",
        "tokenizers", "llama2_tokenizer.model"))
    a = ap.parse_args()

    cfg = dict(SHAPES[a.shape])
    if a.layers > 0:
        cfg["num_hidden_layers"] = a.layers
    if a.vocab > 0:
        cfg["vocab_size"] = a.vocab
    cfg["torch_dtype"] = "bfloat16" if a.dtype == "bf16" else "float16"
    cfg["_zeropoint_note"] = (f"random weights in the shape of {a.shape} (seed {a.seed}): a "
                              "shape for benchmarks, not a model")
    if not os.path.isfile(a.tokenizer):
        sys.exit(f"{a.tokenizer}: no such tokenizer (--tokenizer; ../shared/assets holds one)")
    if os.path.exists(a.out) and os.listdir(a.out):
        sys.exit(f"{a.out}: exists and is not empty")
    t0 = time.time()
    tmp = a.out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)

    # Shards: consecutive tensors up to --shard-gb each (a tensor larger than that alone).
    limit = int(a.shard_gb * (1 << 30))
    shards, cur, size = [], [], 0
    for t in tensors(cfg):
        nbytes = 2 * int(np.prod(t[1]))
        if cur and size + nbytes > limit:
            shards.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += nbytes
    shards.append(cur)

    weight_map, total, index = {}, 0, 0
    for k, shard in enumerate(shards):
        name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt", "zeropoint_shape_only": a.shape}}, 0
        for tname, shape, _ in shard:
            nbytes = 2 * int(np.prod(shape))
            header[tname] = {"dtype": "BF16" if a.dtype == "bf16" else "F16",
                             "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
            weight_map[tname] = name
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for tname, shape, kind in shard:
                write_tensor(f, shape, kind, a.dtype, a.seed * 1000003 + index)
                index += 1
        total += offset
        print(f"{name}: {len(shard)} tensors, {offset / 2**30:.2f} GiB "
              f"({time.time() - t0:.0f} s)", flush=True)
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shutil.copyfile(a.tokenizer, os.path.join(tmp, "tokenizer.model"))
    with open(os.path.join(tmp, "NOTICE.txt"), "w") as f:
        f.write(cfg["_zeropoint_note"] + ".\nWritten by ZeroPoint's tests/bench/make_shape_model.py; "
                "its outputs are noise. The tokenizer is LLaMA 2's (32,000 pieces).\n")
    os.replace(tmp, a.out)
    params = sum(int(np.prod(s)) for s, in [(t[1],) for t in tensors(cfg)])
    print(f"{a.out}: {a.shape} shape, {params / 1e9:.2f} B parameters, {total / 2**30:.2f} GiB "
          f"{a.dtype} in {len(shards)} shards, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
