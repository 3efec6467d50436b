"""Files a person looks at after `pulumi up`: the loss curve of each tuning job (PNG) and the
evaluation summary (Markdown + JSON), under ``artifacts/<stack>/<model>/``, and the same files in
the stack's bucket, ``gs://<bucket>/gemini-tuning/artifacts/<project>/<stack>/<model>/``, so any
runner or person can fetch them after the runner that wrote them is gone.

A RunArtifacts resource (resources/run_artifacts.py) writes them once the values are known
(during `up`, never at preview) and deletes them at destroy; the program links them from the
stack outputs. The evaluation summary quotes answers that did not match (the
user's prompts and answers): they live in these files, never in plain text in the state (the
Evaluation's ``samples`` output is a Pulumi secret). matplotlib is imported only here, only when
a curve is drawn; without it (the optional `plots` extra) the losses go into loss-curve.txt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LOSS_CURVE = "loss-curve.png"
LOSS_NOTE = "loss-curve.txt"
NO_LOSS = (
    "loss not available: the tuning service published no training loss for this job, so no "
    "curve is drawn (Vertex publishes it in the job's experiment, TensorBoard time series "
    "/train_total_loss; see resources/tuning_job.md)"
)
NO_PLOTS = (
    "no chart drawn: matplotlib is not installed (pip install 'gemini-tuning[plots]'). "
    "Training loss per epoch: {losses}"
)
SUMMARY_MD = "evaluation.md"
SUMMARY_JSON = "evaluation.json"
PREFIX = "gemini-tuning/artifacts"


FILES = (LOSS_CURVE, LOSS_NOTE, SUMMARY_MD, SUMMARY_JSON)  # every file a run writes, no other


def project_root(start: Path | None = None) -> Path:
    """The directory holding Pulumi.yaml, from ``start`` (the working directory) up: the program
    and its provider processes run in the project's ``main`` directory."""
    here = start or Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return here


def artifact_paths(root: Path, stack: str, model: str) -> dict[str, str]:
    folder = root / stack / model
    return {
        "folder": str(folder),
        "loss_curve": str(folder / LOSS_CURVE),
        "evaluation": str(folder / SUMMARY_MD),
        "evaluation_json": str(folder / SUMMARY_JSON),
    }


def bucket_folder(bucket: str, project: str, stack: str, model: str) -> str:
    """The gs:// folder of one model's artifacts in the stack's bucket."""
    bucket = bucket.removeprefix("gs://").strip("/")
    return f"gs://{bucket}/{PREFIX}/{project}/{stack}/{model}"


def upload_folder(settings: Any, folder: str | Path, gs_folder: str) -> list[str]:
    """Copy every file of ``folder`` to ``gs_folder`` (google-cloud-storage); the gs:// URIs
    written. A file no longer in the folder (loss-curve.png once the loss is gone) is deleted
    from the bucket too, so the bucket never shows a stale chart."""
    from gemini_tuning.backends import _storage as storage
    from gemini_tuning.datasets import parse_gcs_uri

    bucket, prefix = parse_gcs_uri(gs_folder)
    client = storage.storage_client(settings)
    types = {".png": "image/png", ".md": "text/markdown", ".json": "application/json"}
    written = []
    present = {p.name for p in Path(folder).iterdir() if p.is_file()}
    for name in sorted(present):
        path = Path(folder) / name
        content_type = types.get(path.suffix, "text/plain")
        storage.upload_file(client, bucket, f"{prefix}/{name}", str(path), content_type)
        written.append(f"{gs_folder}/{name}")
    for stale in {LOSS_CURVE, LOSS_NOTE} - present:
        storage.delete_object(client, bucket, f"{prefix}/{stale}")
    return written


def remove_folder(folder: str | Path) -> list[str]:
    """Delete the files a run wrote in ``folder`` (FILES only: nothing a person put there), and
    the folder when that leaves it empty; the names deleted."""
    folder = Path(folder)
    removed = []
    for name in FILES:
        path = folder / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    for empty in (folder, folder.parent):  # the model's folder, then the stack's
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()
    return removed


