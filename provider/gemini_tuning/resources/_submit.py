"""Submitting a tuning job exactly once, whatever the service does to the answer.

CreateTuningJob takes no request ID, so a create is never retried blindly (the backend raises
SubmitUncertainError when its answer was lost after the service may have acted):

1. Before submitting, the jobs carrying this resource's identity labels are listed (the backend
   checks every label on the client). One that is PENDING, QUEUED, RUNNING, or SUCCEEDED with its
   model still there is adopted; the names of all of them are remembered.
2. After a lost answer, the labels are looked up again (at once, then after 2 s and 5 s, in case
   the list lags [I]); a job that was not there before is the one the lost request created, and
   is adopted whatever its state. A filtered list that answers nothing is no proof of absence:
   the backend then pages the unfiltered list and matches on the client (identity labels,
   display name, created no earlier than the create began less CLOCK_SKEW_SECONDS). Only when
   none appears is the job submitted again (at most MAX_UNCERTAIN times).
4. A job of this resource and spec that this process saw end badly (FAILED, CANCELLED,
   EXPIRED, PARTIALLY_SUCCEEDED without a model) is never followed by another submission in the
   same process (the same `up`): the `up` fails with the job's own error, and the next `up`
   decides.
3. Under the service's quota (429 RESOURCE_EXHAUSTED: nothing was created) the submission waits
   and tries again, with growing intervals, until the resource's deadline: the `up` queues
   instead of failing. ``gemini-tuning:maxConcurrentJobs`` bounds, per project, how many jobs
   one provider process has submitted and is waiting for at once; the others queue in the
   process without calling the service.

How the service counts concurrent tuning jobs: Google's quota pages we could read
(https://cloud.google.com/vertex-ai/generative-ai/docs/quotas, "Generative AI on Vertex AI
quotas and system limits") publish no concurrent-tuning-job limit, per region or otherwise [I].
Projects that hit it report the metric ``global_concurrent_tuning_jobs`` (a ``global_`` metric
on Vertex counts a project across all its regions, as ``global_embed_content_input_tokens_per_
minute_per_base_model`` on that page does), and count their active jobs across regions to know
when a slot is free. So the queue is keyed per project, every location together: the safer
reading (if the service counted per region, this only queues more than it must; the other way
round it would let an `up` start more jobs than the project may run).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from gemini_tuning import backends
from gemini_tuning.resources._wait import HEARTBEAT_SECONDS, Poller, duration, say

MAX_UNCERTAIN = 5
SETTLE_SECONDS = (0.0, 2.0, 5.0)
# How far the service's clock may be behind ours [I]: a job created by a lost request is looked
# for among those created at most this long before our create began. Wider only adds
# candidates, which the identity labels and the jobs seen before then rule out.
CLOCK_SKEW_SECONDS = 600.0

# Jobs this process saw end badly, by (resource, spec) identity: never submitted again here.
_ended_badly: dict[tuple[str, ...], str] = {}
_ended_lock = threading.Lock()


def note_ended_badly(wanted: dict[str, str], status: backends.JobStatus) -> None:
    with _ended_lock:
        _ended_badly[_identity(wanted)] = f"{status.name} ended {status.state}"


def forget_ended_badly() -> None:
    """Tests that play several `up`s in one process."""
    with _ended_lock:
        _ended_badly.clear()


def _identity(wanted: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in sorted(wanted.items()))


def _refuse_if_ended_badly(wanted: dict[str, str]) -> None:
    with _ended_lock:
        seen = _ended_badly.get(_identity(wanted))
    if seen is not None:
        raise RuntimeError(
            f"not submitting another tuning job: {seen} in this `pulumi up`, with the same "
            "inputs; read its error, fix the cause, and run `pulumi up` again"
        )


@dataclass
class Existing:
    """The jobs carrying the identity labels before this create submits anything."""

    jobs: list[backends.JobStatus] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {job.name for job in self.jobs}


@dataclass(frozen=True)
class Timing:
    deadline_seconds: float
    poll_seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]


def existing_jobs(backend: backends.TuningBackend, wanted: dict[str, str]) -> Existing:
    return Existing(backend.find_jobs(wanted))


def reusable(backend: backends.TuningBackend, existing: Existing) -> backends.JobStatus | None:
    """The newest adoptable job: on its way (PENDING, QUEUED, RUNNING), or SUCCEEDED with its
    model still there. Never CANCELLING (a destroy just cancelled it) nor a failed one."""
    for job in _newest_first(existing.jobs):
        if not job.adoptable:  # backends.ADOPTABLE_STATES
            continue
        if not job.succeeded or (job.tuned_model and _model_exists(backend, job.tuned_model)):
            return job
    return None


def submit_once(
    backend: backends.TuningBackend,
    request: backends.JobRequest,
    wanted: dict[str, str],
    existing: Existing,
    *,
    resource: str,
    timing: Timing,
) -> backends.JobStatus:
    """Submit ``request``; after a lost answer adopt what it created; queue under the quota."""
    started = timing.clock()
    poller = Poller(initial=timing.poll_seconds)
    uncertain = 0
    while True:
        _refuse_if_ended_badly(wanted)
        began = _rfc3339(time.time() - CLOCK_SKEW_SECONDS)
        try:
            status = backend.submit_job(request)
        except backends.SubmitUncertainError as err:
            uncertain += 1
            say(resource, f"{err}; looking the job up by its labels before submitting again")
            lookup = _Lookup(wanted, began, request.display_name)
            found = _created_by_lost_answer(backend, lookup, existing, resource, timing)
            if found is not None:
                return found
            if uncertain >= MAX_UNCERTAIN:
                raise RuntimeError(
                    f"gave up submitting: {uncertain} answers to CreateTuningJob were lost and "
                    "no job with this resource's labels appeared; run `pulumi up` again"
                ) from err
        except backends.QuotaExceededError as err:
            waited = timing.clock() - started
            if waited >= timing.deadline_seconds:
                raise RuntimeError(
                    f"still no quota to submit after {duration(waited)}: {err}. Nothing was "
                    "submitted; run `pulumi up` again, or raise the quota or timeout_minutes"
                ) from err
            interval = poller.next_interval()
            say(
                resource,
                f"queued: {err}; submitting again in {duration(interval)} "
                f"(waited {duration(waited)})",
            )
            timing.sleep(interval)
        else:
            say(resource, f"submitted tuning job {status.name}")
            return status


@dataclass(frozen=True)
class _Lookup:
    """What identifies the job a lost create made."""

    labels: dict[str, str]
    created_since: str  # RFC 3339: when the create began, less CLOCK_SKEW_SECONDS
    display_name: str | None


def _rfc3339(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _created_by_lost_answer(
    backend: backends.TuningBackend,
    lookup: _Lookup,
    existing: Existing,
    resource: str,
    timing: Timing,
) -> backends.JobStatus | None:
    """The job a lost create made: one with our labels that was not there before."""
    for delay in SETTLE_SECONDS:
        timing.sleep(delay)
        candidates = backend.find_jobs(
            lookup.labels,
            created_since=lookup.created_since,
            display_name=lookup.display_name,
            known=existing.names,
        )
        new = [j for j in candidates if j.name not in existing.names]
        if new:
            chosen, *extra = _newest_first(new)
            say(
                resource,
                f"adopting tuning job {chosen.name} ({chosen.state}): the lost "
                "create did reach the service",
            )
            for duplicate in extra:
                _cancel_duplicate(backend, duplicate, resource)
            existing.jobs.extend(new)
            return chosen
    return None


def _cancel_duplicate(
    backend: backends.TuningBackend, job: backends.JobStatus, resource: str
) -> None:
    """A second job from an earlier lost answer (only if the list lagged): stop paying for it."""
    if not job.active:
        return
    try:
        backend.cancel_job(job.name)
    except backends.BackendError as err:
        say(resource, f"warning: duplicate tuning job {job.name} could not be cancelled: {err}")
        return
    say(resource, f"cancelled duplicate tuning job {job.name}")


def _newest_first(jobs: Sequence[backends.JobStatus]) -> list[backends.JobStatus]:
    return sorted(jobs, key=lambda j: j.create_time or "", reverse=True)


def _model_exists(backend: backends.TuningBackend, name: str) -> bool:
    try:
        backend.get_model(name)
    except backends.NotFoundError:
        return False
    return True


# -- the per-project bound -----------------------------------------------------------------


_slots_lock = threading.Lock()
_slots: dict[tuple[str, ...], threading.BoundedSemaphore] = {}
_planned: dict[tuple[str, ...], list[str]] = {}


def quota_scope(settings: backends.Settings) -> tuple[str, ...]:
    """What the concurrent-job limit counts together: one project, all its locations (see the
    module docstring), on one service (the real one, or an emulator at its own URL)."""
    service = "google" if settings.endpoint_mode == "google" else settings.api_endpoint
    return (service, settings.project)


def announce_start(settings: backends.Settings, limit: int | None, *, resource: str) -> None:
    """At preview, for a TuningJob whose create or replacement submits a new job: the how-many-
    th job of this update it is in its project, against the limit. Once per resource."""
    with _slots_lock:
        planned = _planned.setdefault(quota_scope(settings), [])
        if resource in planned:
            return
        planned.append(resource)
        count = len(planned)
    if limit:
        bound = f"gemini-tuning:maxConcurrentJobs {limit} at once"
        if count > limit:
            bound += f"; this one waits in the queue until one of the first {limit} ends"
    else:
        bound = (
            "no gemini-tuning:maxConcurrentJobs: the service's quota decides, and a job it "
            "refuses (429) waits in the queue"
        )
    say(
        resource,
        f"this update starts tuning job {count} in project {settings.project} (the limit "
        f"counts every location of the project: {bound})",
    )


@contextmanager
def project_slot(
    settings: backends.Settings,
    limit: int | None,
    *,
    resource: str,
    timing: Timing,
    needed: bool = True,
) -> Iterator[None]:
    """Hold one of ``limit`` slots of this project (all its locations, as the service counts)
    while a job is submitted and waited for (no bound when None; nothing to hold when not
    ``needed``: an adopted job that has finished)."""
    if not limit or not needed:
        yield
        return
    key = (*quota_scope(settings), str(limit))
    with _slots_lock:
        slot = _slots.setdefault(key, threading.BoundedSemaphore(limit))
    if not slot.acquire(blocking=False):
        _wait_for_slot(slot, limit, settings, resource, timing)
    try:
        yield
    finally:
        slot.release()


def _wait_for_slot(
    slot: threading.BoundedSemaphore,
    limit: int,
    settings: backends.Settings,
    resource: str,
    timing: Timing,
) -> None:
    where = f"project {settings.project}"
    say(
        resource,
        f"queued: {limit} tuning jobs of this stack are running in {where} "
        "(gemini-tuning:maxConcurrentJobs); waiting for one to finish",
    )
    started = last = timing.clock()
    while not slot.acquire(timeout=1.0):
        now = timing.clock()
        if now - started >= timing.deadline_seconds:
            raise RuntimeError(
                f"still queued after {duration(now - started)}: {limit} tuning jobs of this "
                f"stack are running in {where} (gemini-tuning:maxConcurrentJobs)"
            )
        if now - last >= HEARTBEAT_SECONDS:
            say(resource, f"still queued for a submission slot, waited {duration(now - started)}")
            last = now
    say(resource, f"a submission slot is free after {duration(timing.clock() - started)}")
