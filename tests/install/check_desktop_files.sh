#!/usr/bin/env bash
# CTest install/desktop_files: the desktop entry (desktop-file-validate, Debian package
# desktop-file-utils), the AppStream metainfo (appstreamcli validate --no-net, package appstream)
# and the shared-mime-info package (update-mime-database, package shared-mime-info: it must
# compile, and a session file must be recognised by its name).
# Usage: check_desktop_files.sh DESKTOP_FILE METAINFO_FILE MIME_XML
# Without one of the tools this skips (exit 77), naming it; under CI=true (packaging/setup.sh
# installs them) a missing tool is a failure.
set -uo pipefail
desktop=$1 metainfo=$2 mime=$3
missing=()
for tool in desktop-file-validate appstreamcli update-mime-database; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -ne 0 ]; then
  why="not installed: ${missing[*]} (apt-get install desktop-file-utils appstream shared-mime-info)"
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $why (CI=true: packaging/setup.sh installs them)" >&2
    exit 1
  fi
  echo "SKIP: $why"
  exit 77
fi
rc=0

echo "-- desktop-file-validate $desktop"
out=$(desktop-file-validate "$desktop" 2>&1) || rc=1
# Hints and warnings count too: the entry must be clean.
[ -z "$out" ] || { echo "$out"; rc=1; }

echo "-- appstreamcli validate --no-net $metainfo"
# Errors and warnings fail; info and pedantic notes are listed only (the reverse-DNS id has an
# upper-case letter, which appstreamcli notes at the pedantic level).
out=$(appstreamcli validate --no-net "$metainfo" 2>&1)
st=$?
echo "$out"
[ $st -eq 0 ] || rc=1
if echo "$out" | grep -Eq '^[EW]: '; then rc=1; fi

echo "-- update-mime-database with $mime"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zp-mime.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/mime/packages"
cp "$mime" "$tmp/mime/packages/"
if ! XDG_DATA_DIRS="$tmp:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}" update-mime-database "$tmp/mime" 2>&1; then
  rc=1
elif ! grep -q '^application/x-zeropoint-session:\*\.zpsession\.h5$' "$tmp/mime/globs"; then
  echo "the compiled database has no *.zpsession.h5 glob" >&2
  rc=1
elif ! grep -q 'application/x-zeropoint-session' "$tmp/mime/magic"; then
  echo "the compiled database has no magic for ZeroPoint sessions" >&2
  rc=1
fi
[ $rc -eq 0 ] && echo "install/desktop_files: passed"
exit $rc
