#!/usr/bin/env python3
"""RUQuant and its baselines, measured in one run with one engine and one calibration set.

For every WxAy setting and every method this runs `zeropoint-cli quantize` on the same model with
the same calibration draw (same file, --nsamples, --seqlen, --seed) and the same evaluation
windows, and prints a Markdown table of perplexities and stage times (README "RUQuant: measured").

Methods (rows):
  RTN             --transform none    --method rtn-minmax  (per-token activations, RTN weights)
  SmoothQuant     --transform smooth  --method rtn-minmax
  DuQuant-style   --transform duquant --method rtn-minmax
  RUQuant         --transform ruquant --method rtn-minmax
  RUQuant (code Givens)   the released code's Givens blocks (--givens code)
  RUQuant + stage 2       --finetune-epochs E (AdamW on the Householder vectors)
  RUQuant + NeUQI         --transform ruquant --method rtn-neuqi (NeUQI parameters, RTN rounding)
  RUQuant + GPTQ/NeUQI    --transform ruquant --method gptq-neuqi

Clip ratios follow core/MATHS.md 8: W4A4 --aclip 0.9 --wclip 0.8, otherwise 1.0 / 1.0.

    python3 tests/bench/ruquant_table.py --cli build/app/zeropoint-cli \
        --model ../shared/assets/models/stories260K.bin --tokenizer ../shared/assets/tokenizers/tok512.bin \
        --calib ../shared/assets/text/tinystories_val.txt --eval ../shared/assets/text/wikitext2_test.raw \
        --eval ../shared/assets/text/c4_demo.jsonl --settings 8,6,4
"""
import argparse
import os
import re
import subprocess
import sys
import time

METHODS = [
    ("RTN", ["--transform", "none", "--method", "rtn-minmax"]),
    ("SmoothQuant", ["--transform", "smooth", "--method", "rtn-minmax"]),
    ("DuQuant-style", ["--transform", "duquant", "--method", "rtn-minmax"]),
    ("RUQuant", ["--transform", "ruquant", "--method", "rtn-minmax"]),
    ("RUQuant (code Givens)", ["--transform", "ruquant", "--givens", "code", "--method", "rtn-minmax"]),
    ("RUQuant + stage 2", ["--transform", "ruquant", "--method", "rtn-minmax", "--finetune-epochs", "{epochs}"]),
    ("RUQuant + NeUQI", ["--transform", "ruquant", "--method", "rtn-neuqi"]),
    ("RUQuant + GPTQ/NeUQI", ["--transform", "ruquant", "--method", "gptq-neuqi"]),
]

PPL = re.compile(r"^perplexity on (.+): (?:original ([0-9.eE+-]+|nan|inf), )?quantized ([0-9.eE+-]+|nan|inf)$")
TOTAL = re.compile(r"^method \S+, \d+-bit, group -?\d+, ([0-9.]+) s$")
BUILD = re.compile(r"^A\d+ \(clip [0-9.]+\), transforms built in ([0-9.]+) s$")


def run(cli, common, extra):
    cmd = [cli, "quantize"] + common + extra
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-2000:])
        raise SystemExit("failed: " + " ".join(cmd))
    ppl, total, build = {}, None, 0.0
    for line in p.stdout.splitlines():
        m = PPL.match(line.strip())
        if m:
            ppl[os.path.basename(m.group(1))] = (float(m.group(2) or "nan"), float(m.group(3)))
        m = TOTAL.match(line.strip())
        if m:
            total = float(m.group(1))
        m = BUILD.match(line.strip())
        if m:
            build = float(m.group(1))
    return ppl, total, build, wall, cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", action="append", required=True)
    ap.add_argument("--nsamples", default="32")
    ap.add_argument("--seqlen", default="512")
    ap.add_argument("--window", default="512")
    ap.add_argument("--eval-windows", default="40")
    ap.add_argument("--rot-tokens", default="2048")
    ap.add_argument("--finetune-epochs", default="10", help="stage-2 epochs of the stage-2 row")
    ap.add_argument("--settings", default="8,6,4", help="comma-separated x of WxAx")
    ap.add_argument("--methods", default="", help="comma-separated row names (default: all)")
    ap.add_argument("--extra", action="append", default=[], help="more quantize arguments")
    a = ap.parse_args()

    common = ["--model", a.model, "--calib", a.calib, "--nsamples", a.nsamples, "--seqlen", a.seqlen,
              "--window", a.window, "--eval-windows", a.eval_windows, "--rot-tokens", a.rot_tokens]
    if a.tokenizer:
        common += ["--tokenizer", a.tokenizer]
    for e in a.eval:
        common += ["--eval", e]
    common += a.extra
    wanted = [m for m in a.methods.split(",") if m]
    methods = [m for m in METHODS if not wanted or m[0] in wanted]
    names = [os.path.basename(e) for e in a.eval]
    rows, fp = [], None
    for bits in [int(b) for b in a.settings.split(",")]:
        clips = ["--aclip", "0.9", "--wclip", "0.8"] if bits <= 4 else ["--aclip", "1", "--wclip", "1"]
        for label, extra in methods:
            extra = [x.replace("{epochs}", a.finetune_epochs) for x in extra]
            skip = ["--skip-original-eval"] if fp else []  # the original is evaluated once
            ppl, total, build, wall, cmd = run(a.cli, common, extra + ["--bits", str(bits), "--abits", str(bits)] + clips + skip)
            fp = fp or {n: ppl[n][0] for n in names}
            rows.append((f"W{bits}A{bits}", label, [ppl[n][1] for n in names], build, total, wall))
            print(f"# W{bits}A{bits} {label}: " + ", ".join(f"{n} {ppl[n][1]:.4f}" for n in names) +
                  f"; transforms {build:.1f} s, pipeline {total:.1f} s, wall {wall:.1f} s", file=sys.stderr, flush=True)
    print("| setting | method | " + " | ".join(names) + " | transforms (s) | pipeline (s) | wall (s) |")
    print("|---|---|" + "---|" * len(names) + "---|---|---|")
    print("| FP (float32) | - | " + " | ".join(f"{fp[n]:.3f}" for n in names) + " | - | - | - |")
    for setting, label, vals, build, total, wall in rows:
        print(f"| {setting} | {label} | " + " | ".join(f"{v:.3f}" for v in vals) +
              f" | {build:.1f} | {total:.1f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
