#!/usr/bin/env python3
"""The data-free default (--protect auto) keeps up with the better of Min-Max and plain NeUQI.

Issue: the data-free default was tuned on SmolLM2 and undid NeUQI on stories260K (2-bit,
channel-wise: 492 against plain NeUQI's 39). The goal, measured over a table of models, bit widths
and group sizes (README "Super-weights and the data-free remedy"; tests/bench/protect_table.py),
is a default within 5% of the better of Min-Max and plain NeUQI in every cell. This test runs two
of its cells, one per model, each against the two methods run alongside it on the same windows:

  * stories260K, 2 bits, channel-wise, the first 20,000 characters of tinystories_val.txt in
    windows of 256 (a model without super-weights: plain NeUQI is far better than Min-Max);
  * SmolLM2-135M-Instruct, 3 bits, groups of 64, 4 windows of 512 of WikiText-2 (a model with
    super-weights: Min-Max is better than plain NeUQI, and the remedy better than both).

It fails when the default's perplexity exceeds 1.05 times the better of the two in either cell.

Usage: check_protect_default.py --cli zeropoint-cli --assets ../shared/assets --work DIR
       [--venv DIR] [--gguf SMOL.gguf] [--smol-windows 4]
Exit 0: within the goal; 1: a cell over it (printed); 77: skipped, saying why (a missing real
model is a failure under ZP_REQUIRE_REALMODEL=1, as in check_gguf_input.py).
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llamacpp_common import skip  # noqa: E402
from check_gguf_input import model_path  # noqa: E402

PPL = re.compile(r"^perplexity on .+: (?:original \S+, )?quantized ([0-9.eE+-]+|nan|inf)$")
GOAL = 1.05


def perplexity(cli, common, extra):
    cmd = [cli, "quantize"] + common + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-2000:]}")
        sys.exit(1)
    for line in r.stdout.splitlines():
        m = PPL.match(line.strip())
        if m:
            return float(m.group(1))
    print(f"FAIL: no perplexity in the output of {' '.join(cmd)}")
    sys.exit(1)


def cell(cli, name, common, bits, group):
    shape = ["--bits", str(bits), "--group", str(group)]
    mm = perplexity(cli, common, shape + ["--method", "rtn-minmax"])
    plain = perplexity(cli, common, shape + ["--method", "rtn-neuqi", "--protect", "off"])
    default = perplexity(cli, common, shape + ["--method", "rtn-neuqi"])  # --protect as shipped
    best = min(mm, plain)
    ratio = default / best
    g = "channel-wise" if group == -1 else f"g{group}"
    print(f"{name} {bits}-bit {g}: Min-Max {mm:.2f}, plain NeUQI {plain:.2f}, default {default:.2f}"
          f" ({ratio:.3f} x the better)")
    return ratio <= GOAL, f"{name} {bits}-bit {g}: default {default:.2f} is {ratio:.3f} x the better of " \
                          f"Min-Max {mm:.2f} and plain NeUQI {plain:.2f} (goal: at most {GOAL})"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cli", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--venv", default="")
    p.add_argument("--gguf", default="")
    p.add_argument("--smol-windows", type=int, default=4)
    args = p.parse_args()
    model = os.path.join(args.assets, "models", "stories260K.bin")
    tok = os.path.join(args.assets, "tokenizers", "tok512.bin")
    stories = os.path.join(args.assets, "text", "tinystories_val.txt")
    wiki = os.path.join(args.assets, "text", "wikitext2_test.raw")
    for f in (model, tok, stories, wiki):
        if not os.path.isfile(f):
            skip(f"asset {f} not found (the real test data in ../shared/assets is absent)")
    smol = model_path(args)
    os.makedirs(args.work, exist_ok=True)
    head = os.path.join(args.work, "tinystories_20000.txt")
    with open(stories, encoding="utf-8") as f:
        text = f.read(20000)
    with open(head + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(head + ".tmp", head)

    failures = []
    for ok, line in (
            cell(args.cli, "stories260K",
                 ["--model", model, "--tokenizer", tok, "--eval", head, "--window", "256",
                  "--skip-original-eval"], 2, -1),
            cell(args.cli, "SmolLM2-135M",
                 ["--model", smol, "--tokenizer", smol, "--eval", wiki, "--window", "512",
                  "--eval-windows", str(args.smol_windows), "--skip-original-eval"], 3, 64)):
        if not ok:
            failures.append(line)
    for f in failures:
        print("FAIL: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
