# Sourced by the Makefile (and usable by hand: `. provider/tools/env.sh`): the offline Pulumi
# environment of this checkout. Nothing here is a secret: the passphrase only protects the
# local dev stacks' state, and is documented in docs/installation-configuration.md.
GT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GT_ROOT
# metadata=skip: the file backend writes no `.attrs` sidecars, which its driver rewrites in place
# (a killed `pulumi up` could leave one empty, and the stack unreadable). The one Python
# definition of this URL is gemini_tuning._state.local_backend_url; a unit test checks they agree.
# A shell that sourced an older env.sh still exports the old default, without metadata=skip.
if [[ -z "${PULUMI_BACKEND_URL:-}" || "$PULUMI_BACKEND_URL" == "file://$GT_ROOT/.state/backend" ]]; then
  export PULUMI_BACKEND_URL="file://$GT_ROOT/.state/backend?metadata=skip"
fi
export PULUMI_HOME="${PULUMI_HOME:-$GT_ROOT/.state/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-gemini-tuning-dev}"
if [[ -f "$GT_ROOT/.state/pulumi-bin" ]]; then
  GT_PULUMI_BIN="$(cat "$GT_ROOT/.state/pulumi-bin")"
  export GT_PULUMI_BIN
  export PATH="$GT_PULUMI_BIN:$GT_ROOT/.venv/bin:$PATH"
else
  export PATH="$GT_ROOT/.venv/bin:$PATH"
fi
if [[ -f "$GT_ROOT/.state/pulumi-yaml-bin" ]]; then  # the YAML language host (examples/yaml)
  export PATH="$(cat "$GT_ROOT/.state/pulumi-yaml-bin"):$PATH"
fi
# The policy pack's analyzer plugin: `pulumi preview --policy-pack policies` (policies/README.md).
export PATH="$GT_ROOT/policies/bin:$PATH"
export GEMINI_TUNING_EMULATOR_HOME="${GEMINI_TUNING_EMULATOR_HOME:-$GT_ROOT/.state/emulator}"
mkdir -p "$GT_ROOT/.state/backend" "$PULUMI_HOME"
