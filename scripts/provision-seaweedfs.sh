#!/usr/bin/env bash
# Provisions `weed` (SeaweedFS), the S3-compatible server the media-store tests run against.
#
# Debian ships no S3 server, and `go install github.com/seaweedfs/seaweedfs/weed@...` refuses the
# module because its go.mod has replace directives, so we download the module source through the Go
# module proxy, copy it out of the (read-only) module cache and build ./weed inside it. The binary is
# cached in .tools/ (ignored by git): a second run with the binary present does nothing.
#
# Usage: scripts/provision-seaweedfs.sh   (needs `go`; prints the binary's path on success)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="v0.0.0-20261109003541-7506e5f91cd6"
MODULE="github.com/seaweedfs/seaweedfs"
TOOLS="$PWD/.tools"
BIN="$TOOLS/weed"
STAMP="$TOOLS/weed.version"

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "provision-seaweedfs: go is not installed (https://go.dev/dl/)" >&2; exit 1; }
# SeaweedFS's go.mod names a recent Go; a go >= 1.21 that is older fetches that toolchain (a Go
# module, golang.org/toolchain) through the module proxy rather than refusing to build.
export GOTOOLCHAIN=auto
mkdir -p "$TOOLS"

echo "provision-seaweedfs: downloading $MODULE@$VERSION" >&2
dir="$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] && [ -d "$dir/weed" ] || { echo "provision-seaweedfs: module download failed" >&2; exit 1; }

src="$(mktemp -d "$TOOLS/seaweedfs-src.XXXXXX")"
trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
cp -R "$dir/." "$src/"
chmod -R u+w "$src"

echo "provision-seaweedfs: building weed (several minutes)" >&2
(cd "$src" && CGO_ENABLED=0 go build -o "$BIN.partial" ./weed)
"$BIN.partial" version >/dev/null 2>&1 || { echo "provision-seaweedfs: the built weed does not run" >&2; exit 1; }
# Rename last, so an interrupted build never leaves a binary the idempotence check above would accept.
mv -f "$BIN.partial" "$BIN"
echo "$VERSION" >"$STAMP"
echo "$BIN"
