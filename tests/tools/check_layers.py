#!/usr/bin/env python3
"""Layering check: every `#include "..."` between core/, app/ and kernels/ must point down the
layer table below (or stay inside its own layer).

Reads every .h/.hpp/.cpp/.cu/.cuh file under core/, app/ and kernels/ of SOURCE_ROOT, takes the
`#include "..."` lines (also indented ones inside #if blocks; not <...>, not in // or /* */
comments) and the uses of the identifier `kernels::detail`, and checks each against the table.

A file's layer is its directory: core/<dir>/... -> core/<dir>; app/<dir>/... -> app/<dir>;
kernels/... -> kernels. An include is checked when it starts with core/, app/ or kernels/ (or is
a relative "../..." include that resolves there); other includes (system, Qt, tests/..., moc
files, "foo.h" next to the file) are ignored -- a plain relative include stays in the file's own
layer. An include of core/<dir> or app/<dir> that is not in the table is a violation ("unknown
layer"), as is a source file living in such a directory: a new folder must be added to the table
deliberately.

Usage: check_layers.py [SOURCE_ROOT]     (default: the repository root, two levels up)
       check_layers.py --list [SOURCE_ROOT is ignored]
Exit status: 0 clean, 1 violations (one line each), 2 usage error / no sources found.
"""

import fnmatch
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# The layer table: the one place where the dependency order is written down.
#
# Lowest first. A layer may include headers of its own layer and of any LOWER rank; never a
# higher rank and never a sibling at the same rank. kernels is special (see the two sets below):
# it may include only itself, and only the listed layers may include it at all.
# ---------------------------------------------------------------------------------------------
LAYERS = [
    # (rank, layers of that rank -- siblings may not include one another)
    (0, ["kernels"]),
    (1, ["core/common"]),
    (2, ["core/formats"]),
    (3, ["core/tokenizer", "core/model"]),
    (4, ["core/quant"]),
    (5, ["core/data"]),
    (6, ["core/pipeline"]),
    (7, ["core/eval", "core/analysis", "core/export", "core/demo"]),
    (8, ["app/cli", "app/gui"]),
]

# Layers that may include the public kernels headers (kernels/*.h other than the detail ones).
# Every other layer may not include kernels at all.
KERNELS_PUBLIC_USERS = {"kernels", "core/model", "core/quant", "core/analysis", "app/cli", "app/gui"}

# The "detail" side of kernels: headers whose file name matches these patterns, and any use of
# the identifier `kernels::detail`. The numerics live in core/quant and core/analysis; app and
# the other core layers go through those.
KERNELS_DETAIL_HEADERS = ["*_math.h", "*_reference.h"]
KERNELS_DETAIL_USERS = {"kernels", "core/quant", "core/analysis"}

# Top-level directories that hold layers, and the source files that are read.
LAYER_ROOTS = ("core", "app", "kernels")
SOURCE_EXTENSIONS = (".h", ".hpp", ".cpp", ".cu", ".cuh")
# ---------------------------------------------------------------------------------------------

RANK = {name: rank for rank, names in LAYERS for name in names}
KERNELS = "kernels"

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]*)"', re.MULTILINE)
DETAIL_USE_RE = re.compile(r"\bkernels\s*::\s*detail\b")


def layer_of(path):
    """Layer of a root-relative path ('core/model/x.h' -> 'core/model'), or None when the path
    is not under core/, app/ or kernels/. A path under core/ or app/ whose directory is not in
    the table gives that directory name (e.g. 'core/io'), or 'core' for a file right in core/;
    callers check it against RANK."""
    parts = path.split("/")
    if parts[0] == KERNELS:
        return KERNELS if len(parts) > 1 else None
    if parts[0] in LAYER_ROOTS:
        if len(parts) < 2:
            return None
        if len(parts) == 2:           # a file right in core/ or app/: no layer directory
            return parts[0]
        return parts[0] + "/" + parts[1]
    return None


def is_detail_header(path):
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pat) for pat in KERNELS_DETAIL_HEADERS)


def allowed_text(layer):
    """What `layer` may include, as text for the messages and --list."""
    if layer == KERNELS:
        return "kernels only"
    rank = RANK[layer]
    out = [layer]
    for r, names in reversed(LAYERS):
        if r < rank:
            out.extend(n for n in names if n != KERNELS)
    if layer in KERNELS_DETAIL_USERS:
        out.append("kernels (public and detail headers)")
    elif layer in KERNELS_PUBLIC_USERS:
        out.append("kernels (public headers only)")
    return ", ".join(out)


