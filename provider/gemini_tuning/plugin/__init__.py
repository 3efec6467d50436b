"""The ``gemini-tuning`` Pulumi provider plugin: the same resources, for any Pulumi language.

``pulumi-resource-gemini-tuning`` (a console script of this package) is the executable the
engine starts. Docs: plugin.md.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Serve the provider: print the gRPC port, then answer the engine until it hangs up."""
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


def _one_status_proto() -> None:
    """Let the SDK's provider server and the Google clients share one ``google.rpc.Status``.

    ``pulumi.provider`` imports ``pulumi.runtime.proto.status_pb2``, which registers
    ``google.rpc.Status`` in the default descriptor pool under the file
    ``google/protobuf/status.proto``; the Google API clients register the same message from
    ``google/rpc/status.proto``. Whichever comes second fails ("duplicate symbol
    'google.rpc.Status'"), in the plugin and in any process (a test run) that loads both. Both
    define the same message, so whichever module is loaded first serves both names. Runs when
    this package is imported (a unit test pins both orders)."""
    import importlib

    sdk_name, google_name = "pulumi.runtime.proto.status_pb2", "google.rpc.status_pb2"
    first = sys.modules.get(google_name) or sys.modules.get(sdk_name)
    if first is None:
        first = importlib.import_module(google_name)
    for name in (sdk_name, google_name):
        sys.modules.setdefault(name, first)
        package, _, attr = name.rpartition(".")
        setattr(importlib.import_module(package), attr, first)


_one_status_proto()
