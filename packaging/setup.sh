#!/usr/bin/env bash
# ZeroPoint set-up on a fresh Debian 12 machine: installs the Debian packages, builds, then
#   packaging/setup.sh demo    runs the workbench on its built-in demo
#   packaging/setup.sh test    runs every test (what .ci/run calls)
#   packaging/setup.sh build   only installs and builds
# Environment: BUILD_DIR (default build), JOBS (default nproc), ZP_SKIP_APT=1 to skip apt-get,
# CMAKE_ARGS for extra CMake options (e.g. -DTorch_DIR=... for a CUDA libtorch).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
action=${1:-build}
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread        # libtorch's BLAS is slow until OpenBLAS (pthread) is in
  qt6-base-dev qt6-base-dev-tools libgl-dev libqcustomplot-dev
  libhdf5-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libsentencepiece-dev
  xvfb xauth python3 python3-venv
)

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

# Python side of the tests: the PyPI `gguf` package (an independent GGUF reader) in a venv.
python_env() {
  local venv="$BUILD_DIR/pyenv"
  if [ ! -x "$venv/bin/python3" ]; then
    python3 -m venv "$venv" || { echo "setup: no python3 venv; the GGUF reader checks will skip"; return 0; }
  fi
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check gguf safetensors numpy ||
    echo "setup: pip install gguf failed; the GGUF reader checks will skip"
  if llamacpp_env "$venv/bin/python3"; then rm -f "$venv/llamacpp-unavailable.txt"; else
    echo "setup: llama-cpp-python could not be built/installed (log in ~/.cache/zeropoint-llamacpp); the llamacpp test will skip" |
      tee "$venv/llamacpp-unavailable.txt"; fi
  llamacpp_quantize "$venv" ||
    echo "setup: llama-quantize could not be built (log in ~/.cache/zeropoint-llamacpp); the imatrix test will skip"
  export PATH="$venv/bin:$PATH"
}

# llama-cpp-python (it compiles its vendored llama.cpp; CPU only) for the "llamacpp" test, which
# runs the exported GGUF files in llama.cpp itself. The wheel is built once (measured: 24.5 min on
# the shared, busy 2-core machine) and kept in ~/.cache/zeropoint-llamacpp/wheels, so later runs
# only install it (3 s); the fixed source and build folders let ccache hit when it has to be
# rebuilt (15 s from a warm ccache). GGML_NATIVE: the wheel is for this machine's CPU. Returns
# non-zero on failure (the test then skips, printing pyenv/llamacpp-unavailable.txt).
llamacpp_env() {
  local py=$1 ver=0.3.36
  local cache=${ZP_LLAMACPP_CACHE:-$HOME/.cache/zeropoint-llamacpp}
  local log="$cache/build-$ver.log"
  "$py" -c "import llama_cpp" 2>/dev/null && return 0
  mkdir -p "$cache/wheels" || return 1
  local wheel
  wheel=$(ls "$cache/wheels"/llama_cpp_python-"$ver"-*.whl 2>/dev/null | head -1)
  if [ -z "$wheel" ]; then
    echo "setup: building llama-cpp-python $ver (CPU, $JOBS jobs; several minutes the first time, log $log)"
    local sdist="$cache/llama_cpp_python-$ver.tar.gz" src="$cache/src-$ver"
    if [ ! -f "$sdist" ]; then
      "$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$cache/dl" "llama-cpp-python==$ver" >"$log" 2>&1 &&
        mv "$cache/dl/llama_cpp_python-$ver.tar.gz" "$sdist" || return 1
    fi
    # Fixed source and build folders, so that ccache hits when the wheel has to be rebuilt.
    if [ ! -d "$src" ]; then
      rm -rf "$src.tmp" && mkdir -p "$src.tmp" && tar xzf "$sdist" -C "$src.tmp" --strip-components=1 &&
        mv "$src.tmp" "$src" || return 1
    fi
    CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CCACHE=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
      CMAKE_BUILD_PARALLEL_LEVEL=$JOBS SKBUILD_BUILD_DIR="$cache/build-$ver" \
      "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$cache/wheels" "$src" >>"$log" 2>&1 ||
      { tail -n 20 "$log"; return 1; }
    wheel=$(ls "$cache/wheels"/llama_cpp_python-"$ver"-*.whl 2>/dev/null | head -1)
    [ -n "$wheel" ] || return 1
  fi
  "$py" -m pip install -q --disable-pip-version-check "$wheel" >>"$log" 2>&1 || { tail -n 20 "$log"; return 1; }
  "$py" -c "import llama_cpp" 2>/dev/null
}

# llama.cpp's llama-quantize, built from the same sources as the wheel (vendor/llama.cpp of the
# llama-cpp-python sdist), for the test that feeds it ZeroPoint's importance matrix. Kept in
# ~/.cache/zeropoint-llamacpp/tools-VER and linked into the venv's bin/. Measured on this 2-core
# machine: 3.8 min from a cold ccache, 26 s from a warm one.
llamacpp_quantize() {
  local venv=$1 ver=0.3.36
  local cache=${ZP_LLAMACPP_CACHE:-$HOME/.cache/zeropoint-llamacpp}
  local tools="$cache/tools-$ver" src="$cache/src-$ver" log="$cache/tools-$ver.log"
  if [ ! -x "$tools/bin/llama-quantize" ]; then
    if [ ! -d "$src" ]; then
      [ -f "$cache/llama_cpp_python-$ver.tar.gz" ] || return 1
      rm -rf "$src.tmp" && mkdir -p "$src.tmp" &&
        tar xzf "$cache/llama_cpp_python-$ver.tar.gz" -C "$src.tmp" --strip-components=1 &&
        mv "$src.tmp" "$src" || return 1
    fi
    echo "setup: building llama.cpp's llama-quantize ($JOBS jobs, log $log)"
    cmake -S "$src/vendor/llama.cpp" -B "$tools" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DGGML_NATIVE=ON -DGGML_CCACHE=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF >"$log" 2>&1 &&
      cmake --build "$tools" --target llama-quantize -j "$JOBS" >>"$log" 2>&1 ||
      { tail -n 20 "$log"; return 1; }
  fi
  ln -sf "$tools/bin/llama-quantize" "$venv/bin/llama-quantize"
}

install_packages
build
case "$action" in
  build) ;;
  test)
    python_env
    # Every test; the ones that need ../shared/assets or a GPU say why they skip.
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    ;;
  demo)
    if [ -x "$BUILD_DIR/app/gui/zeropoint" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
      exec "$BUILD_DIR/app/gui/zeropoint" --demo
    fi
    exec "$BUILD_DIR/app/zeropoint-cli" demo
    ;;
  *) echo "usage: packaging/setup.sh [build|test|demo]" >&2; exit 2 ;;
esac
