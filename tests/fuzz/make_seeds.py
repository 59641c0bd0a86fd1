#!/usr/bin/env python3
"""Seed inputs for the fuzz targets (tests/fuzz/README.md), made from the real assets in
../shared/assets and from ZeroPoint's own outputs for them (a session, a packed checkpoint, a GGUF
export, an HF conversion). Nothing here is committed: the seeds are rebuilt in the build folder.

    make_seeds.py --assets DIR --cli zeropoint-cli --out DIR

Without the assets (a clone without ../shared) it makes no seeds and says so: the targets then
fuzz from their committed corpus alone, as the other tests skip what needs the assets. Without the
CLI it exits 77 (skip) with the reason, and under CI=true that is a failure (exit 1).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def skip(why):
    if os.environ.get("CI") == "true":
        print(f"make_seeds: {why} (CI=true: this is a failure)", file=sys.stderr)
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    A = lambda *p: os.path.join(a.assets, *p)
    model, tok = A("models", "stories260K.bin"), A("tokenizers", "tok512.bin")
    needed = [model, tok, A("tokenizers", "llama2_tokenizer.model"), A("tokenizers", "gpt2-vocab.json"),
              A("tokenizers", "gpt2-merges.txt"), A("tokenizers", "ggml-vocab-llama-spm.gguf"),
              A("tokenizers", "ggml-vocab-gpt-2.gguf")]
    missing = [p for p in needed if not os.path.exists(p)]
    if missing:
        shutil.rmtree(a.out, ignore_errors=True)
        os.makedirs(a.out)
        print(f"no seeds: the assets are absent ({', '.join(missing)}); the targets fuzz from "
              "their committed corpus (tests/fuzz/corpus) alone")
        return
    if not os.access(a.cli, os.X_OK):
        skip(f"zeropoint-cli not found at {a.cli} (build the main tree first)")
    shutil.rmtree(a.out, ignore_errors=True)
    read = lambda p: open(p, "rb").read()

    # The real files as they are, and short prefixes of them (headers alone).
    for target, path in [("llama2c_model", model), ("llama2c_tokenizer", tok),
                         ("sentencepiece", A("tokenizers", "llama2_tokenizer.model")),
                         ("gguf", A("tokenizers", "ggml-vocab-llama-spm.gguf")),
                         ("gguf", A("tokenizers", "ggml-vocab-gpt-2.gguf"))]:
        data = read(path)
        put(a.out, target, os.path.basename(path), data)
        put(a.out, target, os.path.basename(path) + ".head", data[:4096])

    # tokenizer.json: GPT-2's byte-level BPE from its vocab.json and merges.txt (the first 2,000
    # merges keep each parse short), and a small SentencePiece-style one.
    vocab = json.load(open(A("tokenizers", "gpt2-vocab.json"), encoding="utf-8"))
    merges = [m for m in open(A("tokenizers", "gpt2-merges.txt"), encoding="utf-8").read().splitlines()
              if m and not m.startswith("#version")][:2000]
    keep = {k: v for k, v in vocab.items() if v < 2300}
    gpt2 = {"version": "1.0", "added_tokens": [{"id": 2299, "content": "<|endoftext|>", "special": True}],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False,
                      "byte_fallback": False, "vocab": keep,
                      "merges": [m for m in merges if all(p in keep for p in m.split(" "))
                                 and m.replace(" ", "") in keep]}}
    put(a.out, "tokenizer_json", "gpt2.json", json.dumps(gpt2).encode())
    spm = {"version": "1.0", "added_tokens": [], "normalizer": {"type": "Sequence", "normalizers": [
               {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "},
                                                          "content": "\u2581"}]},
           "pre_tokenizer": None, "post_processor": None,
           "decoder": {"type": "Sequence", "decoders": [
               {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
               {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                     "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "\u2581a": 6, "ab": 7,
                               **{f"<0x{i:02X}>": 8 + i for i in range(256)}},
                     "merges": ["\u2581 a", "a b"]}}
    put(a.out, "tokenizer_json", "spm.json", json.dumps(spm).encode())

    with tempfile.TemporaryDirectory() as tmp:
        T = lambda *p: os.path.join(tmp, *p)
        # HF conversion: config.json, model.safetensors (and its tokenizer.json where written).
        run([a.cli, "convert", "--model", model, "--out", T("hf")])
        put(a.out, "hf_config", "stories260K.json", read(T("hf", "config.json")))
        for arch in ("qwen2", "qwen3", "mistral"):
            cfg = json.loads(read(T("hf", "config.json")))
            cfg["model_type"], cfg["architectures"] = arch, [arch.capitalize() + "ForCausalLM"]
            if arch != "mistral":
                cfg["rope_theta"], cfg["tie_word_embeddings"] = 1000000.0, True
            put(a.out, "hf_config", arch + ".json", json.dumps(cfg).encode())
        put(a.out, "safetensors", "stories260K.safetensors", read(T("hf", "model.safetensors")))
        if os.path.exists(T("hf", "tokenizer.json")):
            put(a.out, "tokenizer_json", "stories260K.json", read(T("hf", "tokenizer.json")))
        # A 4-bit RTN Min-Max session, its GGUF export and its packed checkpoint.
        run([a.cli, "quantize", "--model", model, "--tokenizer", tok, "--method", "rtn-minmax",
             "--bits", "4", "--out", T("s.h5")])
        put(a.out, "session", "stories260K-rtn4.h5", read(T("s.h5")))
        run([a.cli, "export", "--session", T("s.h5"), "--model", model, "--tokenizer", tok,
             "--format", "gguf", "--out", T("s.gguf")])
        put(a.out, "gguf", "stories260K-q4_1.gguf", read(T("s.gguf")))
        run([a.cli, "export", "--session", T("s.h5"), "--model", model, "--tokenizer", tok,
             "--format", "packed", "--out", T("packed")])
        cfg = read(T("packed", "config.json"))
        put(a.out, "packed", "stories260K-rtn4.packed",
            struct.pack("<I", len(cfg)) + cfg + read(T("packed", "model.safetensors")))
    for d in sorted(os.listdir(a.out)):
        print(f"{d}: {len(os.listdir(os.path.join(a.out, d)))} seeds")


if __name__ == "__main__":
    main()
