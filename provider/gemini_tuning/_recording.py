"""Recordings of the provider's Vertex AI (and Gemini API) calls, redacted, so a replay can
hold the emulator to them.

With ``GEMINI_TUNING_RECORD=DIR`` in the environment (the Pulumi engine's dynamic-provider
process inherits it; ``gemini-tuning --record DIR COMMAND`` sets it), every request the
aiplatform_v1 (and generativelanguage_v1beta) REST clients send and the answer each gets are
written to ``DIR/recording-<time>-<pid>.json``, one file per process, rewritten whole after each
exchange (always valid JSON). The capture is a response hook on the clients' own ``requests``
sessions (the AuthorizedSession of each REST transport, and of its operations client): nothing
here sends a request.

What is never written: any header (so no Authorization, no ``x-goog-api-key``), the ``key``
query parameter, the host. Those are the places a credential travels: "You can pass the API key
into a REST API call as a query parameter [...] Alternatively, you can use the x-goog-api-key
header" (https://cloud.google.com/docs/authentication/api-keys-use); OAuth tokens go in the
Authorization header (https://cloud.google.com/docs/authentication/rest). What is replaced:

- a project (after ``projects/``, and the same string anywhere else): ``PROJECT``;
- a bucket (after ``gs://``, and the same string anywhere else): ``BUCKET``;
- a resource id (a path segment after ``projects/PROJECT/locations/L/<collection>/`` that has a
  digit in it; the ``id``, ``deployedModelId`` and ``etag`` fields; a string equal to an id
  already seen): ``ID_<hex>`` (from its SHA-256), the same id the same placeholder in every
  recording, so a replay can bind it to the ids (and etags) its own answers carry, and the
  recordings of several processes can be merged (``merge``);
- a Gemini API tuned model's id (``tunedModels/<id>``, and the ``tunedModelId`` the client
  picks, which is made from the model's name): ``ID_<hex>`` too;
- what a user wrote (``text`` of contents and parts: prompts, answers, dataset lines;
  ``textInput`` and ``output`` of Gemini API examples; ``displayName``, ``description``,
  ``tunedModelDisplayName``): ``"<redacted>"``.

Labels are kept (gemini-tuning's own labels name the stack and the resource; a replay needs them
to find jobs by label), as are locations, base-model names, enum values and error messages
(with the replacements above applied inside them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

ENV = "GEMINI_TUNING_RECORD"
FORMAT = "gemini-tuning-recording/1"
REDACTED = "<redacted>"
USER_TEXT_KEYS = frozenset(
    {"text", "displayName", "description", "tunedModelDisplayName", "textInput", "output"}
)
CHOSEN_ID_QUERY_KEYS = frozenset({"tunedModelId"})  # an id the client picks (Gemini API)
BARE_ID_KEYS = frozenset({"id", "deployedModelId", "etag"})
MIN_BARE_ID = 6  # a string equal to a known id is replaced only when this long ("1" is not an id)
MIN_BUCKET = 3  # GCS bucket names have 3 to 63 characters: "b" in a message is not one
SECRET_QUERY_KEYS = frozenset({"key", "access_token"})
ID_DIGITS = 12
ID_PLACEHOLDER = re.compile(r"ID_[0-9a-f]+")
_PROJECT = re.compile(r"(?<=projects/)([^/\s\"'?:@]+)")
_BUCKET = re.compile(r"(?<=gs://)([^/\s\"']+)")
_TUNED_MODEL = re.compile(r"(?<![\w-])(tunedModels/)([^/\s\"'?:@]+)")
_RESOURCE = re.compile(r"projects/PROJECT/locations/[^/\s\"']+((?:/[A-Za-z]+/[^/\s\"'?:@]+)+)")


class Redactor:
    """Replaces projects, buckets and resource ids with placeholders, the same value always the
    same placeholder (one Redactor per recording)."""

    def __init__(self, *, projects: tuple[str, ...] = (), buckets: tuple[str, ...] = ()) -> None:
        self.projects = {p for p in projects if p}
        self.buckets = {b for b in buckets if len(b) >= MIN_BUCKET}
        self.ids: dict[str, str] = {}

    def string(self, value: str) -> str:
        self.projects.update(_PROJECT.findall(value))
        value = _PROJECT.sub("PROJECT", value)
        self.buckets.update(b for b in _BUCKET.findall(value) if len(b) >= MIN_BUCKET)
        value = _BUCKET.sub("BUCKET", value)
        for project in sorted(self.projects - {"PROJECT"}, key=len, reverse=True):
            value = re.sub(rf"(?<![\w-]){re.escape(project)}(?![\w-])", "PROJECT", value)
        for bucket in sorted(self.buckets - {"BUCKET"}, key=len, reverse=True):
            value = re.sub(rf"(?<![\w.-]){re.escape(bucket)}(?![\w.-])", "BUCKET", value)
        value = _TUNED_MODEL.sub(lambda m: m.group(1) + self.id(m.group(2)), value)
        value = _RESOURCE.sub(self._resource, value)
        # An id already seen, standing alone in a longer text (a list filter on a label such
        # as `labels.google-vertex-llm-tuning-job-id="<job id>"`): its placeholder too.
        for rid, placeholder in self.ids.items():
            if len(rid) >= MIN_BARE_ID and rid in value:
                value = re.sub(rf"(?<![\w-]){re.escape(rid)}(?![\w-])", placeholder, value)
        return value

    def _resource(self, match: re.Match[str]) -> str:
        head = match.group(0)[: match.start(1) - match.start(0)]
        parts = match.group(1).split("/")[1:]
        out: list[str] = []
        for collection, rid in zip(parts[::2], parts[1::2], strict=True):
            if collection == "publishers":  # publishers/google/models/gemini-...: not ours
                out += parts[len(out) :]
                break
            out += [collection, self.id(rid) if re.search(r"\d", rid) else rid]
        return head + "/" + "/".join(out)

    def id(self, rid: str) -> str:
        """The placeholder of resource id ``rid``: ``ID_`` and the start of its SHA-256, so the
        same id has the same placeholder in every process's recording (a ``pulumi up`` and the
        ``pulumi destroy`` after it can be merged into one); the id itself is not written."""
        if ID_PLACEHOLDER.fullmatch(rid):
            return rid
        digest = hashlib.sha256(rid.encode()).hexdigest()[:ID_DIGITS]
        return self.ids.setdefault(rid, f"ID_{digest}")

    def json(self, value: Any) -> Any:
        """``value`` (parsed JSON) with every replacement made; user text keeps its JSON type.
        Map keys that are ids (an endpoint's ``trafficSplit``) are replaced once every value has
        been seen, wherever in the answer the id itself came."""
        return self._keys(self._json(value))

    def _keys(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self._key(k): self._keys(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._keys(v) for v in value]
        return value

    def _key(self, key: str) -> str:
        return self.ids[key] if len(key) >= MIN_BARE_ID and key in self.ids else key

    def _json(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self._json(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._json(v, key) for v in value]
        return self._scalar(value, key) if isinstance(value, str) else value

    def _scalar(self, value: str, key: str) -> str:
        if key in USER_TEXT_KEYS:
            return REDACTED
        if key in BARE_ID_KEYS and value:
            return self.id(value)
        if len(value) >= MIN_BARE_ID and value in self.ids:
            return self.ids[value]
        return self.string(value)

    def url(self, url: str) -> tuple[str, dict[str, str]]:
        """The path and query of ``url``, redacted; the host and secret parameters dropped."""
        parts = urlsplit(url)
        query = {
            k: self.id(v) if k in CHOSEN_ID_QUERY_KEYS else self.string(v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in SECRET_QUERY_KEYS
        }
        # The emulator's transport prefix (`/_host/{the host a real call would reach}`) is not
        # part of the API path: a recording made against the emulator reads like a real one.
        path = re.sub(r"^/_host/[^/]+", "", unquote(parts.path))
        return self.string(path), query


def _body(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return REDACTED  # not JSON: kept out, whatever it held


class Recorder:
    """One recording file: exchanges appended under a lock, the file rewritten atomically."""

    def __init__(self, path: Path, redactor: Redactor, *, made_against: str) -> None:
        self.path = path
        self.redactor = redactor
        self.made_against = made_against
        self.exchanges: list[dict[str, Any]] = []
        self.failed = False
        self._lock = threading.Lock()

    def record(self, response: Any, **_send_options: Any) -> None:
        """A ``requests`` response hook: the request this answers, and the answer. It returns
        None (the response goes on unchanged), and a recording that fails never fails the call:
        it says so on stderr once and stops."""
        if self.failed:
            return
        try:
            self._record(response)
        except Exception as err:  # noqa: BLE001 - the call matters more than its record
            self.failed = True
            print(f"gemini-tuning: recording to {self.path} stopped: {err}", file=sys.stderr)

    def _record(self, response: Any) -> None:
        request = response.request
        with self._lock:
            path, query = self.redactor.url(request.url)
            exchange = {
                "method": request.method,
                "path": path,
                "query": query,
                "request": self.redactor.json(_body(request.body)),
                "status": response.status_code,
                "response": self.redactor.json(_body(response.content)),
            }
            self.exchanges.append(exchange)
            self._write()

    def _write(self) -> None:
        document = {
            "format": FORMAT,
            "made_against": self.made_against,
            "exchanges": self.exchanges,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".recording-")
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, indent=1, sort_keys=True)
            out.write("\n")
        os.replace(tmp, self.path)


_RECORDERS: dict[Path, Recorder] = {}
_RECORDERS_LOCK = threading.Lock()


def recorder(*, project: str, bucket: str | None, made_against: str) -> Recorder | None:
    """This process's recorder for the directory ``GEMINI_TUNING_RECORD`` names, or None."""
    directory = os.environ.get(ENV)
    if not directory:
        return None
    where = Path(directory).resolve()
    with _RECORDERS_LOCK:
        found = _RECORDERS.get(where)
        if found is None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")  # names sort in time
            path = where / f"recording-{stamp}-{os.getpid()}.json"
            redactor = Redactor(projects=(project,), buckets=(bucket or "",))
            found = _RECORDERS[where] = Recorder(path, redactor, made_against=made_against)
        else:
            found.redactor.projects.add(project)
            if bucket and len(bucket) >= MIN_BUCKET:
                found.redactor.buckets.add(bucket)
        return found


def attach(client: Any, recording: Recorder) -> None:
    """Record every exchange of a GAPIC REST ``client``, its long-running operations' too."""
    transport = client._transport  # the REST transport holds the session
    sessions = [transport._session]
    operations = getattr(type(transport), "operations_client", None)
    if operations is not None:
        sessions.append(transport.operations_client._transport._session)
    for session in sessions:
        hooks = session.hooks.setdefault("response", [])
        if recording.record not in hooks:
            hooks.append(recording.record)


def merge(directory: Path) -> dict[str, Any]:
    """The recordings in ``directory`` as one, their exchanges in the order the processes
    started (file names sort by time): a ``pulumi up`` and the ``pulumi destroy`` after it
    replay as one session."""
    documents = [json.loads(p.read_text()) for p in sorted(directory.glob("recording-*.json"))]
    if not documents:
        raise FileNotFoundError(f"no recording-*.json in {directory}")
    return {
        "format": FORMAT,
        "made_against": documents[0]["made_against"],
        "exchanges": [ex for document in documents for ex in document["exchanges"]],
    }
