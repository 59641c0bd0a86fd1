#!/usr/bin/env python3
"""The data-free default (--protect) against Min-Max and plain NeUQI, cell by cell.

For every bit width and group size this runs `zeropoint-cli quantize` without calibration on the
same model and the same evaluation windows: RTN Min-Max, RTN NeUQI with --protect off (the plain
search, h = 1), and RTN NeUQI with the default --protect (no option given), plus any --candidate
settings. It prints a Markdown table of perplexities and, for each setting, the ratio to the better
of Min-Max and plain NeUQI (the goal: at most 1.05 in every cell; README "Super-weights and the
data-free remedy").

    python3 tests/bench/protect_table.py --cli build/app/zeropoint-cli \\
        --model ../shared/assets/models/stories260K.bin \\
        --tokenizer ../shared/assets/tokenizers/tok512.bin \\
        --eval ../shared/assets/text/tinystories_val.txt --eval-chars 20000 --window 256 \\
        --bits 2,3,4 --groups=-1,32,64,128

    python3 tests/bench/protect_table.py --cli build/app/zeropoint-cli --model SMOL.gguf \\
        --tokenizer SMOL.gguf --eval ../shared/assets/text/wikitext2_test.raw --window 512 \\
        --eval-windows 8 --bits 2,3,4 --groups=-1,32,64,128

--candidate "NAME=ARGS" adds a column (for example "int10=--method rtn-neuqi-int --protect 10").
--json FILE writes every figure.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

PPL = re.compile(r"^perplexity on (.+): (?:original ([0-9.eE+-]+|nan|inf), )?quantized ([0-9.eE+-]+|nan|inf)$")


def run(cli, common, extra):
    cmd = [cli, "quantize"] + common + extra
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-2000:])
        raise SystemExit("failed: " + " ".join(cmd))
    for line in p.stdout.splitlines():
        m = PPL.match(line.strip())
        if m:
            return float(m.group(3)), wall
    raise SystemExit("no perplexity in the output of: " + " ".join(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--eval", required=True)
    ap.add_argument("--eval-chars", type=int, default=0, help="evaluate the first N characters only")
    ap.add_argument("--window", default="512")
    ap.add_argument("--eval-windows", default="0")
    ap.add_argument("--bits", default="2,3,4")
    ap.add_argument("--groups", default="-1,32,64,128")
    ap.add_argument("--candidate", action="append", default=[], help="NAME=ARGS: another column")
    ap.add_argument("--no-default", action="store_true", help="leave out the default column")
    ap.add_argument("--json", default="")
    a = ap.parse_args()

    eval_path = a.eval
    if a.eval_chars > 0:
        with open(a.eval, encoding="utf-8") as f:
            text = f.read(a.eval_chars)
        fd, eval_path = tempfile.mkstemp(suffix=".txt", prefix="protect_table_")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    common = ["--model", a.model] + (["--tokenizer", a.tokenizer] if a.tokenizer else [])
    common += ["--eval", eval_path, "--window", a.window, "--skip-original-eval"]
    if a.eval_windows != "0":
        common += ["--eval-windows", a.eval_windows]
    columns = [("Min-Max", ["--method", "rtn-minmax"]),
               ("NeUQI plain", ["--method", "rtn-neuqi", "--protect", "off"]),
               ("default", ["--method", "rtn-neuqi"])]
    if a.no_default:
        columns.pop()
    for c in a.candidate:
        name, _, args = c.partition("=")
        columns.append((name, shlex.split(args)))

    rows = []
    try:
        for bits in a.bits.split(","):
            for group in a.groups.split(","):
                cell = {"bits": int(bits), "group": int(group), "ppl": {}, "wall": {}}
                for name, extra in columns:
                    ppl, wall = run(a.cli, common, ["--bits", bits, "--group", group] + extra)
                    cell["ppl"][name] = ppl
                    cell["wall"][name] = wall
                    print(f"# {bits}-bit group {group} {name}: {ppl:.2f} ({wall:.1f} s)", file=sys.stderr)
                rows.append(cell)
    finally:
        if eval_path != a.eval:
            os.unlink(eval_path)

    names = [n for n, _ in columns]
    judged = names[2:]
    print("| bits | group | " + " | ".join(names) + " | " +
          " | ".join(f"{n} / best" for n in judged) + " |")
    print("|---" * (2 + len(names) + len(judged)) + "|")
    worst = {n: 0.0 for n in judged}
    for r in rows:
        best = min(r["ppl"]["Min-Max"], r["ppl"]["NeUQI plain"])
        ratios = []
        for n in judged:
            q = r["ppl"][n] / best
            worst[n] = max(worst[n], q)
            ratios.append(f"{q:.3f}" + ("" if q <= 1.05 else " (over 1.05)"))
        g = "channel" if r["group"] == -1 else str(r["group"])
        print(f"| {r['bits']} | {g} | " + " | ".join(f"{r['ppl'][n]:.2f}" for n in names) + " | " +
              " | ".join(ratios) + " |")
    for n in judged:
        print(f"\n{n}: worst ratio to the better of Min-Max and plain NeUQI {worst[n]:.3f}")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"columns": {n: e for n, e in columns}, "rows": rows}, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
