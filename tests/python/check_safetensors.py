#!/usr/bin/env python3
"""Independent check of ZeroPoint's safetensors exports (core/export/safetensors_export.h) through the
PyPI `safetensors` package (safe_open, framework="np") and numpy: the dequantized HF model, the
"zeropoint-packed" checkpoint and the GPTQ ("gptq_v2") checkpoint of one quantized model.

Usage: check_safetensors.py MANIFEST.json
       check_safetensors.py --decode-gptq GPTQ_DIR OUT_DIR
The second form writes the GPTQ checkpoint decoded in numpy (w = scales[g_idx] * (q - z)) as a
float32 HF directory that `zeropoint-cli eval --model OUT_DIR` reads: README's GPTQ perplexities.
The manifest (written by tests/core/tst_safetensors_export.cpp):
  {"dequantized": DIR, "packed": DIR, "gptq": DIR, "dtype": "F16",
   "gptq_bits": 4, "gptq_group": 32,        # the checkpoint-wide values in quantization_config
   "skipped": ["model.layers.0.mlp.up_proj"],   # layers left in full precision
   "layers": [{"prefix": "model.layers.0.self_attn.q_proj", "bits": 8, "group": 32,
               "gptq": "packed" | "fallback",
               "expected": "path.f32",       # packed only: raw float32 [out, in] the GPTQ tensors
                                             # must dequantize to, bit for bit (from the C++ side)
               "rel_error": r, "added_loss": a}]}   # the exporter's reported figures
What is checked, written from the documented layouts and not from ZeroPoint's code:
  * every file: names (derived here from config.json), dtypes and shapes;
  * packed: codes unpacked from the little-endian row bit stream, W_hat = s * (code - z) (float32)
    with ceil(in / group) groups per row, the last one shorter when group does not divide in;
  * dequantized: each quantized weight == W_hat rounded to float16, other tensors as in packed;
  * gptq: qweight/qzeros unpacked as GPTQ's int32 bit packing along the input (qweight) and output
    (qzeros) dimension; w = scales[g_idx] * (q - z) equals the expected values, is near W_hat with
    the reported relative error, and the reported added loss sum h (w - W_hat)^2 is reproduced
    with h = the packed file's hessian_diag; g_idx = c // group; config.json quantization_config
    and quantize_config.json.
Exit status 0 when everything matches; 1 with one line per mismatch on stdout; 2 when a module is
missing (the Qt test skips then).
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    from safetensors import safe_open
except ImportError as e:  # the caller skips, saying why
    print(f"python module missing: {e}")
    sys.exit(2)

errors = []


def fail(msg):
    errors.append(msg)


RAW_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BF16": np.uint16}


class File:
    """A safetensors file: names/dtypes/shapes and tensors through the `safetensors` package;
    BF16 (which numpy lacks) from the raw bytes, widened to float32."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            self.header = json.loads(f.read(n))
            self.data_start = 8 + n
        self.meta = self.header.pop("__metadata__", {})
        with safe_open(path, framework="np") as f:
            self.names = set(f.keys())
            for name in self.names:
                sl = f.get_slice(name)
                if list(sl.get_shape()) != self.header[name]["shape"]:
                    fail(f"{path}: {name}: the safetensors package reads shape {sl.get_shape()}, "
                         f"the header says {self.header[name]['shape']}")
                if sl.get_dtype() != self.header[name]["dtype"]:
                    fail(f"{path}: {name}: the safetensors package reads dtype {sl.get_dtype()}")
        if self.names != set(self.header):
            fail(f"{path}: the safetensors package lists other names than the header")

    def dtype(self, name):
        return self.header[name]["dtype"]

    def shape(self, name):
        return self.header[name]["shape"]

    def get(self, name):
        dt = self.dtype(name)
        if dt == "BF16":
            b, e = self.header[name]["data_offsets"]
            with open(self.path, "rb") as f:
                f.seek(self.data_start + b)
                raw = np.frombuffer(f.read(e - b), dtype="<u2").astype(np.uint32) << 16
            return raw.view(np.float32).reshape(self.shape(name))
        with safe_open(self.path, framework="np") as f:
            return f.get_tensor(name)

    def expect(self, name, dtype, shape):
        if name not in self.names:
            fail(f"{self.path}: tensor {name} is missing")
            return False
        if self.dtype(name) != dtype or self.shape(name) != list(shape):
            fail(f"{self.path}: {name} is {self.dtype(name)} {self.shape(name)}, expected "
                 f"{dtype} {list(shape)}")
            return False
        return True


