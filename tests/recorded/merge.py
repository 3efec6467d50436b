"""Merges the recordings a session left in a directory (one per provider process: the `up`, the
`destroy`) into one recording, in the order the processes started.

    source provider/tools/env.sh && python -m tests.recorded.merge DIR OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gemini_tuning import _recording


def main(argv: list[str]) -> int:
    if len(argv) != 2:  # DIR and OUT
        print(__doc__, file=sys.stderr)
        return 2
    merged = _recording.merge(Path(argv[0]))
    Path(argv[1]).write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    print(f"wrote {argv[1]}: {len(merged['exchanges'])} exchanges")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
