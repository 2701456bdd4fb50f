#!/usr/bin/env bash
# Installs PyIceberg, the independent reader the Iceberg lake tests check committed tables with: a Python
# venv with pyiceberg[sql-sqlite,pyarrow] from PyPI, pinned. Idempotent: the venv is cached in
# ~/.cache/sluice/pyiceberg-<version> (or $SLUICE_CACHE/…), and a second run only checks it is there.
set -euo pipefail

VERSION=0.12.0
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
TARGET="$CACHE/pyiceberg-$VERSION"

if [ -x "$TARGET/bin/python" ] && "$TARGET/bin/python" -c 'import pyiceberg, pyarrow' 2>/dev/null; then
  echo "pyiceberg $VERSION is installed: $TARGET"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "install-pyiceberg: python3 (3.9+) is needed for the Iceberg tests' reader; none is on PATH." >&2
  exit 1
fi
mkdir -p "$CACHE"
build="$TARGET.tmp-$$"
trap 'rm -rf "$build"' EXIT
echo "Installing pyiceberg $VERSION into a venv (about 1 minute)…"
python3 -m venv "$build"
"$build/bin/pip" install -q "pyiceberg[sql-sqlite,pyarrow]==$VERSION"
rm -rf "$TARGET"
mv "$build" "$TARGET"
ln -sfn "pyiceberg-$VERSION" "$CACHE/pyiceberg"
echo "pyiceberg $VERSION installed: $TARGET"
