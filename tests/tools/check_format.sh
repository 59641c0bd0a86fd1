#!/usr/bin/env bash
# Fails when a C++/CUDA file of core/, app/, kernels/ or tests/ differs from what clang-format makes
# of it under the tree's .clang-format. Usage: check_format.sh CLANG_FORMAT SOURCE_ROOT
set -u
cf=$1
cd "$2" || exit 2
mapfile -t files < <(git ls-files 'core/*' 'app/*' 'kernels/*' 'tests/*' 2>/dev/null | grep -E '\.(h|cpp|cu|cuh)$')
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find core app kernels tests -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh')
bad=0
for f in "${files[@]}"; do
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: $cf -i $f)"
    bad=$((bad + 1))
  fi
done
echo "format: ${#files[@]} files, $bad not formatted"
[ $bad -eq 0 ]
