#!/usr/bin/env bash
# Make a Pulumi CLI + Python language host of exactly $PULUMI_VERSION available, offline.
#
# Order of preference:
#   1. a `pulumi` on PATH whose version matches, with the Python language host and both
#      runtime scripts next to it;
#   2. the cached build in $GT_PULUMI_CACHE/pulumi-$VERSION/bin;
#   3. a build from the Go module proxy (the official installer downloads from a host this
#      project's machines cannot reach). See docs/reference/pulumi-notes.md section A.
#
# Prints the bin directory on stdout (last line); progress goes to stderr.
set -euo pipefail

VERSION="${1:?usage: ensure-pulumi-cli.sh VERSION}"
CACHE_ROOT="${GT_PULUMI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gemini-tuning}"
DEST="$CACHE_ROOT/pulumi-$VERSION/bin"
WORK="$CACHE_ROOT/build/pulumi-$VERSION"
NEEDED=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)

log() { printf '[pulumi-cli] %s\n' "$*" >&2; }

# The Python language host built from sdk/v3@v3.79.0 (the fallback below) learns the project's
# runtime options only from command-line flags (`-virtualenv=...`): the v3.79 engine passed them
# (buildArgsForNewPlugin(host, root, options)), but since v3.80 the engine passes only its own
# address and sends the options over gRPC (ProgramInfo.options), which that host does not read.
# Left alone it ignores `runtime.options.virtualenv` and runs the program with the `python3` on
# PATH ("No module named 'pulumi'" unless the project's venv is on PATH). So that host is
# installed as pulumi-language-python-v3.79.0 with this wrapper in its place: it reads the
# option from the project's Pulumi.yaml and passes it as the flag. A modern host (the official
# installer's) reads the option itself and is left as it is.
OLD_HOST=pulumi-language-python-v3.79.0
WRAPPER_MARK="gemini-tuning: venv-aware language host wrapper"
WRAPPER_VERSION="$WRAPPER_MARK, v2"  # v2: starts the host with SIGINT's default action

