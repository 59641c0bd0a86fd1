"""What the llama.cpp checks share: skipping with a reason (exit 77, CTest's SKIP_RETURN_CODE),
re-running under the set-up script's venv when llama_cpp is not importable, and running
zeropoint-cli."""
import os
import subprocess
import sys

SKIP = 77


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def import_llama_cpp(venv):
    """Makes `import llama_cpp` work: re-executes this script with VENV/bin/python3 where the
    current interpreter lacks it; otherwise skips saying why (a failure under
    ZP_REQUIRE_LLAMACPP=1, which packaging/setup.sh sets under CI=true)."""
    try:
        import numpy  # noqa: F401
        import llama_cpp  # noqa: F401
        return
    except ImportError as e:
        why = str(e)
    venv_py = os.path.join(venv, "bin", "python3") if venv else ""
    if venv_py and os.path.exists(venv_py) and os.environ.get("ZP_LLAMACPP_REEXEC") != "1":
        if os.path.realpath(venv_py) != os.path.realpath(sys.executable) or \
                sys.prefix != os.path.realpath(venv):
            os.environ["ZP_LLAMACPP_REEXEC"] = "1"
            os.execv(venv_py, [venv_py] + sys.argv)
    reason = f"python module llama_cpp unavailable ({why})"
    note = os.path.join(venv, "llamacpp-unavailable.txt") if venv else ""
    if note and os.path.exists(note):
        reason += ": " + open(note).read().strip()
    else:
        reason += "; install: packaging/setup.sh test (builds llama-cpp-python into BUILD_DIR/pyenv)"
    if os.environ.get("ZP_REQUIRE_LLAMACPP") == "1":
        print(f"FAIL: {reason} (ZP_REQUIRE_LLAMACPP=1)")
        sys.exit(1)
    skip(reason)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        sys.exit(1)
    return r


def cpu_flags():
    """The CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
