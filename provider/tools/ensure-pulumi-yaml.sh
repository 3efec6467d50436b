#!/usr/bin/env bash
# Make the Pulumi YAML language host (pulumi-language-yaml) of exactly $VERSION available, offline.
#
# Like ensure-pulumi-cli.sh: the cached build in $GT_PULUMI_CACHE/pulumi-yaml-$VERSION/bin, else
# a build from the Go module proxy (`go install`, with the module's own go.mod: pulumi-yaml
# v1.25.0 requires pulumi pkg/sdk v3.206.0; the engine talks to the host over the stable
# language-host gRPC protocol). The engine finds the host on PATH, so env.sh puts the bin
# directory there once `.state/pulumi-yaml-bin` names it.
#
# Prints the bin directory on stdout (last line); progress goes to stderr.
set -euo pipefail

VERSION="${1:?usage: ensure-pulumi-yaml.sh VERSION}"
CACHE_ROOT="${GT_PULUMI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gemini-tuning}"
DEST="$CACHE_ROOT/pulumi-yaml-$VERSION/bin"

log() { printf '[pulumi-yaml] %s\n' "$*" >&2; }

if [[ -x "$DEST/pulumi-language-yaml" ]]; then
  log "using cached pulumi-language-yaml v$VERSION ($DEST)"
  echo "$DEST"; exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed: cannot build pulumi-language-yaml v$VERSION (YAML programs only)."
  exit 1
fi

log "building pulumi-language-yaml v$VERSION from the Go module proxy (first run only; a few minutes)"
mkdir -p "$DEST"
# `go install pkg@version` builds with the module's own go.mod; -mod=mod is not allowed there.
if ! GOFLAGS=-buildvcs=false GOTOOLCHAIN=local GOBIN="$DEST" CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=v$VERSION" \
    "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@v$VERSION" 2>&1 | sed 's/^/[pulumi-yaml]   /' >&2; then
  log "go install github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@v$VERSION failed (above)"
  exit 1
fi
[[ -x "$DEST/pulumi-language-yaml" ]] || { log "build finished but $DEST/pulumi-language-yaml is missing"; exit 1; }
log "built pulumi-language-yaml v$VERSION into $DEST"
echo "$DEST"