def remove_bucket_folder(settings: Any, gs_folder: str) -> list[str]:
    """Delete the files a run wrote in ``gs_folder`` (FILES only); the gs:// URIs deleted."""
    from gemini_tuning.backends import _storage as storage
    from gemini_tuning.datasets import parse_gcs_uri

    bucket, prefix = parse_gcs_uri(gs_folder)
    client = storage.storage_client(settings)
    for name in FILES:
        storage.delete_object(client, bucket, f"{prefix}/{name}")
    return [f"{gs_folder}/{name}" for name in FILES]


def write_loss_curve(
    path: str | Path, losses: Sequence[float], title: str, *, validation: Sequence[float] = ()
) -> Path:
    """A line chart of training loss per epoch at ``path`` (and of validation loss, when the job
    had a validation dataset); without values, no chart: a note beside it (loss-curve.txt) says
    the loss is not available, and a stale chart is removed. Returns the file written."""
    values = [float(v) for v in losses or []]
    if not values:
        return _no_loss(Path(path))
    try:
        import matplotlib
    except ImportError:  # the `plots` extra is optional: the losses go in the note instead
        return _no_loss(Path(path), NO_PLOTS.format(losses=", ".join(f"{v:.4g}" for v in values)))

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = list(range(1, len(values) + 1))
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    try:
        ax.plot(epochs, values, marker="o", color="#1a73e8", label="training")
        for x, y in zip(epochs, values, strict=True):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
        checked = [float(v) for v in validation or []][: len(values)]
        if checked:
            at = epochs[: len(checked)]
            ax.plot(at, checked, marker="s", color="#e8710a", label="validation")
            for x, y in zip(at, checked, strict=True):
                ax.annotate(
                    f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, -12), ha="center"
                )
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if checked else "training loss")
        ax.set_xticks(epochs)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def _no_loss(path: Path, text: str = NO_LOSS) -> Path:
    path.unlink(missing_ok=True)
    note = path.with_name(LOSS_NOTE)
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(text + "\n")
    return note


def write_evaluation_summary(
    folder: str | Path,
    *,
    model: str,
    version: Any,
    stack: str,
    summary: Mapping[str, Any],
) -> tuple[Path, Path]:
    """evaluation.md (for people) and evaluation.json (for scripts) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / SUMMARY_JSON
    json_path.write_text(json.dumps(dict(summary), indent=2, sort_keys=True, default=str) + "\n")
    md_path = folder / SUMMARY_MD
    md_path.write_text(render_summary(model=model, version=version, stack=stack, summary=summary))
    return md_path, json_path


def render_summary(*, model: str, version: Any, stack: str, summary: Mapping[str, Any]) -> str:
    metrics = summary.get("metrics") or {}
    baseline = summary.get("baseline") or {}
    gate = summary.get("gate") or {}
    lines = [
        f"# {model} v{version} — evaluation ({stack})",
        "",
        f"- tuned model: `{summary.get('model')}`",
        f"- endpoint: `{summary.get('endpoint')}`",
        f"- base model: `{summary.get('base_model')}`",
        f"- evaluation set: `{summary.get('eval_dataset')}` "
        f"({_count(metrics.get('examples'))} examples)",
        f"- evaluated at: {summary.get('evaluated_at')}",
        "",
        "| metric | tuned | base model | gate |",
        "|---|---|---|---|",
    ]
    for name in ("exact_match", "token_f1"):
        lines.append(
            f"| {name} | {_num(metrics.get(name))} | {_num(baseline.get(name))} "
            f"| {_num(gate.get(name))} |"
        )
    misses = summary.get("gate_misses") or []
    lines += ["", "Gate: " + ("met" if not misses else "missed — " + "; ".join(misses)), ""]
    samples = summary.get("samples") or []
    if samples:
        lines += ["## Answers that did not match", ""]
        for sample in samples:
            lines += [
                f"- prompt: {sample.get('prompt', '')!r}",
                f"  expected: {sample.get('expected', '')!r}; got: {sample.get('got', '')!r}",
            ]
        lines.append("")
    if summary.get("losses"):
        lines.append(f"Loss curve: [{LOSS_CURVE}]({LOSS_CURVE})")
    else:
        lines.append(f"Loss curve: {NO_LOSS}.")
    return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def _count(value: Any) -> str:
    return "?" if value is None else str(int(value))
