"""The dynamic resources. Each module holds one resource: its args, provider and Resource class.

In the dynamic-provider server (``python -m pulumi.dynamic``) this package is where our code
first runs: unpickling the first provider imports its module. There, and only there, the
provider process's patches are applied (gemini_tuning/_process.py); elsewhere this does nothing.
"""

from gemini_tuning._process import apply_if_dynamic_provider_process

apply_if_dynamic_provider_process()
