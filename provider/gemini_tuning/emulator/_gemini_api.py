"""Gemini API (generativelanguage v1beta) `tunedModels` handlers (wire-contract.md section 6).

Transport-free like `_vertex`: each handler takes a `Call` and returns a JSON-able dict (or a
list of chunks for streaming). The API key is checked by `_app` before any handler runs and never
reaches this module.

A tuned model's state is a function of the timestamps stored with it (like the Vertex trainer's
jobs), so it survives a restart and needs no worker thread: the examples arrive inline, there is
no dataset to read.

Timeline [I]: created (CREATING) --pending--> start --epochs x spe--> end (ACTIVE), where spe is
the emulator's seconds per epoch and pending its usual half epoch (at most 5 s). Step ``s`` of
``total = ceil(examples / batch) x epochs`` finishes at ``start + s x (epochs x spe) / total``.
"""

from __future__ import annotations

import math
import random
import re
import string
import time
from typing import Any

from gemini_tuning import catalog
from gemini_tuning.emulator import _answers, _listing
from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import (
    ApiError,
    check_display_name,
    invalid,
    not_found,
    precondition,
    rpc_status,
)
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._trainer import losses
from gemini_tuning.emulator._vertex import Call, VertexService
from gemini_tuning.emulator._wire import (
    normalize_keys,
    parse_double,
    parse_int64,
    parse_learning_rate_multiplier,
    prune,
    timestamp,
)

TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1beta."
MODEL_KIND = "geminiTunedModel"
OPERATION_KIND = "geminiOperation"
TUNED_MODEL_ID = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?")
MAX_DISPLAY_NAME = 40
MAX_INPUT_CHARS = 40_000
MAX_OUTPUT_CHARS = 5_000
MAX_REQUEST_BYTES = 4 * 1024 * 1024
RECOMMENDED_MIN_EXAMPLES = 20
DEFAULT_PAGE_SIZE = 10
# Defaults of tuned_model.proto: "4 or 16" and "0.001 or 0.0002 based on the number of training
# examples". The threshold is the emulator's choice [I].
LARGE_DATASET = 500
FAIL_MARKER = "[emulator-fail]"  # in the description: the tuning fails half way [I]
RETIRED_MESSAGE = (
    "{model} is not found for API version v1beta, or is not supported for createTunedModel. "
    "Call ListModels to see the list of available models and their supported methods."
)
MUTABLE_FIELDS = ("displayName", "description", "temperature", "topP", "topK")
IMMUTABLE_FIELDS = ("name", "baseModel", "tunedModelSource", "tuningTask", "state")
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _random_id(length: int) -> str:
    return "".join(random.choice(_ID_ALPHABET) for _ in range(length))


def _slug(display_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)
    return slug[:27].rstrip("-") or "tunedmodel"


