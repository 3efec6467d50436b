"""Import only the aiplatform_v1 clients the Vertex backend uses, not the whole package.

``google.cloud.aiplatform_v1``'s ``__init__`` imports every service and every message type of
Vertex AI (some 450 modules, 1.5-2.5 s on 2 cores), and an `up` pays that before its first
create can list or submit a job. The backend needs six services. So the package and its
``types`` package are entered into ``sys.modules`` as *lazy* packages: the module object of the
real package (its spec, its ``__path__``), not yet executed, so importing a submodule
(``...services.gen_ai_tuning_service``) loads just that submodule and what it imports. The first
time anyone asks such a package for a name it does not have yet (``aiplatform_v1.DatasetService
Client``, ``from google.cloud.aiplatform_v1.types import Model``), its own ``__init__`` runs
into that same module object, and the name is there: a later full import finds the complete
package. If any of this fails (a future layout), the ordinary import is used.

Those lazy packages are module objects whose ``__init__`` has not run yet, in ``sys.modules``
for every other importer of the process to see; so only the provider's own processes (the
dynamic-provider server and the plugin, through ``gemini_tuning._process``) turn this on with
:func:`import_services_lazily`. Anywhere else (a program, the CLI, a test) the clients come from
the ordinary, complete import of ``aiplatform_v1``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "google.cloud.aiplatform_v1"
LAZY_PACKAGES = (PACKAGE, f"{PACKAGE}.types")
SERVICES = {
    "tuning": ("gen_ai_tuning_service", "GenAiTuningServiceClient"),
    "model": ("model_service", "ModelServiceClient"),
    "endpoint": ("endpoint_service", "EndpointServiceClient"),
    "prediction": ("prediction_service", "PredictionServiceClient"),
    "metadata": ("metadata_service", "MetadataServiceClient"),
    "tensorboard": ("tensorboard_service", "TensorboardServiceClient"),
}
_LOCK = threading.RLock()
_LAZY = {"enabled": False}


def import_services_lazily() -> None:
    """From now on in this process, load only the services asked for (a provider process)."""
    _LAZY["enabled"] = True


def client_classes() -> dict[str, Any]:
    """The six client classes by kind ("tuning", "model", ...)."""
    return {kind: client_class(kind) for kind in SERVICES}


def client_class(kind: str) -> Any:
    """One client class ("tuning": GenAiTuningServiceClient), importing only its service."""
    module, name = SERVICES[kind]
    if not _LAZY["enabled"]:
        return getattr(importlib.import_module(PACKAGE), name)
    with _LOCK:
        try:
            _enter_lazy_packages()
            return getattr(importlib.import_module(f"{PACKAGE}.services.{module}"), name)
        except (ImportError, AttributeError):
            _drop_unexecuted()
            return getattr(importlib.import_module(PACKAGE), name)


def model_message() -> Any:
    """aiplatform_v1.Model, the message ``update_model`` sends."""
    client_classes()
    return importlib.import_module(f"{PACKAGE}.types.model").Model


def _enter_lazy_packages() -> None:
    for name in LAZY_PACKAGES:
        if name not in sys.modules:
            _enter_lazy(name)


def _enter_lazy(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package")
    module = importlib.util.module_from_spec(spec)
    state = {"executed": False}

    def lazy_getattr(attribute: str) -> Any:
        if state["executed"]:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        if _is_submodule(module, attribute):  # `from package import submodule` asks first
            return importlib.import_module(f"{name}.{attribute}")
        with _LOCK:
            if not state["executed"]:
                state["executed"] = True
                spec.loader.exec_module(module)  # type: ignore[union-attr]
        try:
            return module.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    module.__getattr__ = lazy_getattr  # type: ignore[method-assign]  # PEP 562
    module.__dict__["_gemini_tuning_lazy"] = state
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, module)


def _is_submodule(package: ModuleType, attribute: str) -> bool:
    return any(
        (Path(location) / attribute).is_dir() or (Path(location) / f"{attribute}.py").is_file()
        for location in package.__path__
    )


def _drop_unexecuted() -> None:
    """Forget lazy packages that never ran their ``__init__`` (before a full import)."""
    for name in LAZY_PACKAGES[::-1]:
        module: ModuleType | None = sys.modules.get(name)
        state = getattr(module, "__dict__", {}).get("_gemini_tuning_lazy")
        if state is not None and not state["executed"]:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]
