#!/usr/bin/env bash
# `make demo`: the dev stack's `pulumi up` against the local emulator. Run through
# provider/tools/env.sh (the Makefile does), so pulumi is on PATH and the backend is local.
set -euo pipefail
cd "$GT_ROOT"
export GEMINI_TUNING_EMULATOR_HOME="$GT_ROOT/.state/emulator"

echo "== starting the local emulator (Vertex AI + GCS) in $GEMINI_TUNING_EMULATOR_HOME"
gemini-tuning emulator start --state-dir "$GEMINI_TUNING_EMULATOR_HOME"

pulumi stack select dev --create --non-interactive >/dev/null
echo "== pulumi up (dev stack)"
pulumi up --stack dev --yes --skip-preview --non-interactive --color never
echo
echo "== outputs"
pulumi stack output --stack dev --json
cat <<'MSG'

Next:
  source provider/tools/env.sh && pulumi preview --stack dev   # should show no changes
  source provider/tools/env.sh && pulumi destroy --stack dev --yes   # deletes the tuned models
  gemini-tuning emulator stop
MSG