write_wrapper() {  # write_wrapper DIR: the wrapper as DIR/pulumi-language-python (atomic rename)
  local tmp="$1/.pulumi-language-python.tmp.$$"
  cat > "$tmp" <<'WRAPPER'
#!/bin/sh
# gemini-tuning: venv-aware language host wrapper, v2 (written by provider/tools/ensure-pulumi-cli.sh).
# Runs the v3.79.0 Python language host beside it with the project's `runtime.options.virtualenv`
# (or `toolchain: uv`'s .venv) as `-virtualenv=ABS`, which the v3.259 engine no longer passes.
# The engine starts the host in the program's directory (the project's, or its `main` folder).
here=$(dirname "$(readlink -f "$0")")
project=$PWD
while [ ! -f "$project/Pulumi.yaml" ] && [ ! -f "$project/Pulumi.yml" ] && [ "$project" != / ]; do
  project=$(dirname "$project")
done
file="$project/Pulumi.yaml"
[ -f "$file" ] || file="$project/Pulumi.yml"
option() {  # the value of key $1 in the project file (block or flow style), quotes removed
  [ -f "$file" ] || return 0
  sed -e 's/^/ /' -e '/^[[:space:]]*#/d' "$file" \
    | sed -n "s/.*[{,[:space:]]$1:[[:space:]]*//p" | head -n1 \
    | sed -e 's/[[:space:]]#.*//' -e 's/[,}].*//' -e "s/^[\"']//" -e "s/[\"'][[:space:]]*\$//" \
          -e 's/[[:space:]]*$//'
}
# A background job of a non-interactive shell starts with SIGINT ignored, the host keeps ignoring
# it, and the engine, which stops a plugin with SIGINT, then waits 5 s before it kills it: every
# pulumi command took 5 s longer. GNU env can start the host with the default action.
run() {
  if env --default-signal=INT true 2>/dev/null; then exec env --default-signal=INT "$@"; fi
  exec "$@"
}
venv=$(option virtualenv)
if [ -z "$venv" ] && [ "$(option toolchain)" = uv ]; then venv=.venv; fi
if [ -n "$venv" ]; then
  case $venv in /*) ;; *) venv="$project/$venv" ;; esac
  run "$here/pulumi-language-python-v3.79.0" "-root=$project" "-virtualenv=$venv" "$@"
fi
run "$here/pulumi-language-python-v3.79.0" "$@"
WRAPPER
  chmod 0755 "$tmp"
  mv -f "$tmp" "$1/pulumi-language-python"
}

venv_aware() {  # venv_aware DIR: true when DIR's language host honours the virtualenv option
  local host="$1/pulumi-language-python"
  if grep -q "$WRAPPER_MARK" "$host" 2>/dev/null; then
    grep -q "$WRAPPER_VERSION" "$host" && [[ -x "$1/$OLD_HOST" ]]
    return
  fi
  local help
  help="$("$host" -help 2>&1 || true)"
  [[ "$help" != *-virtualenv* ]]   # only the old host has that flag
}

make_venv_aware() {  # make_venv_aware DIR: wrap an old host in place (a running one is unaffected)
  venv_aware "$1" && return 0
  [[ -w "$1" ]] || { log "$1/pulumi-language-python ignores Pulumi.yaml's virtualenv and $1 is not writable; put the project's venv on PATH"; return 0; }
  log "wrapping the v3.79.0 Python language host in $1 so that it honours Pulumi.yaml's virtualenv"
  if ! grep -q "$WRAPPER_MARK" "$1/pulumi-language-python"; then
    cp -p "$1/pulumi-language-python" "$1/$OLD_HOST.tmp.$$" && mv -f "$1/$OLD_HOST.tmp.$$" "$1/$OLD_HOST"
  fi
  write_wrapper "$1"
}

complete_in() {
  local dir="$1" f
  [[ -n "$dir" ]] || return 1
  for f in "${NEEDED[@]}"; do [[ -x "$dir/$f" ]] || return 1; done
  [[ "$("$dir/pulumi" version 2>/dev/null)" == "v$VERSION" ]]
}

on_path="$(command -v pulumi 2>/dev/null || true)"
if [[ -n "$on_path" ]]; then
  on_path_dir="$(dirname "$(readlink -f "$on_path")")"
  if complete_in "$on_path_dir"; then
    log "using pulumi v$VERSION found on PATH ($on_path_dir)"
    make_venv_aware "$on_path_dir"
    echo "$on_path_dir"; exit 0
  fi
  log "pulumi on PATH ($on_path) is not v$VERSION with the Python host beside it; not using it"
fi

if complete_in "$DEST"; then
  log "using cached pulumi v$VERSION ($DEST)"
  make_venv_aware "$DEST"
  echo "$DEST"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
[pulumi-cli] No Pulumi CLI v$VERSION was found and Go is not installed, so it cannot be built.
  Either install Go 1.25 or newer (https://go.dev/doc/install) and run 'make setup' again,
  or, on a machine that can reach Pulumi's download host, install the CLI with the official
  installer:   curl -fsSL https://get.pulumi.com | sh -s -- --version $VERSION
  and put it on PATH.
MSG
  exit 1
fi

# The language host has no tags: it is pinned to the commit of tag pkg/v$VERSION.
case "$VERSION" in
  3.259.0) LANGHOST_COMMIT=a05d88f24d05726fa3beae771bfdedb0c0c6a94a ;;
  3.258.0) LANGHOST_COMMIT=0708f38c75259d11e287a03623571a68622f8371 ;;
  3.257.0) LANGHOST_COMMIT=ac083796c11be6337d47d736e0594159485f1438 ;;
  *) LANGHOST_COMMIT="" ;;
esac

log "building pulumi v$VERSION from the Go module proxy (first run only; about 10-20 min on 2 cores)"
mkdir -p "$WORK" "$DEST"
cd "$WORK"
export GOFLAGS="-mod=mod" GOTOOLCHAIN=local
[[ -f go.mod ]] || go mod init local/pulumi-cli-build >/dev/null 2>&1
go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e

fetch() { log "go get $*"; go get "$@" 2>&1 | sed 's/^/[pulumi-cli]   /' >&2; }
if ! fetch "github.com/pulumi/pulumi/pkg/v3@v$VERSION" "github.com/pulumi/pulumi/sdk/v3@v$VERSION"; then
  log "could not fetch pulumi v$VERSION from the Go module proxy ($(go env GOPROXY))."
  log "Check network access to the proxy, or install the CLI with the official installer (see above)."
  exit 1
fi
if [[ -z "$LANGHOST_COMMIT" ]]; then
  LANGHOST_COMMIT="$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$VERSION" \
    | sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -n1)"
fi
build() {  # build PACKAGE VERSION-STRING: progress on stderr, binary into $DEST
  log "go build $1 (the slow part: several minutes on 2 cores)"
  CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$2" \
    -o "$DEST/" "$1" 2>&1 | sed 's/^/[pulumi-cli]   /' >&2
}

SDK_DIR="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "v$VERSION"

# The Python language host. Upstream builds it from its own module, pinned by commit; where the
# module proxy does not serve that module (it answers 403 here), fall back to the last release
# that still shipped the host inside sdk/v3 (v3.79.0). The engine speaks to it over the stable
# language-host gRPC protocol, and it runs this SDK version's exec script.
LANGHOST_MODULE=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
if fetch "$LANGHOST_MODULE@$LANGHOST_COMMIT" && \
   fetch "github.com/pulumi/pulumi/pkg/v3@v$VERSION" "github.com/pulumi/pulumi/sdk/v3@v$VERSION"; then
  build "$LANGHOST_MODULE" "v$VERSION"
else
  log "the module proxy does not serve $LANGHOST_MODULE@$LANGHOST_COMMIT;"
  log "building the Python language host from github.com/pulumi/pulumi/sdk/v3@v3.79.0 instead"
  HOST_WORK="$WORK-langhost"
  mkdir -p "$HOST_WORK" && pushd "$HOST_WORK" >/dev/null
  [[ -f go.mod ]] || go mod init local/pulumi-langhost-build >/dev/null 2>&1
  go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e
  fetch github.com/pulumi/pulumi/sdk/v3@v3.79.0
  build github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python v3.79.0
  popd >/dev/null
  make_venv_aware "$DEST"
fi
install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" \
                "$SDK_DIR/python/dist/pulumi-resource-pulumi-python" "$DEST/"

if ! complete_in "$DEST"; then
  log "build finished but $DEST is incomplete or reports another version: $("$DEST/pulumi" version 2>&1 || true)"
  exit 1
fi
log "built pulumi $("$DEST/pulumi" version) into $DEST"
echo "$DEST"
