"""RunArtifacts: the files a person looks at after `pulumi up`, owned by the engine.

One per model of a tuning stack: the loss curve (PNG, or a note when there is no loss or no
matplotlib) and the evaluation summary (Markdown + JSON) under ``artifacts/<stack>/<model>/``,
copied to ``gs://<bucket>/gemini-tuning/artifacts/<project>/<stack>/<model>/`` when the stack has
a bucket (gemini_tuning._artifacts writes them). Create and update write them from the run's
values; destroy deletes them (only the files a run writes), so nothing is left behind by a stack
that is gone. A failed upload or delete never fails the `up` or the destroy that tunes or
deletes the billable resources beside it: it says what went wrong and where the files are.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Unpack

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning import backends
from gemini_tuning.resources._declared import RunArtifactsArgs, RunArtifactsAttributes
from gemini_tuning.resources._lifecycle import normal
from gemini_tuning.resources._props import declared_props
from gemini_tuning.resources._wait import say
from gemini_tuning.specs import RUN_ARTIFACTS

# Declared in specs.RunArtifactsSpec and specs.RunArtifactsOutputs.
ARGUMENTS = RUN_ARTIFACTS.arguments
STATE_INPUTS = RUN_ARTIFACTS.input_keys


class RunArtifactsProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        backends.configure(req.config.get)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return dyn.CheckResult(news, _failures(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in ARGUMENTS if normal(olds.get(k)) != normal(news.get(k))]
        if changed:
            say(str(news.get("resource_name")), f"update: artifacts ({', '.join(changed)} changed)")
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(f"artifacts-{props['resource_name']}", _write(props))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        inputs = {k: props[k] for k in STATE_INPUTS if k in props}
        return dyn.ReadResult(id_, props, inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        moved = any(olds.get(k) != news.get(k) for k in ("folder", "bucket_folder"))
        if moved:  # the files go where they are declared now; none stays where they were
            _remove(olds)
        return dyn.UpdateResult(_write(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _remove(props)


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = RunArtifactsProvider()


class RunArtifacts(RunArtifactsAttributes, dyn.Resource, module="artifacts", name="RunArtifacts"):
    """The loss curve and evaluation summary of one model's run, written and deleted with it."""

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[RunArtifactsArgs],
    ) -> None:
        props = declared_props("RunArtifacts", resource_name, args, RUN_ARTIFACTS)
        super().__init__(_PROVIDER, resource_name, props, opts)


def _failures(news: dict[str, Any]) -> list[dyn.CheckFailure]:
    failures = []
    folder = news.get("folder")
    if isinstance(folder, str) and (
        PurePosixPath(folder).is_absolute() or ".." in PurePosixPath(folder).parts
    ):
        failures.append(
            dyn.CheckFailure("folder", f"a folder inside the project, relative to it: {folder}")
        )
    bucket = news.get("bucket_folder")
    if isinstance(bucket, str) and not bucket.startswith("gs://"):
        failures.append(dyn.CheckFailure("bucket_folder", f"not a gs:// URI: {bucket}"))
    return failures


def _local(folder: str) -> Path:
    from gemini_tuning._artifacts import project_root

    return project_root() / folder


def _write(props: dict[str, Any]) -> dict[str, Any]:
    from gemini_tuning import _artifacts as files

    name = str(props["resource_name"])
    folder = _local(str(props["folder"]))
    losses = props.get("loss_per_epoch") or []
    version = int(props["version"])  # the engine hands numbers back as floats
    title = f"{props['model']} v{version} ({props['stack']}) - loss"
    curve = files.write_loss_curve(
        folder / files.LOSS_CURVE,
        losses,
        title,
        validation=props.get("validation_loss_per_epoch") or [],
    )
    links = {"folder": str(props["folder"]), "loss_curve": f"{props['folder']}/{curve.name}"}
    evaluation = props.get("evaluation")
    if evaluation:
        summary = {
            **evaluation,
            "losses": losses,
            "model": props.get("tuned_model"),
            "endpoint": props.get("endpoint"),
        }
        files.write_evaluation_summary(
            folder,
            model=str(props["model"]),
            version=version,
            stack=str(props["stack"]),
            summary=summary,
        )
        links["evaluation"] = f"{props['folder']}/{files.SUMMARY_MD}"
    gs_folder = props.get("bucket_folder")
    if gs_folder:
        try:
            files.upload_folder(backends.settings(), folder, str(gs_folder))
        except Exception as err:  # noqa: BLE001 - the model is tuned; say what failed
            say(
                name,
                f"warning: could not write the artifacts to {gs_folder} ({err}); they are in "
                f"{props['folder']} only. The deployer needs storage.objects.create and "
                "storage.objects.delete on that bucket",
            )
        else:
            links.update(bucket_folder=str(gs_folder), loss_curve_uri=f"{gs_folder}/{curve.name}")
            if evaluation:
                links["evaluation_uri"] = f"{gs_folder}/{files.SUMMARY_MD}"
    return {**{k: props.get(k) for k in STATE_INPUTS}, "links": links}


def _remove(props: dict[str, Any]) -> None:
    """Delete what ``_write`` wrote; a failure is said, never raised (see the module doc)."""
    from gemini_tuning import _artifacts as files

    name = str(props.get("resource_name"))
    folder = props.get("folder")
    if folder:
        try:
            files.remove_folder(_local(str(folder)))
        except OSError as err:
            say(name, f"warning: could not delete the artifacts in {folder} ({err})")
    gs_folder = props.get("bucket_folder")
    if gs_folder:
        try:
            files.remove_bucket_folder(backends.settings(), str(gs_folder))
        except Exception as err:  # noqa: BLE001 - never hold up a destroy for these files
            say(name, f"warning: could not delete the artifacts in {gs_folder} ({err})")
