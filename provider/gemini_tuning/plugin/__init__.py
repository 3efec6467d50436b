"""The ``gemini-tuning`` Pulumi provider plugin: the same resources, for any Pulumi language.

``pulumi-resource-gemini-tuning`` (a console script of this package) is the executable the
engine starts. Docs: plugin.md.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Serve the provider: print the gRPC port, then answer the engine until it hangs up."""
    _one_status_proto()
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

    The server imports ``pulumi.runtime.proto.status_pb2``, which registers ``google.rpc.Status``
    in the default descriptor pool under the file ``google/protobuf/status.proto``; the Google
    API clients register the same message from ``google/rpc/status.proto``. Whichever comes
    second fails ("duplicate symbol 'google.rpc.Status'"). Both define the same message, so the
    SDK's module name is pointed at the googleapis one (a unit test pins this)."""
    import pulumi.runtime.proto as sdk_protos
    from google.rpc import status_pb2

    sys.modules.setdefault("pulumi.runtime.proto.status_pb2", status_pb2)
    sdk_protos.status_pb2 = status_pb2
