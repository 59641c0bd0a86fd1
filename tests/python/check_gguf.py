#!/usr/bin/env python3
"""Independent check of a GGUF file written by ZeroPoint, through the PyPI `gguf` package
(llama.cpp's gguf-py): GGUFReader parses the file, gguf.quants.dequantize decodes the blocks.

Usage: check_gguf.py MANIFEST.json
The manifest (written by tests/core/tst_gguf.cpp) says what the file must hold:
  {"file": "x.gguf",
   "tensor_count": 12,                       # optional: exact number of tensors
   "metadata": {"key": {"type": "UINT32", "value": 3}, ...},   # type: gguf.GGUFValueType name;
                                             # arrays: {"type": "ARRAY", "element_type": "STRING",
                                             #          "count": 512, "first": [...]} (optional "first")
   "tensors": [{"name": "blk.0.attn_q.weight", "type": "Q4_1", "shape": [64, 64],   # ne order
                "expected": "path.f32"}]}    # raw little-endian float32, row-major: the values
                                             # the tensor must dequantize to, bit for bit
Exit status 0 when everything matches; 1 with one line per mismatch on stdout; 2 when the gguf
module is missing (the Qt test skips then).
"""
import json
import struct
import sys

try:
    import numpy as np
    import gguf
    from gguf import GGUFReader
    from gguf.quants import dequantize
except ImportError as e:  # the caller skips, saying why
    print(f"python module missing: {e}")
    sys.exit(2)


def field_value(field):
    if hasattr(field, "contents"):
        return field.contents()
    # Older gguf-py: decode by hand.
    if field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        if field.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    return field.parts[field.data[0]].tolist()[0]


def same_value(got, want, vtype):
    if vtype in ("FLOAT32",):
        return struct.pack("<f", float(got)) == struct.pack("<f", float(want))
    if vtype == "BOOL":
        return bool(got) == bool(want)
    return got == want


def main():
    manifest = json.load(open(sys.argv[1], encoding="utf-8"))
    errors = []
    reader = GGUFReader(manifest["file"])

    want_count = manifest.get("tensor_count")
    if want_count is not None and len(reader.tensors) != want_count:
        errors.append(f"tensor count {len(reader.tensors)}, expected {want_count}")

    for key, spec in manifest.get("metadata", {}).items():
        field = reader.fields.get(key)
        if field is None:
            errors.append(f"metadata {key}: missing")
            continue
        got_type = field.types[0].name
        if got_type != spec["type"]:
            errors.append(f"metadata {key}: type {got_type}, expected {spec['type']}")
            continue
        value = field_value(field)
        if spec["type"] == "ARRAY":
            et = field.types[-1].name if len(field.types) > 1 else "?"
            if et != spec["element_type"]:
                errors.append(f"metadata {key}: element type {et}, expected {spec['element_type']}")
            if "count" in spec and len(value) != spec["count"]:
                errors.append(f"metadata {key}: {len(value)} elements, expected {spec['count']}")
            for i, w in enumerate(spec.get("first", [])):
                if i >= len(value) or not same_value(value[i], w, spec["element_type"]):
                    errors.append(f"metadata {key}[{i}]: {value[i] if i < len(value) else None!r}, expected {w!r}")
                    break
        elif not same_value(value, spec["value"], spec["type"]):
            errors.append(f"metadata {key}: {value!r}, expected {spec['value']!r}")

    by_name = {t.name: t for t in reader.tensors}
    for spec in manifest.get("tensors", []):
        t = by_name.get(spec["name"])
        if t is None:
            errors.append(f"tensor {spec['name']}: missing")
            continue
        if t.tensor_type.name != spec["type"]:
            errors.append(f"tensor {spec['name']}: type {t.tensor_type.name}, expected {spec['type']}")
            continue
        shape = [int(x) for x in t.shape]
        if shape != spec["shape"]:
            errors.append(f"tensor {spec['name']}: shape {shape}, expected {spec['shape']}")
            continue
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)
        want = np.fromfile(spec["expected"], dtype="<f4")
        if values.size != want.size:
            errors.append(f"tensor {spec['name']}: {values.size} values, expected {want.size}")
            continue
        diff = np.nonzero(values.view(np.uint32) != want.view(np.uint32))[0]
        if diff.size:
            i = int(diff[0])
            errors.append(f"tensor {spec['name']}: {diff.size} values differ bitwise, first at {i}: "
                          f"{values[i]!r} vs {want[i]!r}")
        else:
            # "Through fp16": the fp16 images agree as well (the values are fp16-exact products).
            # K-quant products may exceed fp16's range: both sides then cast to the same Inf.
            with np.errstate(over="ignore"):
                same16 = np.array_equal(values.astype(np.float16).view(np.uint16),
                                        want.astype(np.float16).view(np.uint16))
            if not same16:
                errors.append(f"tensor {spec['name']}: fp16 images differ")

    for e in errors:
        print(e)
    print(f"checked {manifest['file']}: {len(manifest.get('tensors', []))} tensors, "
          f"{len(manifest.get('metadata', {}))} keys, {len(errors)} mismatches")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
