"""The provider plugin: the engine's gRPC calls, translated onto the resources' controllers.

Every call runs its controller method on a thread of its own (the controllers block: they wait
for tuning jobs for hours), so the plugin puts no bound of its own on how many run at once; the
engine's ``--parallel`` and the provider's ``maxConcurrentJobs`` config are the only bounds.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi.dynamic as dyn
from pulumi.provider.experimental import provider as api
from pulumi.provider.experimental.property_value import PropertyValue

from gemini_tuning import backends
from gemini_tuning.plugin import _log
from gemini_tuning.plugin._kinds import Kind, kinds
from gemini_tuning.plugin._schema import schema_json
from gemini_tuning.plugin._values import props_in, props_out, to_plain, to_wire

T = TypeVar("T")


class GeminiTuningProvider(api.Provider):
    """``gemini-tuning``: TuningJob, TunedModel and Evaluation as a Pulumi provider."""

    def __init__(self) -> None:
        self._kinds = kinds()

    async def get_schema(self, request: api.GetSchemaRequest) -> api.GetSchemaResponse:
        return api.GetSchemaResponse(schema_json(self._kinds))

    async def check_config(self, request: api.CheckRequest) -> api.CheckResponse:
        return api.CheckResponse(inputs=request.new_inputs, failures=[])

    async def diff_config(self, request: api.DiffRequest) -> api.DiffResponse:
        return api.DiffResponse(changes=False)

    async def configure(self, request: api.ConfigureRequest) -> api.ConfigureResponse:
        """The provider's config (``gemini-tuning:<key>`` in the stack) feeds the same settings
        the dynamic resources read from ``configure()``. Secrets arrive unwrapped
        (accept_secrets False); the engine re-marks outputs named like secret inputs."""
        values = {f"{_PACKAGE}:{k}": _config_value(v) for k, v in request.args.items()}
        backends.configure(values.get)
        return api.ConfigureResponse(accept_secrets=False, supports_preview=False)

    async def check(self, request: api.CheckRequest) -> api.CheckResponse:
        kind = self._kind(request.urn)
        news = {**props_in(request.new_inputs), **_identity(request.urn)}
        olds = props_in(request.old_inputs)
        result: dyn.CheckResult = await _call(request.urn, kind.controller.check, olds, news)
        failures = [
            api.CheckFailure(to_wire(f.property), f.reason) for f in (result.failures or [])
        ]
        return api.CheckResponse(inputs=props_out(result.inputs or news), failures=failures)

    async def diff(self, request: api.DiffRequest) -> api.DiffResponse:
        kind = self._kind(request.urn)
        olds, news = props_in(request.old_state), props_in(request.new_inputs)
        result = await _call(request.urn, kind.controller.diff, request.resource_id, olds, news)
        return api.DiffResponse(
            changes=result.changes,
            replaces=[to_wire(k) for k in (result.replaces or [])],
            delete_before_replace=bool(result.delete_before_replace),
        )

    async def create(self, request: api.CreateRequest) -> api.CreateResponse:
        kind = self._kind(request.urn)
        props = props_in(request.properties)
        result = await _call(request.urn, kind.controller.create, props)
        return api.CreateResponse(result.id, self._state(kind, result.outs or {}))

    async def read(self, request: api.ReadRequest) -> api.ReadResponse:
        """Refresh (recorded state given) or `pulumi import` (only the id: the controller
        rebuilds the inputs from the service)."""
        kind = self._kind(request.urn)
        importing = not request.properties
        if importing and kind.name == "Evaluation":
            raise ValueError(
                "an Evaluation is a measurement, not something in the service: it cannot be "
                "imported. Declare it in the program and `pulumi up` measures the model"
            )
        props = {**props_in(request.properties), **_identity(request.urn)}
        result = await _call(request.urn, kind.controller.read, request.resource_id, props)
        if not result.id and importing:
            # An empty answer would import an empty resource: the engine checks only for none.
            raise ValueError(f"{request.resource_id} does not exist: nothing to import")
        if not result.id:
            return api.ReadResponse(None, {}, {})
        inputs = {k: v for k, v in (result.inputs or {}).items() if k in _input_names(kind)}
        return api.ReadResponse(result.id, self._state(kind, result.outs or {}), props_out(inputs))

    async def update(self, request: api.UpdateRequest) -> api.UpdateResponse:
        kind = self._kind(request.urn)
        olds, news = props_in(request.olds), props_in(request.news)
        result = await _call(request.urn, kind.controller.update, request.resource_id, olds, news)
        return api.UpdateResponse(self._state(kind, result.outs or {}))

    async def delete(self, request: api.DeleteRequest) -> None:
        kind = self._kind(request.urn)
        await _call(
            request.urn, kind.controller.delete, request.resource_id, props_in(request.properties)
        )

    def _kind(self, urn: str) -> Kind:
        token = urn.split("::")[2].rsplit("$", 1)[-1]
        try:
            return self._kinds[token]
        except KeyError:
            raise ValueError(
                f"{token} is not a gemini-tuning resource; types: {', '.join(self._kinds)}"
            ) from None

    @staticmethod
    def _state(kind: Kind, outs: Mapping[str, Any]) -> dict[str, PropertyValue]:
        return props_out(outs, secret=kind.secret_outputs, keep=kind.state)


_PACKAGE = "gemini-tuning"


def _identity(urn: str) -> dict[str, str]:
    """What the dynamic Resource classes add to the props: the resource's name and the stack
    (``project/stack``, the same string the dynamic face records), both from the URN."""
    _, _, rest = urn.partition("urn:pulumi:")
    stack, project, _type, name = rest.split("::", 3)
    return {"resource_name": name, "stack": f"{project}/{stack}"}


def _input_names(kind: Kind) -> set[str]:
    return {"resource_name", *kind.inputs, *kind.computed_inputs}


def _config_value(value: PropertyValue) -> Any:
    plain = to_plain(value)
    if isinstance(plain, float) and plain.is_integer():
        return int(plain)
    return plain


async def _call(urn: str, method: Callable[..., T], *args: Any) -> T:
    """``method(*args)`` on a new thread (no pool, so no bound), progress lines tagged with
    ``urn``; the event loop stays free for the engine's other calls."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result = context.run(_log.with_urn, urn, method, *args)
        except BaseException as err:  # noqa: BLE001 - handed to the engine as the call's error
            loop.call_soon_threadsafe(_settle_error, done, err)
        else:
            loop.call_soon_threadsafe(_settle, done, result)

    threading.Thread(target=run, name=urn.rsplit("::", 1)[-1], daemon=True).start()
    return await done


def _settle(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[Any], err: BaseException) -> None:
    if not future.done():
        future.set_exception(err)
