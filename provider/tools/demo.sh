#!/usr/bin/env bash
# `make demo`: the dev stack against the local emulator, end to end. Run through
# provider/tools/env.sh (the Makefile does), so pulumi is on PATH and the backend is local.
#
#   bash provider/tools/demo.sh            # tune + evaluate the two example models, print the table
#   bash provider/tools/demo.sh promote    # promote them to the local-staging stack (no new tuning)
#   bash provider/tools/demo.sh destroy    # destroy local-staging (models stay), then dev, then
#                                          # prune the versions dev kept for local-staging
set -euo pipefail
cd "$GT_ROOT"
export GEMINI_TUNING_EMULATOR_HOME="${GEMINI_TUNING_EMULATOR_HOME:-$GT_ROOT/.state/emulator}"
PULUMI=(pulumi --non-interactive --color never)

start_emulator() {
  echo "== local emulator (Vertex AI + GCS) in $GEMINI_TUNING_EMULATOR_HOME"
  # One simulated epoch per second: the demo's tuning jobs take seconds, not hours.
  gemini-tuning emulator start --state-dir "$GEMINI_TUNING_EMULATOR_HOME" --seconds-per-epoch 1
}

select_stack() {
  "${PULUMI[@]}" stack select "$1" --create >/dev/null
}

case "${1:-up}" in
  up)
    start_emulator
    select_stack dev
    echo "== pulumi preview (dev): what would be tuned, and why"
    "${PULUMI[@]}" preview --stack dev | grep -E '^\s*[+~-]|to (create|update|replace|delete)|unchanged|gemini-tuning\]' || true
    echo "== pulumi up (dev): tune squad-qa and number-successor, wait, evaluate"
    "${PULUMI[@]}" up --stack dev --yes --skip-preview --suppress-outputs
    echo
    echo "== artifacts (loss curves, evaluation summaries)"
    find artifacts/dev -type f | sort | sed 's/^/  /'
    echo
    echo "== gemini-tuning report --stack dev"
    gemini-tuning report --stack dev
    cat <<'MSG'

Next:
  source provider/tools/env.sh
  pulumi preview --stack dev --expect-no-changes   # nothing to do: the state matches the definitions
  bash provider/tools/demo.sh promote               # promote to local-staging: adopt, alias, no tuning
  gemini-tuning report --stack dev --stack local-staging
  gemini-tuning releases list --stack dev            # every released version, who serves it
  bash provider/tools/demo.sh destroy               # local-staging first (models stay), then dev
  gemini-tuning emulator stop
MSG
    ;;
  promote)
    start_emulator >/dev/null
    select_stack local-staging
    echo "== pulumi up (local-staging): promote from organization/gemini-tuning/dev behind the gates"
    "${PULUMI[@]}" up --stack local-staging --yes --skip-preview --suppress-outputs
    gemini-tuning report --stack dev --stack local-staging
    ;;
  destroy)
    start_emulator >/dev/null
    for stack in local-staging dev; do
      if "${PULUMI[@]}" stack select "$stack" >/dev/null 2>&1; then
        echo "== pulumi destroy ($stack)"
        "${PULUMI[@]}" destroy --stack "$stack" --yes --skip-preview | grep -E 'gemini-tuning\]|deleted|Duration' || true
      fi
    done
    if "${PULUMI[@]}" stack select dev >/dev/null 2>&1; then
      echo "== gemini-tuning releases prune --stack dev --yes (versions dev kept while others served them)"
      gemini-tuning releases prune --stack dev --yes
    fi
    ;;
  *)
    echo "usage: demo.sh [up|promote|destroy]" >&2
    exit 2
    ;;
esac
