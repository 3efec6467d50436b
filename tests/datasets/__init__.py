"""Dataset tests (their helpers, the corpus and the SQuAD slice: tests/support/datasets.py)."""
