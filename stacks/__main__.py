"""The Pulumi program: model definitions + this stack's config -> resources."""

from gemini_tuning.program import run

run()
