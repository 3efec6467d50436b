"""Helpers the test suites share, one module per subject: `engine` (the real Pulumi engine
against the emulator: stacks, programs, runs), `plugin` (the provider plugin), `emulator`
(the emulator through the official clients), `datasets` (the corpus, SQuAD, the CLI in-process).
Fixtures stay in each suite's conftest.py and are built from these."""