class GeminiApiService:
    def __init__(self, store: Store, config: EmulatorConfig) -> None:
        self.store = store
        self.config = config

    # --- create ---------------------------------------------------------------------------------

    def create_tuned_model(self, call: Call) -> dict[str, Any]:
        if self.config.gemini_api_tuning_retired:
            base = str(normalize_keys(call.body).get("baseModel") or "models/unknown")
            raise not_found(RETIRED_MESSAGE.format(model=base))
        body = normalize_keys(call.body)
        wanted_id = call.query.get("tunedModelId") or call.query.get("tuned_model_id") or ""
        if wanted_id and not TUNED_MODEL_ID.fullmatch(wanted_id):
            raise invalid(
                f"tuned_model_id {wanted_id!r} is invalid: it must match "
                "[a-z]([a-z0-9-]{0,38}[a-z0-9])? (at most 40 characters)."
            )
        data, internal, examples = self._validate(body, call)
        now = time.time()
        with self.store.tx():
            model_id = wanted_id or f"{_slug(data.get('displayName') or '')}-{_random_id(12)}"
            name = f"tunedModels/{model_id}"
            if self.store.get(name) is not None:
                # tunedModels.create calls the id "the unique id for the tuned model"; the code
                # for a taken one is AIP-133's (google.aip.dev/133: "If the user provides an ID
                # that would result in a duplicate resource name, the service must error with
                # ALREADY_EXISTS") [I: the text is the emulator's].
                raise ApiError("ALREADY_EXISTS", f"Tuned model {name} already exists.")
            spe = self.config.seconds_per_epoch
            internal.update(
                created=now,
                start=now + self.config.pending_for(spe),
                spe=spe,
                losses=losses(name, internal["epochs"], internal["multiplier"]),
            )
            data.update(
                name=name, state="CREATING", createTime=timestamp(now), updateTime=timestamp(now)
            )
            self.store.put(Resource(name, MODEL_KIND, "tunedModels", data, internal))
            self.store.put_blob(f"examples/{name}", examples)
            op_name = f"{name}/operations/{_random_id(12)}"
            self.store.put(Resource(op_name, OPERATION_KIND, name, {}, {"model": name}))
        return self._render_operation(op_name, name, first=True)

    def _validate(
        self, body: dict[str, Any], call: Call
    ) -> tuple[dict[str, Any], dict[str, Any], list[list[str]]]:
        if body.get("tunedModelSource"):
            raise ApiError(
                "UNIMPLEMENTED",
                "Tuning from another tuned model (tuned_model_source) is not emulated.",
            )
        base = body.get("baseModel")
        if not isinstance(base, str) or not base:
            raise invalid("base_model is required.")
        try:
            model = catalog.lookup(base, "gemini-api", allow_retired=True)
        except catalog.UnknownBaseModelError as exc:
            raise not_found(RETIRED_MESSAGE.format(model=base)) from exc
        display = check_display_name(body.get("displayName"), "display_name", MAX_DISPLAY_NAME)
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise invalid("description must be a string.")
        task = body.get("tuningTask")
        if not isinstance(task, dict):
            raise invalid("tuning_task is required.")
        examples = self._examples(task)
        hyper, internal = self._hyperparameters(task.get("hyperparameters") or {}, len(examples))
        internal["base_model"] = model.id
        internal["examples"] = len(examples)
        internal["fail"] = FAIL_MARKER in description
        data: dict[str, Any] = {
            "baseModel": model.id,
            "displayName": display,
            "description": description,
            "temperature": 0.9,
            "topP": 1.0,
            "topK": 1,
            "tuningTask": {"hyperparameters": hyper},
        }
        for key in ("temperature", "topP"):
            if body.get(key) is not None:
                data[key] = parse_double(body[key], key)
        if body.get("topK") is not None:
            data["topK"] = parse_int64(body["topK"], "top_k")
        del call
        return data, internal, examples

    @staticmethod
    def _examples(task: dict[str, Any]) -> list[list[str]]:
        training = task.get("trainingData")
        if not isinstance(training, dict):
            raise invalid("tuning_task.training_data is required.")
        wrapper = training.get("examples")
        items = wrapper.get("examples") if isinstance(wrapper, dict) else None
        if not isinstance(items, list) or not items:
            raise invalid("tuning_task.training_data.examples.examples must not be empty.")
        size = 0
        pairs: list[list[str]] = []
        for n, item in enumerate(items):
            where = f"tuning_task.training_data.examples.examples[{n}]"
            if not isinstance(item, dict):
                raise invalid(f"{where} must be an object with text_input and output.")
            text, output = item.get("textInput"), item.get("output")
            if not isinstance(text, str) or not text:
                raise invalid(f"{where}.text_input is required and must be a string.")
            if not isinstance(output, str) or not output:
                raise invalid(f"{where}.output is required and must be a string.")
            if len(text) > MAX_INPUT_CHARS:
                raise invalid(
                    f"{where}.text_input is {len(text)} characters long; the maximum input "
                    f"size per example is {MAX_INPUT_CHARS} characters."
                )
            if len(output) > MAX_OUTPUT_CHARS:
                raise invalid(
                    f"{where}.output is {len(output)} characters long; the maximum output "
                    f"size per example is {MAX_OUTPUT_CHARS} characters."
                )
            size += len(text.encode()) + len(output.encode())
            pairs.append([text, output])
        if size > MAX_REQUEST_BYTES:
            raise invalid(
                f"The training data is {size} bytes; at most {MAX_REQUEST_BYTES} bytes "
                "(4 MB) of examples can be sent."
            )
        # Fewer than RECOMMENDED_MIN_EXAMPLES is allowed: 20 is the documented practical minimum,
        # and the tutorial's own example has fewer.
        return pairs

    @staticmethod
    def _hyperparameters(hp: Any, examples: int) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(hp, dict):
            raise invalid("tuning_task.hyperparameters must be an object.")
        large = examples >= LARGE_DATASET
        epochs = catalog.GEMINI_API_DEFAULT_EPOCHS
        if hp.get("epochCount") not in (None, 0, "0", ""):
            epochs = parse_int64(hp["epochCount"], "epoch_count")
            if not 1 <= epochs <= catalog.MAX_EPOCHS:
                raise invalid(
                    f"epoch_count must be between 1 and {catalog.MAX_EPOCHS}, got {epochs}."
                )
        batch = 16 if large else catalog.GEMINI_API_DEFAULT_BATCH_SIZE
        if hp.get("batchSize") not in (None, 0, "0", ""):
            batch = parse_int64(hp["batchSize"], "batch_size")
            if not 1 <= batch <= 1024:
                raise invalid(f"batch_size must be between 1 and 1024, got {batch}.")
        # learning_rate and learning_rate_multiplier are one oneof: _protos refuses both.
        has_rate = hp.get("learningRate") not in (None, 0, 0.0)
        has_multiplier = hp.get("learningRateMultiplier") not in (None, 0, 0.0)
        out: dict[str, Any] = {"epochCount": epochs, "batchSize": batch}
        multiplier = 1.0
        if has_multiplier:
            multiplier = parse_learning_rate_multiplier(hp["learningRateMultiplier"])
            out["learningRateMultiplier"] = multiplier
        else:
            default_rate = 0.0002 if large else catalog.GEMINI_API_DEFAULT_LEARNING_RATE
            rate = parse_double(hp["learningRate"], "learning_rate") if has_rate else default_rate
            if not 0 < rate <= 1:
                raise invalid(f"learning_rate must be in (0, 1], got {rate:g}.")
            out["learningRate"] = rate
            multiplier = rate / catalog.GEMINI_API_DEFAULT_LEARNING_RATE
        steps_per_epoch = math.ceil(examples / batch)
        internal = {
            "epochs": epochs,
            "multiplier": multiplier,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * epochs,
        }
        return out, internal

    # --- state as a function of time ------------------------------------------------------------

    def _progress(self, res: Resource, now: float) -> tuple[str, int, float]:
        """(state, completed steps, time the state began) at ``now``."""
        i = res.internal
        total, spe = int(i["total_steps"]), float(i["spe"])
        start, end = float(i["start"]), float(i["start"]) + int(i["epochs"]) * spe
        if i.get("fail"):
            fail_at = start + spe / 2
            if now >= fail_at:
                return "FAILED", self._steps_at(res, fail_at), fail_at
        if now >= end:
            return "ACTIVE", total, end
        return "CREATING", self._steps_at(res, now), float(i["created"])

    @staticmethod
    def _steps_at(res: Resource, at: float) -> int:
        i = res.internal
        start, total = float(i["start"]), int(i["total_steps"])
        if at <= start:
            return 0
        duration = int(i["epochs"]) * float(i["spe"])
        return min(total, int((at - start) / duration * total + 1e-6))

    @staticmethod
    def _snapshots(res: Resource, steps: int) -> list[dict[str, Any]]:
        """One snapshot per completed step: the step's mean loss falls linearly across each epoch
        around that epoch's loss (so an epoch's mean of meanLoss is its loss). `epoch` counts from
        0 and is omitted for the first epoch, as in the documented sample [I]."""
        i = res.internal
        per_epoch, epoch_losses = int(i["steps_per_epoch"]), i["losses"]
        start, total = float(i["start"]), int(i["total_steps"])
        step_seconds = int(i["epochs"]) * float(i["spe"]) / max(total, 1)
        out = []
        for step in range(1, steps + 1):
            epoch, k = divmod(step - 1, per_epoch)
            loss = float(epoch_losses[min(epoch, len(epoch_losses) - 1)])
            spread = 0.0 if per_epoch == 1 else 0.1 * (0.5 - k / (per_epoch - 1))
            snap: dict[str, Any] = {
                "step": step,
                "epoch": epoch,
                "meanLoss": round(loss * (1 + spread), 6),
                "computeTime": timestamp(start + step * step_seconds),
            }
            out.append(snap)
        return out

    def _current(self, res: Resource, now: float | None = None) -> dict[str, Any]:
        """The tuned model's public JSON at ``now``."""
        now = time.time() if now is None else now
        state, steps, since = self._progress(res, now)
        data = dict(res.data)
        task = dict(data.get("tuningTask", {}))
        if now >= float(res.internal["start"]):
            task["startTime"] = timestamp(float(res.internal["start"]))
        task["snapshots"] = self._snapshots(res, steps)
        if state != "CREATING":
            task["completeTime"] = timestamp(since)
            data["updateTime"] = timestamp(max(since, _updated(res)))
        data["tuningTask"] = task
        data["state"] = state
        return data

    # --- tuned models ---------------------------------------------------------------------------

    def _model(self, model_id: str) -> Resource:
        name = f"tunedModels/{model_id}"
        res = self.store.get(name)
        if res is None or res.kind != MODEL_KIND:
            raise not_found(f"Tuned model {name} does not exist.")
        return res

    def get_tuned_model(self, call: Call) -> dict[str, Any]:
        return prune(self._current(self._model(call.params[0])))  # type: ignore[no-any-return]

    def list_tuned_models(self, call: Call) -> dict[str, Any]:
        flt = call.query.get("filter", "")
        words, readers_everyone = _parse_filter(flt)
        docs = []
        for res in reversed(self.store.find(MODEL_KIND)):  # oldest first
            if readers_everyone:
                continue  # no emulated model is public
            text = f"{res.data.get('displayName', '')} {res.data.get('description', '')}".lower()
            if all(w in text for w in words):
                docs.append(prune(self._current(res)))
        size = call.query.get("pageSize") or call.query.get("page_size") or str(DEFAULT_PAGE_SIZE)
        page, token = _listing.paginate(
            docs,
            size,
            call.query.get("pageToken") or call.query.get("page_token"),
            f"tunedModels|{flt}",
        )
        return _listing.page_response("tunedModels", page, token)

    def update_tuned_model(self, call: Call) -> dict[str, Any]:
        body = normalize_keys(call.body)
        mask_text = call.query.get("updateMask") or call.query.get("update_mask") or ""
        mask = [_camel_path(p) for p in mask_text.split(",") if p.strip()]
        bad = [p for p in mask if p not in MUTABLE_FIELDS]
        if bad:
            raise invalid(
                f"update_mask names field(s) that cannot be updated: {', '.join(bad)}; "
                f"updatable: {', '.join(MUTABLE_FIELDS)}."
            )
        # Lenient: without a mask (google-genai sends none), every updatable field in the body.
        fields = mask or [f for f in MUTABLE_FIELDS if f in body]
        with self.store.tx():
            res = self._model(call.params[0])
            for key in fields:
                value = body.get(key)
                if key == "displayName":
                    value = value or ""
                    if not isinstance(value, str) or len(value) > MAX_DISPLAY_NAME:
                        raise invalid(
                            f"display_name must be a string of at most {MAX_DISPLAY_NAME}."
                        )
                elif key == "description":
                    value = value or ""
                    if not isinstance(value, str):
                        raise invalid("description must be a string.")
                elif key == "topK" and value is not None:
                    value = parse_int64(value, "top_k")
                elif value is not None:
                    value = parse_double(value, key)
                res.data[key] = value
            now = time.time()
            res.internal["updated"] = now
            res.data["updateTime"] = timestamp(now)
            self.store.put(res)
        return prune(self._current(res))  # type: ignore[no-any-return]

    def delete_tuned_model(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res = self._model(call.params[0])
            for op in self.store.find(OPERATION_KIND, res.name):
                self.store.delete(op.name)
            self.store.delete(res.name)
        return {}

    # --- generateContent ------------------------------------------------------------------------

    def _active(self, model_id: str) -> Resource:
        res = self._model(model_id)
        state = self._progress(res, time.time())[0]
        if state != "ACTIVE":
            raise precondition(f"Tuned model {res.name} is {state}, not ACTIVE.")
        return res

    def generate_content(self, call: Call) -> list[dict[str, Any]]:
        res = self._active(call.params[0])
        body = normalize_keys(call.body)
        if body.get("systemInstruction"):
            raise invalid(f"Developer instruction is not enabled for {res.name}")
        config = body.get("generationConfig") or {}
        if str(config.get("responseMimeType", "")).lower() == "application/json":
            raise invalid(f"JSON mode is not enabled for {res.name}")
        prompt = VertexService._prompt(body)
        if len(prompt) > MAX_INPUT_CHARS:
            raise invalid(
                f"The input is {len(prompt)} characters long; tuned models accept at most "
                f"{MAX_INPUT_CHARS}."
            )
        pairs = self.store.get_blob(f"examples/{res.name}") or []
        answer = _answers.tuned_answer(prompt, [(str(p), str(a)) for p, a in pairs])
        chunks = VertexService._respond(body, prompt, answer, res.name)
        for chunk in chunks:
            chunk.pop("createTime", None)
            for n, cand in enumerate(chunk["candidates"]):
                cand["index"] = n
                cand.pop("avgLogprobs", None)
        return chunks

    def count_tokens(self, call: Call) -> dict[str, Any]:
        self._model(call.params[0])
        prompt = VertexService._prompt(normalize_keys(call.body))
        return {"totalTokens": catalog.estimate_tokens(len(prompt))}

    # --- operations -----------------------------------------------------------------------------

    def _render_operation(
        self, op_name: str, model_name: str, first: bool = False
    ) -> dict[str, Any]:
        res = self.store.get(model_name)
        if res is None:
            raise not_found(f"Operation {op_name} does not exist.")
        i = res.internal
        now = time.time()
        state, steps, _ = self._progress(res, now)
        metadata: dict[str, Any] = {
            "@type": f"{TYPE_PREFIX}CreateTunedModelMetadata",
            "tunedModel": model_name,
            "totalSteps": int(i["total_steps"]),
        }
        if not first:
            metadata["completedSteps"] = steps
            metadata["completedPercent"] = round(100.0 * steps / int(i["total_steps"]), 2)
            metadata["snapshots"] = self._snapshots(res, steps)
        out: dict[str, Any] = {"name": op_name, "metadata": prune(metadata)}
        if first:
            return out
        if state == "FAILED":
            out["done"] = True
            out["error"] = {
                **rpc_status("INTERNAL", "Tuning failed (injected by [emulator-fail])."),
                "details": [],
            }
        elif state == "ACTIVE":
            out["done"] = True
            model = prune(self._current(res, now))
            out["response"] = {"@type": f"{TYPE_PREFIX}TunedModel", **model}
        return out

    def _operation(self, model_id: str, op_id: str) -> Resource:
        name = f"tunedModels/{model_id}/operations/{op_id}"
        res = self.store.get(name)
        if res is None or res.kind != OPERATION_KIND:
            raise not_found(f"Operation {name} does not exist.")
        return res

    def get_operation(self, call: Call) -> dict[str, Any]:
        op = self._operation(call.params[0], call.params[1])
        return self._render_operation(op.name, str(op.internal["model"]))

    def list_operations(self, call: Call) -> dict[str, Any]:
        model = self._model(call.params[0])
        docs = [
            self._render_operation(op.name, model.name)
            for op in self.store.find(OPERATION_KIND, model.name)
        ]
        page, token = _listing.paginate(
            docs,
            call.query.get("pageSize") or call.query.get("page_size"),
            call.query.get("pageToken") or call.query.get("page_token"),
            f"operations|{model.name}",
        )
        return _listing.page_response("operations", page, token)


def _updated(res: Resource) -> float:
    return float(res.internal.get("updated") or res.internal["created"])


def _camel_path(path: str) -> str:
    head, *rest = path.strip().split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_FILTER_ROLES = ("owner:me", "writers:me", "readers:me", "readers:everyone")


def _parse_filter(text: str) -> tuple[list[str], bool]:
    """Full-text words (lower case) and whether `readers:everyone` was asked for [I]."""
    words: list[str] = []
    everyone = False
    for token in text.split():
        low = token.lower()
        if low in _FILTER_ROLES:
            everyone = everyone or low == "readers:everyone"
        elif ":" in low:
            raise invalid(
                f"Invalid filter {text!r}: supported are words (searched in display name and "
                f"description) and {', '.join(_FILTER_ROLES)}."
            )
        else:
            words.append(low.strip('"'))
    return words, everyone
