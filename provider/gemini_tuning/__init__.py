"""gemini-tuning: Gemini supervised fine-tuning as declared state, on Pulumi.

The public API is re-exported here; everything in a ``_module`` is private.
"""

from __future__ import annotations

__version__ = "0.1.0"
