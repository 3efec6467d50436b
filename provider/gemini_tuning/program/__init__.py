"""Model definitions + this stack's config -> resources. `stacks/__main__.py` calls ``run()``.

Two kinds of environment, chosen by the stack config (namespace ``gemini-tuning``):

*Tuning* (dev): ``models`` lists the definitions it carries (``[squad-qa, ...]``, or a map
``{squad-qa: 3}`` that pins the version the file must have). Each model becomes a TuningJob, a
TunedModel (owned; aliases = ``aliases``, default the stack name) and an Evaluation.

A tuning stack with a bucket also writes a durable release record per version (a Release; see
``_releases``) and exports where they live (``environment.release_store``).

*Promoting* (staging, prod): ``promoteFrom`` names the stack whose outputs it takes models from
(``organization/gemini-tuning/dev`` with a local backend) and ``models`` maps each model to the
version to promote (``{squad-qa: 3}``). Each becomes a TunedModel(adopted=True) that adds this
environment's aliases and claim to the *same* model version. No tuning job. The version comes
from the release record, so it may be one the source no longer carries (the tuning stack retains
a version another stack claims); its recorded evaluation must meet the gate of the definition in
this checkout, or preview fails and says by how much. Rolling back is changing the version here.

(``probes: [a, b]`` instead declares Probe resources only: an engine smoke check.)

Every environment exports ``models``: ``{name: {version, state, job, model, endpoint, aliases,
metrics, baseline, gate, gate_passed, artifacts, ...}}`` (see README, "Stack outputs"), and
``environment``: ``{stack, role, promote_from}``.
"""

from __future__ import annotations

from typing import Any

import pulumi

from gemini_tuning._artifacts import project_root  # one definition: RunArtifacts uses it
from gemini_tuning.program._promotion import check_promotion, promote, source_of
from gemini_tuning.program._stack import (
    NAMESPACE,
    StackConfigError,
    definition_file,
    deletion_policy,
    load_stack_definitions,
    release_store_of,
    selection,
)
from gemini_tuning.program._tuning import declare_probes, tune

__all__ = ["NAMESPACE", "StackConfigError", "check_promotion", "project_root", "run"]


def run() -> None:
    config = pulumi.Config(NAMESPACE)
    stack = pulumi.get_stack()
    probes = config.get_object("probes")
    if probes is not None:
        declare_probes([str(name) for name in probes])
        return
    selected = config.get_object("models")
    if selected is None:
        raise StackConfigError(
            f"stack {stack} selects no models: set {NAMESPACE}:models in Pulumi.{stack}.yaml "
            "(a list of definition names, or a map of name -> version)"
        )
    wanted = selection(selected)
    definitions = load_stack_definitions(config, list(wanted))
    aliases = [str(a) for a in (config.get_object("aliases") or [stack])]
    root = project_root()
    artifacts_root = (root / (config.get("artifactsDir") or "artifacts")).resolve()
    promote_from = config.get("promoteFrom")
    release_store = release_store_of(config) if not promote_from else None
    source = source_of(promote_from) if promote_from else None
    outputs: dict[str, Any] = {}
    for name, definition in definitions.items():
        if promote_from and source is not None:
            version = wanted[name]
            if version is None:
                raise StackConfigError(
                    f"{NAMESPACE}:models must map {name} to the version to promote from "
                    f"{promote_from}, e.g. {{{name}: {definition.version}}}"
                )
            policy = deletion_policy(config, name, definition, root)
            outputs[name] = promote(
                name,
                version,
                definition,
                source_name=promote_from,
                source=source,
                aliases=aliases,
                policy=policy,
            )
        else:
            pinned = wanted[name]
            if pinned is not None and pinned != definition.version:
                raise StackConfigError(
                    f"stack {stack} pins {name} to version {pinned}, but "
                    f"{definition_file(config, name)} is version {definition.version}"
                )
            outputs[name] = tune(
                name,
                definition,
                config,
                policy=deletion_policy(config, name, definition, root),
                aliases=aliases,
                artifacts_root=artifacts_root,
                root=root,
                release_store=release_store,
            )
    pulumi.export("models", outputs)
    pulumi.export(
        "environment",
        {
            "stack": stack,
            "role": "promotion" if promote_from else "tuning",
            "promote_from": promote_from,
            "aliases": aliases,
            # A promoting stack passes its source's store on: prod reads staging's releases.
            "release_store": source.get_output("environment").apply(
                lambda env: (env or {}).get("release_store")
            )
            if source is not None
            else release_store,
        },
    )
