#!/usr/bin/env bash
# Installs the S3-compatible server the lake connector tests start on 127.0.0.1: versitygw (Versity S3
# Gateway, Apache-2.0) with its POSIX backend, built from the Go module proxy with the machine's Go.
# Idempotent: the binary is cached in ~/.cache/sluice/bin (or $SLUICE_CACHE/bin) under a versioned name,
# and a second run only checks it is there. A cold build takes about 1.5 minutes on 2 cores.
set -euo pipefail

VERSION=v1.8.0
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
BIN="$CACHE/bin"
TARGET="$BIN/versitygw-$VERSION"

if [ -x "$TARGET" ]; then
  echo "versitygw $VERSION is installed: $TARGET"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-s3-server: Go is needed to build versitygw (go install); none is on PATH." >&2
  exit 1
fi
mkdir -p "$BIN"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "Building versitygw $VERSION (go install, about 1.5 minutes)…"
GOBIN="$build" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
# Atomic publish: a build interrupted half-way leaves no binary under the cached name.
mv "$build/versitygw" "$TARGET.tmp"
mv "$TARGET.tmp" "$TARGET"
ln -sfn "versitygw-$VERSION" "$BIN/versitygw"
echo "versitygw $VERSION installed: $TARGET"
