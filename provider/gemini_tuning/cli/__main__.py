"""`python -m gemini_tuning.cli`: the `gemini-tuning` command."""

import sys

from gemini_tuning.cli import main

sys.exit(main())
