"""The backends' tests share one way to start the emulator with a training file in its bucket."""

from __future__ import annotations
