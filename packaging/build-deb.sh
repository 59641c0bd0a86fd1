#!/usr/bin/env bash
# Builds the .deb for a plain Debian 12 (README "Install"):
#   bash packaging/build-deb.sh         ->  build-deb/zeropoint_<version>-1_<arch>.deb
# A build of its own, made the way Debian builds packages: CPU only (Debian's libtorch has no
# CUDA, and no Debian package provides the CUDA runtime that the CUDA kernels would link),
# Debian's compiler and linker flags (dpkg-buildflags with hardening=+all: fortified functions,
# stack protector, RELRO and BIND_NOW), installed under /usr; then cpack -G DEB (Depends computed
# by dpkg-shlibdeps), dpkg-deb -I, and lintian where it is installed (warnings and errors fail).
# Environment: DEB_BUILD_DIR (default build-deb), JOBS (default nproc), CMAKE_ARGS (extra options).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
dir=${DEB_BUILD_DIR:-build-deb}
JOBS=${JOBS:-$(nproc)}

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
# No -g: the package's files are stripped anyway, and debug information makes the build slower.
export DEB_CFLAGS_MAINT_STRIP=-g DEB_CXXFLAGS_MAINT_STRIP=-g
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags="$(dpkg-buildflags --get CFLAGS) $cppflags"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) $cppflags"
ldflags=$(dpkg-buildflags --get LDFLAGS)

# shellcheck disable=SC2086  # CMAKE_ARGS is a list of options
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DZP_WITH_CUDA=OFF -DZP_BUILD_TESTS=OFF \
  "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_CXX_FLAGS=$cxxflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$ldflags" "-DCMAKE_MODULE_LINKER_FLAGS=$ldflags" ${CMAKE_ARGS:-}
cmake --build "$dir" -j "$JOBS"
rm -f "$dir"/zeropoint_*.deb
(cd "$dir" && cpack -G DEB)
deb=$(find "$dir" -maxdepth 1 -name 'zeropoint_*.deb' | head -1)
[ -n "$deb" ] || { echo "build-deb: cpack wrote no .deb" >&2; exit 1; }
dpkg-deb -I "$deb" | grep -E '^ (Package|Version|Installed-Size|Depends):'
echo "build-deb: $deb ($(stat -c %s "$deb") bytes)"
if command -v lintian >/dev/null; then
  # Overrides, each with its reason: packaging/debian/lintian-overrides.
  lintian --info --display-info --fail-on error,warning "$deb"
  echo "build-deb: lintian: no errors, no warnings"
else
  echo "build-deb: lintian is not installed (apt-get install lintian): not checked"
fi
