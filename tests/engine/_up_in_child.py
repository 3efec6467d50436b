"""Run `up` of the TuningJob test program in a separate process, so a test can SIGKILL it.

usage: python -m tests.engine._up_in_child ROOT PULUMI_BIN DATA CONFIG_JSON OVERRIDES_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.engine import inline_stack, job_program


def main() -> None:
    root, pulumi_bin, data, config, overrides = sys.argv[1:6]
    program = job_program(Path(data), **json.loads(overrides))
    with inline_stack(Path(root), Path(pulumi_bin), program, config=json.loads(config)) as stack:
        stack.up(on_output=print, color="never")


if __name__ == "__main__":
    main()
