"""`python -m gemini_tuning.emulator run|start|stop|status` (same as `gemini-tuning emulator`)."""

import sys

from gemini_tuning.emulator._cli import main

sys.exit(main())
