#!/usr/bin/env bash
# Installs the MongoDB-compatible server the MongoDB sink tests start on 127.0.0.1: FerretDB (Apache-2.0),
# built from the Go module proxy with the machine's Go, as install-s3-server.sh builds the S3 server.
# A plain `go install` builds a binary that refuses to start ("Invalid build/version/version.txt": the
# version file is generated from git, which a module download has not), so this builds from the module's
# source with the version written in. Idempotent: the binary is cached in ~/.cache/sluice/bin (or
# $SLUICE_CACHE/bin) under a versioned name, and a second run only checks it is there. A cold build takes
# about 2 minutes on 2 cores.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
BIN="$CACHE/bin"
TARGET="$BIN/ferretdb-$VERSION"

if [ -x "$TARGET" ]; then
  echo "FerretDB $VERSION is installed: $TARGET"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-ferretdb: Go is needed to build FerretDB (go build); none is on PATH." >&2
  exit 1
fi
mkdir -p "$BIN"
build=$(mktemp -d)
trap 'chmod -R u+w "$build"; rm -rf "$build"' EXIT
echo "Building FerretDB $VERSION (go build from the module's source, about 2 minutes)…"
# The module cache is read-only: copy the source out to write the version file beside it.
source_dir=$(cd "$build" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
if [ -z "$source_dir" ] || [ ! -d "$source_dir" ]; then
  echo "install-ferretdb: go mod download $MODULE@$VERSION gave no source directory" >&2
  exit 1
fi
cp -R "$source_dir" "$build/src"
chmod -R u+w "$build/src"
echo "$VERSION" >"$build/src/build/version/version.txt"
(cd "$build/src" && GOFLAGS=-buildvcs=false go build -trimpath -o "$build/ferretdb" ./cmd/ferretdb)
# Atomic publish: a build interrupted half-way leaves no binary under the cached name.
mv "$build/ferretdb" "$TARGET.tmp"
mv "$TARGET.tmp" "$TARGET"
ln -sfn "ferretdb-$VERSION" "$BIN/ferretdb"
echo "FerretDB $VERSION installed: $TARGET"
