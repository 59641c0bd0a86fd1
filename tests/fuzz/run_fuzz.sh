#!/usr/bin/env bash
# One fuzz target under ctest: replay the committed corpus and the seeds (every input must pass),
# then fuzz for SECONDS from a working corpus that starts as their union. A crash, sanitizer
# report, leak, timeout (10 s per input) or allocation over 2 GB fails the test; its reproducer is
# left in WORK/artifacts. Usage: run_fuzz.sh TARGET CORPUS SEEDS SECONDS WORK
set -euo pipefail
target=$1 corpus=$2 seeds=$3 seconds=$4 work=$5
if [ ! -d "$(dirname "$seeds")" ]; then echo "SKIP: no seeds folder (the fuzz/seeds fixture did not run)"; exit 77; fi
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
# Without the assets there are no seeds: the committed corpus (if any) is the start.
inputs=()
[ -d "$seeds" ] && inputs+=("$seeds")
[ -d "$corpus" ] && inputs+=("$corpus")
# libFuzzer's own exit code for a finding is 77, which CTest reads as a skip: use 1 (and 2 for a
# timeout) so that a finding fails the test.
opts=(-timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=2
  -artifact_prefix="$work/artifacts/")
if [ ${#inputs[@]} -gt 0 ]; then
  echo "replaying: ${inputs[*]}"
  "$target" "${opts[@]}" -runs=0 "${inputs[@]}"
else
  echo "no seeds and no committed corpus: fuzzing from an empty input"
fi
echo "fuzzing for ${seconds} s"
for i in "${inputs[@]}"; do cp -r "$i"/. "$work/corpus/"; done
set +e
"$target" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 "$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?
set -e
tail -n 40 "$work/fuzz.log"
echo "working corpus: $(ls "$work/corpus" | wc -l) inputs"
exit "$rc"