def strip_comments(text, strip_strings=False):
    """Returns `text` with // and /* */ comments blanked (newlines kept, so line numbers hold).
    String and character literals (also raw strings R"d(...)d") are skipped over so that a // or
    /* inside one is not taken for a comment; with strip_strings they are blanked too."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = i + 2
            while j < n:
                if text[j] == "\n":
                    # a backslash at the end of a // line continues the comment
                    k = j - 1
                    if k >= 0 and text[k] == "\r":
                        k -= 1
                    if k >= i + 2 and text[k] == "\\":
                        j += 1
                        continue
                    break
                j += 1
            out.append(blank(text[i:j]))
            i = j
        elif c == "/" and nxt == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(text[i:j]))
            i = j
        elif c == '"' or c == "'":
            # the token before the quote: prefix (R, u8R, L...) or a number (digit separator 1'000)
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] == "_"):
                k -= 1
            word = text[k:i]
            if c == "'" and word and word[0].isdigit():
                out.append(c)           # digit separator
                i += 1
                continue
            if c == '"' and word in ("R", "LR", "uR", "UR", "u8R"):
                m = re.match(r'"([^()\\ \t\n]{0,16})\(', text[i:i + 20])
                if m:
                    end = text.find(")" + m.group(1) + '"', i + m.end())
                    j = n if end < 0 else end + len(m.group(1)) + 2
                    out.append(blank(text[i:j]) if strip_strings else text[i:j])
                    i = j
                    continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n) if j < n and text[j] == c else j
            lit = text[i:j]
            out.append((c + blank(lit[1:-1]) + lit[-1:] if len(lit) > 1 else lit)
                       if strip_strings else lit)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def source_files(root):
    """Root-relative paths ('/'-separated) of the source files under core/, app/, kernels/."""
    files = []
    for top in LAYER_ROOTS:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in filenames:
                if f.endswith(SOURCE_EXTENSIONS):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    files.append(rel.replace(os.sep, "/"))
    return sorted(files)


def resolve_include(src, inc):
    """Root-relative path an include names, or None when it is outside the layer roots (system,
    Qt, tests/..., moc, or a plain relative include that stays in the including file's layer)."""
    inc = inc.strip().replace("\\", "/")
    if inc.split("/", 1)[0] in LAYER_ROOTS and "/" in inc:
        return os.path.normpath(inc).replace(os.sep, "/")
    if inc.startswith("../") or "/../" in inc:
        # a relative include climbing out of the file's directory: resolve it against the file
        path = os.path.normpath(os.path.join(os.path.dirname(src), inc)).replace(os.sep, "/")
        if not path.startswith("../") and path.split("/", 1)[0] in LAYER_ROOTS:
            return path
    return None


def check_edge(src_layer, target, target_layer):
    """None when `src_layer` may include `target`, else the reason (text after 'includes "X": ')."""
    def deny(what):
        return "%s may not depend on %s (allowed: %s)" % (src_layer, what, allowed_text(src_layer))

    if target_layer not in RANK:
        return "unknown layer %s (not in the layer table of tests/tools/check_layers.py)" % (
            target_layer)
    if target_layer == src_layer:
        return None
    if target_layer == KERNELS:
        if is_detail_header(target):
            if src_layer not in KERNELS_DETAIL_USERS:
                return deny("kernels detail header %s" % target)
            return None
        if src_layer not in KERNELS_PUBLIC_USERS:
            return deny("kernels")
        return None
    if src_layer == KERNELS:
        return deny(target_layer)
    if RANK[target_layer] == RANK[src_layer]:
        return deny(target_layer + " (sibling at rank %d)" % RANK[target_layer])
    if RANK[target_layer] > RANK[src_layer]:
        return deny(target_layer + " (higher rank %d > %d)" % (RANK[target_layer], RANK[src_layer]))
    return None


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check_tree(root):
    """Returns (files, edges, violations) with violations as (file, line, message)."""
    files = source_files(root)
    violations = []
    checked_files = 0
    edges = 0
    for rel in files:
        try:
            with open(os.path.join(root, rel), "r", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue                    # moved or removed while we walked: the tree is in flux
        checked_files += 1
        src_layer = layer_of(rel)
        if src_layer not in RANK:
            violations.append((rel, 1, "file lies in unknown layer %s (not in the layer table of "
                                       "tests/tools/check_layers.py)" % src_layer))
            continue
        code = strip_comments(text)
        for m in INCLUDE_RE.finditer(code):
            inc = m.group(1)
            target = resolve_include(rel, inc)
            if target is None:
                continue
            target_layer = layer_of(target)
            if target_layer is None:
                continue
            edges += 1
            why = check_edge(src_layer, target, target_layer)
            if why:
                violations.append((rel, line_of(code, m.start()), 'includes "%s": %s' % (inc, why)))
        if src_layer not in KERNELS_DETAIL_USERS:
            bare = strip_comments(text, strip_strings=True)
            seen = set()
            for m in DETAIL_USE_RE.finditer(bare):
                ln = line_of(bare, m.start())
                if ln in seen:
                    continue
                seen.add(ln)
                violations.append((rel, ln, "uses kernels::detail: %s may not depend on kernels "
                                            "detail (allowed only in: %s)" % (
                                                src_layer, ", ".join(sorted(KERNELS_DETAIL_USERS)))))
    violations.sort()
    return checked_files, edges, violations


def print_table():
    print("%-16s %-5s %s" % ("layer", "rank", "may include"))
    for rank, names in LAYERS:
        for name in names:
            print("%-16s %-5d %s" % (name, rank, allowed_text(name)))
    print("kernels detail headers (%s) and `kernels::detail`: only in %s" % (
        ", ".join("kernels/" + p for p in KERNELS_DETAIL_HEADERS),
        ", ".join(sorted(KERNELS_DETAIL_USERS))))


def main(argv):
    args = argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__.strip())
        return 0
    if "--list" in args:
        print_table()
        return 0
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: check_layers.py [--list] [SOURCE_ROOT]\n")
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(args[0] if args else os.path.join(here, "..", ".."))
    if not any(os.path.isdir(os.path.join(root, d)) for d in LAYER_ROOTS):
        sys.stderr.write("check_layers.py: %s has none of %s/\n" % (root, "/, ".join(LAYER_ROOTS)))
        return 2
    nfiles, edges, violations = check_tree(root)
    for rel, ln, msg in violations:
        print("%s:%d: %s" % (rel, ln, msg))
    print("layers: %d files, %d include edges checked, %d violations" % (
        nfiles, edges, len(violations)))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
