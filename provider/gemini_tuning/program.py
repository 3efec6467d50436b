"""Model definitions + stack config -> resources. `stacks/__main__.py` calls ``run()``.

Until model definitions land (issue 6), the program declares one Probe per name listed in the
stack config ``gemini-tuning:probes`` (default: one), which exercises the whole engine path.
"""

from __future__ import annotations

import pulumi


def run() -> None:
    from gemini_tuning.resources.probe import Probe

    config = pulumi.Config("gemini-tuning")
    names = config.get_object("probes") or ["engine-probe"]
    for name in names:
        probe = Probe(str(name), value=f"{pulumi.get_stack()}:{name}")
        pulumi.export(str(name), {"echo": probe.echo, "digest": probe.digest})
