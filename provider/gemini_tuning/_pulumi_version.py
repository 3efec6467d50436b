"""The Pulumi CLI (and SDK) version this release of gemini-tuning is built and tested with.

Stated here once. The Makefile's setup builds this CLI (it reads the value from this file),
``constraints.txt`` and ``policies/requirements.txt`` pin this SDK, the repository's workflow and
the workflow ``gemini-tuning init`` scaffolds install this CLI, and the scaffolded
``requirements.txt`` pins this SDK; tests/packaging/test_wheel.py checks that they all agree.
The package's own dependency stays a range (``pulumi>=3.259,<4``) so that it installs beside
other Pulumi programs; a team keeps CLI and SDK equal by pinning this one.
"""

PULUMI_VERSION = "3.259.0"