def hf_names(cfg):
    """The HF tensor names and shapes a LLaMA-family config.json implies (core/formats/LAYOUTS.md)."""
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    V, L = cfg["vocab_size"], cfg["num_hidden_layers"]
    out = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H]}
    if not cfg.get("tie_word_embeddings", False):
        out["lm_head.weight"] = [V, H]
    for l in range(L):
        p = f"model.layers.{l}."
        out[p + "input_layernorm.weight"] = [H]
        out[p + "post_attention_layernorm.weight"] = [H]
        out[p + "self_attn.q_proj.weight"] = [nh * hd, H]
        out[p + "self_attn.k_proj.weight"] = [nkv * hd, H]
        out[p + "self_attn.v_proj.weight"] = [nkv * hd, H]
        out[p + "self_attn.o_proj.weight"] = [H, nh * hd]
        out[p + "mlp.gate_proj.weight"] = [I, H]
        out[p + "mlp.up_proj.weight"] = [I, H]
        out[p + "mlp.down_proj.weight"] = [H, I]
    return out


def unpack_rows(packed, bits, cols):
    """Packed layout: each row's codes as one little-endian bit stream (bit k of byte b = stream
    bit 8b + k), code j at stream bits j*bits .. j*bits+bits-1."""
    b = np.unpackbits(packed, axis=1, bitorder="little")[:, : cols * bits]
    b = b.reshape(packed.shape[0], cols, bits).astype(np.int64)
    return (b << np.arange(bits)).sum(axis=2)


