"""Dataset tests. SQUAD is the real SQuAD slice in ../shared/data, beside the repository."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SQUAD = SHARED_DATA / "squad" / "squad-v2.0-dev-5-articles.json"
