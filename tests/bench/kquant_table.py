#!/usr/bin/env python3
"""llama.cpp's presets: ZeroPoint's file against llama-quantize's, judged by llama.cpp itself.

For every preset: llama-quantize's file without and with an importance matrix (llama-imatrix on
the calibration documents), and ZeroPoint's (`zeropoint-cli quantize --method gptq-neuqi --preset
P` on the same documents, then `export --format gguf --preset P`), all from the same F32 base.
Each file is scored by llama-perplexity against the base's saved logits on WikiText-2 and on the
C4 documents the calibration did not see: perplexity, mean KL divergence, same-top-token rate.
Prints a Markdown table (README "K-quant presets"); --json writes every figure.

    build/pyenv/bin/python3 tests/bench/kquant_table.py --cli build/app/zeropoint-cli \\
        --model SMOL.gguf --tools build/pyenv/bin --assets ../shared/assets --work /tmp/kq \\
        [--presets Q2_K,Q3_K_M,Q4_K_M] [--calib-docs 200] [--nsamples 32] [--chunks 16]

Files and logits are kept in --work and reused when present (delete them to remeasure).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import llamacpp_judge as J  # noqa: E402

PRESETS = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
           "Q6_K", "Q8_0"]


LINEARS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def linear_bpw(path):
    """Bits per weight of a GGUF's block linear layers (read with the gguf package)."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    nbytes = weights = 0
    for t in r.tensors:
        parts = t.name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in LINEARS:
            nbytes += int(t.n_bytes)
            weights += int(t.n_elements)
    del r
    return 8.0 * nbytes / weights


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True, help="a GGUF llama-quantize and ZeroPoint both read")
    ap.add_argument("--tools", required=True, help="folder of llama-quantize, llama-imatrix, llama-perplexity")
    ap.add_argument("--assets", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--calib-docs", type=int, default=200)
    ap.add_argument("--nsamples", type=int, default=32)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--method", default="gptq-neuqi")
    ap.add_argument("--bpw-presets", default="",
                    help="also ZeroPoint --bpw at the linear layers' bits per weight of llama-quantize's "
                         "file of these presets (the budget against the preset of its size)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda name: os.path.join(a.work, name)  # noqa: E731
    tools = J.Tools(a.tools)
    base = tools.f32_base(a.model, w("f32.gguf"))
    cj, ct, held = J.split_corpus(os.path.join(a.assets, "text", "c4_demo.jsonl"), a.work, a.calib_docs)
    imat = tools.make_imatrix(base, ct, w("imatrix.gguf"), a.nsamples, a.seqlen)
    texts = {"wiki": os.path.join(a.assets, "text", "wikitext2_test.raw"), "c4": held}
    bases = {k: tools.kld_base(base, t, w(f"{k}.kld"), a.chunks) for k, t in texts.items()}
    results = {}
    if a.json and os.path.exists(a.json):
        results = json.load(open(a.json))
    for preset in a.presets.split(","):
        t0 = time.time()
        files = {
            "llama-quantize": tools.quantize_preset(base, preset, w(f"lq_{preset}.gguf")),
            "llama-quantize + imatrix": tools.quantize_preset(base, preset, w(f"lqi_{preset}.gguf"), imat),
        }
        zp = w(f"zp_{preset}.gguf")
        if not os.path.exists(zp):
            session = w(f"zp_{preset}.h5")
            J.run([a.cli, "quantize", "--model", base, "--tokenizer", base, "--method", a.method,
                   "--preset", preset, "--calib", cj, "--nsamples", str(a.nsamples), "--seqlen",
                   str(a.seqlen), "--out", session], log=session + ".log")
            J.run([a.cli, "export", "--session", session, "--model", base, "--tokenizer", base,
                   "--format", "gguf", "--preset", preset, "--out", zp], log=zp + ".log")
        files["ZeroPoint " + a.method] = zp
        if preset in a.bpw_presets.split(","):
            bpw = linear_bpw(files["llama-quantize"])
            zb = w(f"zpb_{preset}.gguf")
            if not os.path.exists(zb):
                session = w(f"zpb_{preset}.h5")
                J.run([a.cli, "quantize", "--model", base, "--tokenizer", base, "--method", a.method,
                       "--preset", preset, "--bpw", f"{bpw:.6f}", "--calib", cj, "--nsamples",
                       str(a.nsamples), "--seqlen", str(a.seqlen), "--out", session], log=session + ".log")
                J.run([a.cli, "export", "--session", session, "--model", base, "--tokenizer", base,
                       "--format", "gguf", "--preset", preset, "--out", zb], log=zb + ".log")
            files[f"ZeroPoint {a.method} --bpw {bpw:.3f}"] = zb
        row = {}
        for who, path in files.items():
            row[who] = {"bytes": os.path.getsize(path)}
            for k, b in bases.items():
                row[who][k] = tools.judge(path, b, log=path + f".{k}.log")
        results[preset] = row
        print(f"{preset}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        if a.json:
            json.dump(results, open(a.json, "w"), indent=1)
    print("| preset | file | bytes | WikiText-2 PPL | KLD | same top | C4 held-out PPL | KLD | same top |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset, row in results.items():
        for who, r in row.items():
            print(f"| {preset} | {who} | {r['bytes']:,} | {r['wiki']['ppl']:.2f} | {r['wiki']['kld']:.4f} | "
                  f"{100 * r['wiki']['top']:.1f}% | {r['c4']['ppl']:.2f} | {r['c4']['kld']:.4f} | "
                  f"{100 * r['c4']['top']:.1f}% |")
    print()
    print("| preset | KLD ZeroPoint / llama-quantize + imatrix, WikiText-2 | C4 held-out |")
    print("|---|---|---|")
    for preset, row in results.items():
        zp = [v for k, v in row.items() if k.startswith("ZeroPoint") and "--bpw" not in k][0]
        li = row["llama-quantize + imatrix"]
        print(f"| {preset} | {zp['wiki']['kld'] / li['wiki']['kld']:.3f} | {zp['c4']['kld'] / li['c4']['kld']:.3f} |")


if __name__ == "__main__":
    main()