def unpack_gptq(packed, bits, n):
    """GPTQ int32 packing along dim 0 of [n, m]: 2/4/8 bits: value i in word i // (32/bits) at bit
    (i % (32/bits)) * bits (AutoGPTQ's shifts); 3 bits: 32 values in 3 words, value i at stream
    bit 3i of the three words taken as one 96-bit little-endian number (values 10 and 21 straddle
    a word boundary, as in AutoGPTQ's pack for bits == 3)."""
    w = packed.astype(np.int64) & 0xFFFFFFFF  # [n*bits/32, m] as unsigned
    m = w.shape[1]
    mask = (1 << bits) - 1
    if 32 % bits == 0:
        per = 32 // bits
        i = np.arange(n)
        return ((w[i // per, :] >> ((i % per) * bits)[:, None]) & mask).astype(np.int64)
    if bits != 3:
        raise ValueError(f"no GPTQ packing for {bits} bits")
    out = np.zeros((n, m), dtype=np.int64)
    for chunk in range(n // 32):
        w0, w1, w2 = (w[3 * chunk + k, :] for k in range(3))
        for i in range(32):
            bit = 3 * i
            v = np.zeros(m, dtype=np.int64)
            for k in range(3):
                pos = bit + k
                word = (w0, w1, w2)[pos // 32]
                v |= ((word >> (pos % 32)) & 1) << k
            out[chunk * 32 + i, :] = v
    return out


def autogptq_pack3(iw):
    """AutoGPTQ's QuantLinear.pack loop for bits == 3 (values [n, m], n % 32 == 0), transcribed:
    the reference the 3-bit unpacker above is checked against."""
    iw = iw.astype(np.uint32)
    q = np.zeros((iw.shape[0] // 32 * 3, iw.shape[1]), dtype=np.uint32)
    i = row = 0
    while row < q.shape[0]:
        for j in range(i, i + 10):
            q[row] |= iw[j] << (3 * (j - i))
        i += 10
        q[row] |= iw[i] << 30
        row += 1
        q[row] |= (iw[i] >> 2) & 1
        i += 1
        for j in range(i, i + 10):
            q[row] |= iw[j] << (3 * (j - i) + 1)
        i += 10
        q[row] |= iw[i] << 31
        row += 1
        q[row] |= (iw[i] >> 1) & 0x3
        i += 1
        for j in range(i, i + 10):
            q[row] |= iw[j] << (3 * (j - i) + 2)
        i += 10
        row += 1
    return q.view(np.int32)


def load_cfg(d):
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


def gptq_weight(gf, prefix, bits):
    """w [out, in] float32 of one packed GPTQ layer: scales[g_idx] * (q - z)."""
    q = unpack_gptq(gf.get(prefix + ".qweight"), bits, gf.get(prefix + ".g_idx").shape[0])
    out = q.shape[1]
    z = unpack_gptq(gf.get(prefix + ".qzeros").T.copy(), bits, out).T
    s = gf.get(prefix + ".scales").astype(np.float32)
    gi = gf.get(prefix + ".g_idx").astype(np.int64)
    return (s[gi, :] * (q.astype(np.float32) - z[gi, :].astype(np.float32))).T


def decode_gptq(src, dst):
    import shutil
    from safetensors.numpy import save_file
    cfg = load_cfg(src)
    bits = cfg["quantization_config"]["bits"]
    gf = File(os.path.join(src, "model.safetensors"))
    tensors = {}
    for name in sorted(gf.names):
        if name.endswith(".qweight"):
            prefix = name[: -len(".qweight")]
            tensors[prefix + ".weight"] = np.ascontiguousarray(gptq_weight(gf, prefix, bits))
        elif not name.endswith((".qzeros", ".scales", ".g_idx")):
            tensors[name] = np.ascontiguousarray(gf.get(name).astype(np.float32))
    os.makedirs(dst, exist_ok=True)
    save_file(tensors, os.path.join(dst, "model.safetensors"))
    del cfg["quantization_config"]
    cfg["torch_dtype"] = "float32"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for extra in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, extra)):
            shutil.copy(os.path.join(src, extra), dst)
    print(f"{dst}: {len(tensors)} tensors, float32")


def main():
    if sys.argv[1] == "--decode-gptq":
        decode_gptq(sys.argv[2], sys.argv[3])
        return
    with open(sys.argv[1]) as f:
        man = json.load(f)
    vals = np.random.default_rng(0).integers(0, 8, (64, 3))
    if not np.array_equal(unpack_gptq(autogptq_pack3(vals), 3, 64), vals):
        fail("self-check: the 3-bit unpacker does not invert AutoGPTQ's pack loop")
    dtype = man["dtype"]
    skipped = set(man["skipped"])
    layers = {l["prefix"]: l for l in man["layers"]}

    # ---- packed: W_hat of every quantized layer, from the documented layout ----
    pcfg = load_cfg(man["packed"])
    qc = pcfg.get("quantization_config", {})
    if qc.get("format") != "zeropoint-packed" or qc.get("version") != 1:
        fail(f"packed config.json: quantization_config format/version {qc.get('format')} "
             f"{qc.get('version')}")
    pf = File(os.path.join(man["packed"], "model.safetensors"))
    if pf.meta.get("zeropoint") != "packed-1":
        fail(f"packed: __metadata__ {pf.meta}")
    names = hf_names(pcfg)
    jl = {l["tensor"]: l for l in qc.get("layers", [])}
    expected_packed = set()
    w_hat, hdiag = {}, {}
    for name, shape in names.items():
        prefix = name[: -len(".weight")]
        if prefix in layers:  # a quantized linear
            info = jl.get(prefix)
            if info is None:
                fail(f"packed config.json: no layer entry for {prefix}")
                continue
            bits, g = info["bits"], info["group_size"]
            out, inn = shape
            if info["in_features"] != inn or info["out_features"] != out or g != layers[prefix]["group"]:
                fail(f"packed config.json: {prefix} entry {info} disagrees with shape {shape}")
            ok = pf.expect(prefix + ".qcodes", "U8", [out, (inn * bits + 7) // 8])
            G = -(-inn // g)  # ceil: the last group is shorter when g does not divide in
            ok &= pf.expect(prefix + ".scales", "F32", [out, G])
            ok &= pf.expect(prefix + ".zeros", "F32", [out, G])
            expected_packed |= {prefix + ".qcodes", prefix + ".scales", prefix + ".zeros"}
            if prefix + ".hessian_diag" in pf.names:
                expected_packed.add(prefix + ".hessian_diag")
                if pf.expect(prefix + ".hessian_diag", "F64", [inn]):
                    hdiag[prefix] = pf.get(prefix + ".hessian_diag")
            if not ok:
                continue
            codes = unpack_rows(pf.get(prefix + ".qcodes"), bits, inn)
            if codes.max() >= (1 << bits):
                fail(f"packed: {prefix}: a code exceeds {bits} bits")
            s = np.repeat(pf.get(prefix + ".scales"), g, axis=1)[:, :inn]
            z = np.repeat(pf.get(prefix + ".zeros"), g, axis=1)[:, :inn]
            w_hat[prefix] = (s * (codes.astype(np.float32) - z)).astype(np.float32)
        else:
            expected_packed.add(name)
            pf.expect(name, "F32", shape)
            if prefix in skipped and jl.get(prefix, {}).get("skipped") is not True:
                fail(f"packed config.json: {prefix} should be marked skipped")
    if pf.names != expected_packed:
        fail(f"packed: unexpected tensors {sorted(pf.names - expected_packed)[:5]}, missing "
             f"{sorted(expected_packed - pf.names)[:5]}")

    # ---- dequantized: W_hat rounded to the dtype; the rest as in the packed file ----
    dcfg = load_cfg(man["dequantized"])
    if "quantization_config" in dcfg:
        fail("dequantized config.json must not claim a quantization_config")
    if dcfg.get("torch_dtype") != {"F16": "float16", "BF16": "bfloat16"}[dtype]:
        fail(f"dequantized config.json: torch_dtype {dcfg.get('torch_dtype')}")
    df = File(os.path.join(man["dequantized"], "model.safetensors"))
    if df.names != set(names):
        fail(f"dequantized: tensor names differ from the HF layout: extra "
             f"{sorted(df.names - set(names))[:5]}, missing {sorted(set(names) - df.names)[:5]}")
    for name, shape in names.items():
        want_dt = "F32" if "norm" in name else dtype
        if not df.expect(name, want_dt, shape):
            continue
        prefix = name[: -len(".weight")]
        got = df.get(name).astype(np.float32)
        if prefix in w_hat:
            ref = w_hat[prefix].astype(np.float16).astype(np.float32)
        elif name in pf.names:
            ref = pf.get(name).astype(np.float16 if want_dt == "F16" else np.float32).astype(np.float32)
        else:
            continue
        if not np.array_equal(got, ref):
            fail(f"dequantized: {name} differs from the packed file's values rounded to {want_dt} "
                 f"(max diff {np.abs(got - ref).max():.3g})")

    # ---- gptq ----
    gcfg = load_cfg(man["gptq"])
    gqc = gcfg.get("quantization_config", {})
    for k, v in {"quant_method": "gptq", "checkpoint_format": "gptq_v2", "sym": False,
                 "desc_act": False, "bits": man["gptq_bits"], "group_size": man["gptq_group"]}.items():
        if gqc.get(k) != v:
            fail(f"gptq config.json: quantization_config.{k} = {gqc.get(k)!r}, expected {v!r}")
    with open(os.path.join(man["gptq"], "quantize_config.json")) as f:
        if json.load(f) != gqc:
            fail("gptq: quantize_config.json differs from config.json's quantization_config")
    gf = File(os.path.join(man["gptq"], "model.safetensors"))
    expected_gptq = set()
    n_packed = 0
    for name, shape in names.items():
        prefix = name[: -len(".weight")]
        lay = layers.get(prefix)
        if lay is None or lay["gptq"] == "fallback":
            expected_gptq.add(name)
            want_dt = "F32" if "norm" in name else "F16"
            if gf.expect(name, want_dt, shape) and lay is not None:
                got = gf.get(name).astype(np.float32)
                if not np.array_equal(got, w_hat[prefix].astype(np.float16).astype(np.float32)):
                    fail(f"gptq: fallback {name} is not W_hat in float16")
            continue
        out, inn = shape
        bits, g = lay["bits"], lay["group"]
        G = -(-inn // g)  # ceil(in / g), as GPTQModel's QuantLinear allocates scales and qzeros
        names4 = {prefix + s for s in (".qweight", ".qzeros", ".scales", ".g_idx")}
        expected_gptq |= names4
        ok = gf.expect(prefix + ".qweight", "I32", [inn * bits // 32, out])
        ok &= gf.expect(prefix + ".qzeros", "I32", [G, out * bits // 32])
        ok &= gf.expect(prefix + ".scales", "F16", [G, out])
        ok &= gf.expect(prefix + ".g_idx", "I32", [inn])
        if not ok:
            continue
        n_packed += 1
        gi = gf.get(prefix + ".g_idx").astype(np.int64)
        if not np.array_equal(gi, np.arange(inn) // g):
            fail(f"gptq: {prefix}.g_idx is not c // {g}")
            continue
        w = gptq_weight(gf, prefix, bits)  # [out, in]
        exp = np.fromfile(lay["expected"], dtype="<f4").reshape(out, inn)
        if not np.array_equal(w, exp):
            fail(f"gptq: {prefix} dequantizes differently from the expected values "
                 f"(max diff {np.abs(w - exp).max():.3g})")
        ref = w_hat[prefix].astype(np.float64)
        d = w.astype(np.float64) - ref
        rel = np.linalg.norm(d) / max(np.linalg.norm(ref), 1e-300)
        if abs(rel - lay["rel_error"]) > 1e-6 * max(rel, 1e-12) + 1e-12:
            fail(f"gptq: {prefix}: relative error vs W_hat {rel:.9g}, reported {lay['rel_error']:.9g}")
        h = hdiag.get(prefix, np.ones(inn))
        added = float((d * d * h[None, :]).sum())
        if added < 0 or abs(added - lay["added_loss"]) > 1e-6 * max(added, 1e-12) + 1e-15:
            fail(f"gptq: {prefix}: added loss {added:.9g}, reported {lay['added_loss']:.9g}")
        if rel > 0.5:
            fail(f"gptq: {prefix}: relative error {rel:.3g} vs W_hat is implausibly large")
    if gf.names != expected_gptq:
        fail(f"gptq: unexpected tensors {sorted(gf.names - expected_gptq)[:5]}, missing "
             f"{sorted(expected_gptq - gf.names)[:5]}")

    if errors:
        for e in errors:
            print(e)
        sys.exit(1)
    print(f"check_safetensors: {len(names)} HF tensors; packed {len(w_hat)} layers decoded; "
          f"dequantized matches; gptq {n_packed} layers unpacked (bits "
          f"{sorted({l['bits'] for l in man['layers'] if l['gptq'] == 'packed'})}) and match")


if __name__ == "__main__":
    main()
