#!/usr/bin/env bash
# CTest install/tree: `cmake --install` of the build into a temporary prefix, which is then moved,
# and the installed programs run from a folder outside the source and build trees:
#   zeropoint-cli --version, zeropoint-cli demo, the SentencePiece module from lib/zeropoint
#   (where the module is built and the asset is there), the man pages, and the GUI's
#   --demo --screenshots offscreen, reading its demo definition from share/zeropoint.
# Usage: check_install.sh CMAKE BUILD_DIR VERSION HAVE_GUI(0|1) [ASSETS_DIR]
# Exits 77 (skipped) only where the GUI is not built, after the command-line checks passed.
set -euo pipefail
cmake=$1 build=$2 version=$3 have_gui=$4 assets=${5:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zp-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "-- $*"; }

step "cmake --install $build --prefix <tmp>/first"
"$cmake" --install "$build" --prefix "$tmp/first" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install failed"; }
# The tree must work wherever it lies: move it, then use only the new place.
mv "$tmp/first" "$tmp/moved"
prefix=$tmp/moved
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
export PATH="$prefix/bin:/usr/bin:/bin"

expect_file() { [ -f "$prefix/$1" ] || fail "not installed: $1"; }
expect_file bin/zeropoint-cli
expect_file share/zeropoint/demo/demo_model.json
expect_file share/doc/zeropoint/README.md
expect_file share/doc/zeropoint/copyright
# A man page, gzipped where gzip was found at build time.
man_page() {
  local f
  for f in "$prefix/share/man/man1/$1.1.gz" "$prefix/share/man/man1/$1.1"; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  fail "not installed: share/man/man1/$1.1(.gz)"
}
man_cli=$(man_page zeropoint-cli)
show_man() { case "$1" in *.gz) gzip -dc "$1" ;; *) cat "$1" ;; esac; }
# One section per command, generated from the program's own --help.
for cmd in quantize demo export; do
  show_man "$man_cli" | grep -q "^\.SS zeropoint\\\\-cli $cmd\$" ||
    fail "$man_cli: no section for 'zeropoint-cli $cmd'"
done
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$man_cli" >/dev/null 2>"$tmp/man.err" || fail "man -l $man_cli failed"
  [ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err"; fail "man -l $man_cli: warnings"; }
fi

step "zeropoint-cli --version (from PATH, in $tmp/elsewhere)"
[ "$(command -v zeropoint-cli)" = "$prefix/bin/zeropoint-cli" ] || fail "zeropoint-cli is not the installed one"
got=$(zeropoint-cli --version)
[ "$got" = "zeropoint-cli $version" ] || fail "zeropoint-cli --version printed '$got', not 'zeropoint-cli $version'"
echo "$got"

step "zeropoint-cli demo"
zeropoint-cli demo >"$tmp/demo.txt" 2>&1 || { cat "$tmp/demo.txt"; fail "zeropoint-cli demo failed"; }
grep -q "NeUQI" "$tmp/demo.txt" || { cat "$tmp/demo.txt"; fail "zeropoint-cli demo printed no NeUQI row"; }

# The SentencePiece module: the installed one, found next to the installed program.
module=$prefix/lib/zeropoint/libzp_sentencepiece.so
spm_model=$assets/tokenizers/llama2_tokenizer.model
if [ ! -f "$module" ]; then
  echo "note: no SentencePiece module in this build (libsentencepiece-dev absent): not checked"
elif [ -z "$assets" ] || [ ! -f "$spm_model" ]; then
  echo "note: $spm_model absent: the installed SentencePiece module was not loaded"
else
  step "zeropoint-cli tokenize with a SentencePiece model (module from lib/zeropoint)"
  LD_DEBUG=files zeropoint-cli tokenize --tokenizer "$spm_model" --text "Hello world" \
    >"$tmp/tok.txt" 2>"$tmp/tok.err" || { cat "$tmp/tok.txt"; fail "zeropoint-cli tokenize failed"; }
  grep -q "file=$prefix/bin/../lib/zeropoint/libzp_sentencepiece.so \[0\]; *generating link map" \
    "$tmp/tok.err" || fail "the installed libzp_sentencepiece.so was not the one loaded"
  grep -Eq '^[0-9]+( [0-9]+)*$' "$tmp/tok.txt" || { cat "$tmp/tok.txt"; fail "no token ids"; }
fi

if [ "$have_gui" != 1 ]; then
  echo "SKIP: the GUI is not built (needs Qt 6 Widgets + QCustomPlot); the installed" \
    "zeropoint-cli passed, the installed workbench was not checked"
  exit 77
fi

for f in bin/zeropoint share/applications/io.github.zeropoint.Workbench.desktop \
  share/metainfo/io.github.zeropoint.Workbench.metainfo.xml \
  share/icons/hicolor/scalable/apps/io.github.zeropoint.Workbench.svg \
  share/mime/packages/io.github.zeropoint.Workbench.xml; do
  expect_file "$f"
done
man_page zeropoint >/dev/null

step "zeropoint --demo --screenshots (offscreen)"
export QT_QPA_PLATFORM=offscreen
timeout 600 zeropoint --demo --screenshots "$tmp/shots" >"$tmp/gui.log" 2>&1 ||
  { cat "$tmp/gui.log"; fail "the installed zeropoint --demo --screenshots failed"; }
for shot in overview_window inspector_window evaluation_window playground_window; do
  [ -s "$tmp/shots/$shot.png" ] || { cat "$tmp/gui.log"; fail "no $shot.png"; }
done
grep "screenshots" "$tmp/gui.log" | tail -1

# The installed GUI reads its demo from share/zeropoint: a broken copy there must be the one it
# reports (the copy compiled into the binary would have opened).
step "the demo definition comes from share/zeropoint"
definition=$prefix/share/zeropoint/demo/demo_model.json
echo '{ not json' >"$definition"
if timeout 120 zeropoint --demo --screenshots "$tmp/shots2" >"$tmp/gui2.log" 2>&1; then
  cat "$tmp/gui2.log"
  fail "a broken $definition did not stop the demo: the installed definition is not read"
fi
grep -qF "$definition" "$tmp/gui2.log" || { cat "$tmp/gui2.log"; fail "the error does not name $definition"; }
echo "install/tree: passed ($prefix)"
