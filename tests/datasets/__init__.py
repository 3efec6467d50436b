"""Dataset tests. SQUAD is the real SQuAD slice vendored in stacks/data/squad (its README has
the licence and attribution)."""

from pathlib import Path

SQUAD = (
    Path(__file__).resolve().parents[2]
    / "stacks"
    / "data"
    / "squad"
    / "squad-v2.0-dev-5-articles.json"
)
SQUAD_SHA256 = "db71d0a19c3f656b1ebefafce642b828cfab269f0d906312dfb0efdc7173b31a"
