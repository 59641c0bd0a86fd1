#!/usr/bin/env python3
"""NeUQI's lightweight distillation, measured: GPTQ + Min-Max and GPTQ + NeUQI, before and after
`zeropoint-cli distill`, with the same calibration draw for quantization, the same training
sequences and steps for distillation, and the same evaluation windows (README "Distillation:
measured").

    python3 tests/bench/distill_table.py --cli build/app/zeropoint-cli \
        --model ../shared/assets/models/stories260K.bin --tokenizer ../shared/assets/tokenizers/tok512.bin \
        --calib ../shared/assets/text/tinystories_val.txt --eval ../shared/assets/text/wikitext2_test.raw \
        --eval ../shared/assets/text/c4_demo.jsonl --bits 2,3 --groups -1
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

QPPL = re.compile(r"^perplexity on (.+): (?:original ([0-9.eE+-]+|nan|inf), )?quantized ([0-9.eE+-]+|nan|inf)$")
DPPL = re.compile(r"^perplexity on (.+): session ([0-9.eE+-]+|nan|inf), distilled ([0-9.eE+-]+|nan|inf)$")
DSUM = re.compile(r"^distillation: (\d+) steps, (\d+) tokens, ([0-9.]+) s; loss ([0-9.eE+-]+) -> ([0-9.eE+-]+)$")


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit("failed: " + " ".join(cmd))
    return p.stdout, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--calib", required=True, help="quantization and distillation text")
    ap.add_argument("--eval", action="append", required=True)
    ap.add_argument("--bits", default="2,3")
    ap.add_argument("--groups", default="-1")
    ap.add_argument("--methods", default="gptq-minmax,gptq-neuqi")
    ap.add_argument("--nsamples", default="32", help="quantization calibration sequences")
    ap.add_argument("--seqlen", default="256")
    ap.add_argument("--distill-nsamples", default="64", help="distillation sequences (seed 1)")
    ap.add_argument("--distill-seqlen", default="256")
    ap.add_argument("--lr", default="0.0003")
    ap.add_argument("--epochs", default="1")
    ap.add_argument("--window", default="512")
    ap.add_argument("--eval-windows", default="32")
    ap.add_argument("--holdout", type=int, default=0,
                    help="for a JSON-lines --calib: its last K documents are held out; calibration and "
                         "distillation draw from the others, and an --eval of the same file reads only those K")
    a = ap.parse_args()

    rows, fp = [], None
    with tempfile.TemporaryDirectory() as tmp:
        if a.holdout:
            docs = open(a.calib, encoding="utf-8").read().splitlines()
            if not a.calib.endswith(".jsonl") or a.holdout >= len(docs):
                raise SystemExit("--holdout needs a JSON-lines --calib with more than K documents")
            base = os.path.splitext(os.path.basename(a.calib))[0]
            train, held = os.path.join(tmp, base + "_train.jsonl"), os.path.join(tmp, base + "_heldout.jsonl")
            open(train, "w", encoding="utf-8").write("\n".join(docs[:-a.holdout]) + "\n")
            open(held, "w", encoding="utf-8").write("\n".join(docs[-a.holdout:]) + "\n")
            a.eval = [held if os.path.abspath(e) == os.path.abspath(a.calib) else e for e in a.eval]
            a.calib = train
            print(f"# {base}: documents 1-{len(docs) - a.holdout} for calibration and distillation, "
                  f"{len(docs) - a.holdout + 1}-{len(docs)} held out for evaluation", file=sys.stderr)
        names = [os.path.basename(e) for e in a.eval]
        evals = sum((["--eval", e] for e in a.eval), [])
        common = ["--model", a.model, "--tokenizer", a.tokenizer, "--window", a.window, "--eval-windows", a.eval_windows]
        for g in a.groups.split(","):
            for bits in a.bits.split(","):
                for method in a.methods.split(","):
                    s = os.path.join(tmp, f"{method}-{bits}-{g}.h5")
                    out, qwall = run([a.cli, "quantize"] + common + evals + [
                        "--method", method, "--bits", bits, "--group", g, "--calib", a.calib,
                        "--nsamples", a.nsamples, "--seqlen", a.seqlen, "--seed", "0", "--out", s]
                        + (["--skip-original-eval"] if fp else []))
                    q = {os.path.basename(m.group(1)): (m.group(2), float(m.group(3)))
                         for m in map(QPPL.match, out.splitlines()) if m}
                    fp = fp or {n: float(q[n][0]) for n in names}
                    d = s.replace(".h5", "-distilled.h5")
                    out, dwall = run([a.cli, "distill", "--session", s] + common + evals + [
                        "--calib", a.calib, "--nsamples", a.distill_nsamples, "--seqlen", a.distill_seqlen,
                        "--seed", "1", "--lr", a.lr, "--epochs", a.epochs, "--out", d])
                    dp = {os.path.basename(m.group(1)): float(m.group(3))
                          for m in map(DPPL.match, out.splitlines()) if m}
                    ds = next(m for m in map(DSUM.match, out.splitlines()) if m)
                    rows.append((g, bits, method, [q[n][1] for n in names], [dp[n] for n in names],
                                 int(ds.group(2)), float(ds.group(3)), float(ds.group(4)), float(ds.group(5)), qwall))
                    print(f"# g{g} {bits}-bit {method}: " + ", ".join(
                        f"{n} {q[n][1]:.3f} -> {dp[n]:.3f}" for n in names) +
                        f"; {ds.group(2)} tokens, distill {float(ds.group(3)):.0f} s", file=sys.stderr, flush=True)
    print("| group | bits | method | " + " | ".join(f"{n} before -> after" for n in names) +
          " | training tokens | distill (s) | loss before -> after |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|---|")
    print("| - | 16 | full precision | " + " | ".join(f"{fp[n]:.3f}" for n in names) + " | - | - | - |")
    for g, bits, method, before, after, tokens, secs, l0, l1, _ in rows:
        print(f"| {g} | {bits} | {method} | " + " | ".join(f"{b:.3f} -> **{x:.3f}**" for b, x in zip(before, after)) +
              f" | {tokens} | {secs:.0f} | {l0:.4g} -> {l1:.4g} |")


if __name__ == "__main__":
    main()
