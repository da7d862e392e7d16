#!/usr/bin/env bash
# Build the pinned Centrifugo into .bin/centrifugo (called by the Makefile).
# Does nothing when the binary is already there or CENTRIFUGO_BIN names one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
version="$(cat "$here/VERSION")"
target="$root/.bin/centrifugo"

if [ -n "${CENTRIFUGO_BIN:-}" ]; then
  if [ -x "$CENTRIFUGO_BIN" ]; then exit 0; fi
  echo "CENTRIFUGO_BIN=$CENTRIFUGO_BIN is not an executable file" >&2
  exit 1
fi
if [ -x "$target" ] && "$target" version 2>/dev/null | grep -q "v$version"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
Centrifugo v$version is needed at $target and Go is not installed to build it.
Either install Go (1.26 or newer) and run this again, or put a centrifugo
v$version binary somewhere and point CENTRIFUGO_BIN at it.
MSG
  exit 1
fi
echo "building Centrifugo v$version with go install (a few minutes, once) ..." >&2
mkdir -p "$root/.bin"
GOBIN="$root/.bin" CGO_ENABLED=0 go install \
  -ldflags "-s -w -X github.com/centrifugal/centrifugo/v6/internal/build.Version=$version" \
  "github.com/centrifugal/centrifugo/v6@v$version"
"$target" version
