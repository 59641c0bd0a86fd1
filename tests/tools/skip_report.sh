#!/usr/bin/env bash
# After `ctest`: one line per skipped test, and per skipped Qt test function, with its reason, then
# the totals as one closing line. Statuses come from CTest's own output (saved to a file), reasons
# from its log of the last run (Testing/Temporary/LastTest.log, which records every test's output).
#   tests/tools/skip_report.sh BUILD_DIR CTEST_OUTPUT_FILE
build=${1:-build}
ctest_out=${2:?usage: skip_report.sh BUILD_DIR CTEST_OUTPUT_FILE}
log="$build/Testing/Temporary/LastTest.log"
[ -f "$log" ] || log=/dev/null
awk '
  FNR == NR {   # CTest output: "12/26 Test #11: core/tst_pipeline ......   Passed  12.3 sec"
    if ($0 ~ /Test +#[0-9]+: /) {
      name = $0; sub(/.*Test +#[0-9]+: /, "", name); sub(/ .*/, "", name)
      if ($0 ~ /\*\*\*Skipped/ || $0 ~ / Not Run/) { status[name] = "skipped"; skipped++ }
      else if ($0 ~ / Passed/) { status[name] = "passed"; passed++ }
      else { status[name] = "failed"; failed++ }
    }
    next
  }
  /^[0-9]+\/[0-9]+ Test: / { test = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", test); next }
  /^SKIP   : / {
    line = $0; sub(/^SKIP   : /, "", line)
    fn = line; sub(/\(.*/, "", fn)                     # Class::function; rows collapse
    reason = line; sub(/^[^)]*\)[ ]*/, "", reason)
    key = test SUBSEP fn SUBSEP reason
    if (!(key in n)) order[++k] = key
    n[key]++
    next
  }
  /^SKIP: / { r = $0; sub(/^SKIP: /, "", r); why[test] = r; next }
  END {
    print "---- skipped tests and test functions, with their reasons ----"
    for (t in status)
      if (status[t] == "skipped")
        printf "skipped test: %s: %s\n", t, ((t in why) ? why[t] : "(every test function skipped; see below)")
    for (i = 1; i <= k; i++) {
      split(order[i], f, SUBSEP)
      printf "skipped function: %s: %s%s: %s\n", f[1], f[2], ((n[order[i]] > 1) ? " (" n[order[i]] " rows)" : ""), f[3]
    }
    if (k == 0 && skipped == 0) print "(none)"
    printf "ctest: %d passed, %d failed, %d skipped\n", passed, failed, skipped
  }' "$ctest_out" "$log"
