"""The ``gemini-tuning`` Pulumi provider plugin: the same resources, for any Pulumi language.

``pulumi-resource-gemini-tuning`` (a console script of this package) is the executable the
engine starts. Docs: plugin.md.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Serve the provider: print the gRPC port, then answer the engine until it hangs up."""
    from gemini_tuning._process import apply_process_patches

    apply_process_patches("plugin")  # before the SDK's provider server is imported
    from pulumi.provider.experimental.server import main as serve

    from gemini_tuning.plugin import _log
    from gemini_tuning.plugin._kinds import VERSION
    from gemini_tuning.plugin._provider import GeminiTuningProvider

    args = sys.argv[1:] if argv is None else argv
    engine = next((a for a in args if not a.startswith("-")), None)
    if engine:
        _log.connect(engine)
    serve(args, VERSION, GeminiTuningProvider())


def schema() -> str:
    """The package schema, as the plugin serves it (``gemini-tuning plugin schema``)."""
    from gemini_tuning.plugin._kinds import kinds
    from gemini_tuning.plugin._schema import schema_json

    return schema_json(kinds())
