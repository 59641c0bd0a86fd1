"""llama.cpp's own tools as the judge of a GGUF file: what tests/bench/kquant_table.py and
tests/python/check_kquant_preset.py share.

* an F32 base made by `llama-quantize --allow-requantize IN F32` (for SmolLM2's Q4_1 GGUF: exactly
  the dequantized weights every quantizer then starts from);
* the calibration / held-out split of a JSONL corpus (documents [0, n) calibrate both tools,
  the rest is text neither saw);
* an importance matrix by `llama-imatrix` from the calibration text (chunks of 512 tokens);
* `llama-quantize` of a preset with or without that imatrix;
* `llama-perplexity` with `--kl-divergence-base` (the base's logits saved once per text) and
  `--kl-divergence`: perplexity, mean KL divergence to the base and the same-top-token rate;
* the tensor types and data bytes of a file read with the PyPI `gguf` package.
"""
import json
import os
import re
import subprocess
import sys


class JudgeError(RuntimeError):
    pass


def run(cmd, log=None, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if log:
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n" + p.stdout + "\n" + p.stderr)
    if p.returncode != 0:
        raise JudgeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout + "\n" + p.stderr


def split_corpus(jsonl, work, n_calib):
    """(calib.jsonl, calib.txt, heldout.txt) of the first n_calib documents and the rest."""
    docs = []
    with open(jsonl) as f:
        for line in f:
            line = line.strip()
            if line:
                docs.append(json.loads(line)["text"])
    if len(docs) <= n_calib:
        raise JudgeError(f"{jsonl}: {len(docs)} documents, need more than {n_calib}")
    cj = os.path.join(work, "calib.jsonl")
    ct = os.path.join(work, "calib.txt")
    ht = os.path.join(work, "heldout.txt")
    with open(cj, "w") as f:
        for d in docs[:n_calib]:
            f.write(json.dumps({"text": d}) + "\n")
    with open(ct, "w") as f:
        f.write("\n\n".join(docs[:n_calib]))
    with open(ht, "w") as f:
        f.write("\n\n".join(docs[n_calib:]))
    return cj, ct, ht


class Tools:
    def __init__(self, bindir, threads=2):
        self.quantize = os.path.join(bindir, "llama-quantize")
        self.imatrix = os.path.join(bindir, "llama-imatrix")
        self.perplexity = os.path.join(bindir, "llama-perplexity")
        self.threads = str(threads)
        for t in (self.quantize, self.imatrix, self.perplexity):
            if not os.access(t, os.X_OK):
                raise FileNotFoundError(t)

    def f32_base(self, src, out):
        if not os.path.exists(out):
            run([self.quantize, "--allow-requantize", src, out + ".tmp", "F32", self.threads])
            os.replace(out + ".tmp", out)
        return out

    def make_imatrix(self, base, text, out, chunks, ctx=512):
        if not os.path.exists(out):
            run([self.imatrix, "-m", base, "-f", text, "-o", out + ".tmp.gguf", "--chunks", str(chunks),
                 "-c", str(ctx), "-t", self.threads, "--no-ppl"], log=out + ".log")
            os.replace(out + ".tmp.gguf", out)
        return out

    def quantize_preset(self, base, preset, out, imatrix=None):
        if not os.path.exists(out):
            cmd = [self.quantize]
            if imatrix:
                cmd += ["--imatrix", imatrix]
            cmd += [base, out + ".tmp", preset, self.threads]
            run(cmd, log=out + ".log")
            os.replace(out + ".tmp", out)
        return out

    def kld_base(self, base, text, out, chunks, ctx=512):
        if not os.path.exists(out):
            run([self.perplexity, "-m", base, "-f", text, "--kl-divergence-base", out + ".tmp",
                 "-c", str(ctx), "--chunks", str(chunks), "-t", self.threads], log=out + ".log")
            os.replace(out + ".tmp", out)
        return out

    def judge(self, model, kld_base_file, log=None):
        """{'ppl', 'kld', 'top'} of model against the saved base logits (its text and chunks)."""
        out = run([self.perplexity, "-m", model, "--kl-divergence-base", kld_base_file,
                   "--kl-divergence", "-t", self.threads], log=log)
        return parse_kld(out)


def parse_kld(text):
    """llama-perplexity --kl-divergence's summary: perplexity, mean KLD, same-top-token rate."""
    def grab(pattern, what):
        m = re.search(pattern, text, re.M)
        if not m:
            raise JudgeError(f"no {what} in llama-perplexity's output:\n{text[-2000:]}")
        return float(m.group(1))
    return {
        "ppl": grab(r"^Mean PPL\(Q\)\s*:\s*([0-9.eE+-]+)", "Mean PPL(Q)"),
        "kld": grab(r"^Mean\s+KLD:\s*([0-9.eE+-]+)", "Mean KLD"),
        "top": grab(r"^Same top p:\s*([0-9.eE+-]+)", "Same top p") / 100.0,
    }


def tensor_types(path):
    """name -> (type name, data bytes) of every tensor, read with the PyPI gguf package."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    out = {t.name: (t.tensor_type.name, int(t.n_bytes)) for t in r.tensors}
    del r
    return out
