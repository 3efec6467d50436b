"""Which Vertex AI host serves which location (a pure table; no Google import). Shared by the
backends (which call these hosts) and the emulator (which serves them and refuses a host that does
not serve a path's location), so the emulator needs nothing from the backends.

Google's "Deployments and endpoints" page
(https://docs.cloud.google.com/gemini-enterprise-agent-platform/resources/locations):

- regional endpoints: ``https://{region}-aiplatform.googleapis.com`` ("For standard regional
  endpoints (such as us-central) ... https://${GOOGLE_CLOUD_LOCATION}-aiplatform.googleapis.com");
- multi-region (jurisdictional) endpoints: "| United States | us |
  https://aiplatform.us.rep.googleapis.com |" and "| European Union | eu |
  https://aiplatform.eu.rep.googleapis.com |";
- the global endpoint: "exclude the location from the endpoint name and configure the location
  of the resource to global ... https://aiplatform.googleapis.com/v1/projects/test-project/
  locations/global/...".

A call goes to the host of the location in the name of the resource it acts on (or of the
parent it creates under): a stack in ``us`` that reads a model in ``europe-west4`` asks
``europe-west4-aiplatform.googleapis.com``.
"""

from __future__ import annotations

import re

GLOBAL = "global"
MULTI_REGIONS = ("us", "eu")
GLOBAL_HOST = "aiplatform.googleapis.com"
_REGION = re.compile(r"[a-z]+(?:-[a-z]+)+[0-9]+")
_LOCATION_IN_NAME = re.compile(r"(?:^|/)projects/[^/]+/locations/([^/]+)")


class UnknownLocationError(ValueError):
    """Not a location any Vertex AI host serves."""


def is_region(location: str) -> bool:
    """True for a Google Cloud region name (``us-central1``, ``europe-west4``)."""
    return bool(_REGION.fullmatch(location))


def service_host(location: str) -> str:
    """The Vertex AI host that serves ``location`` (no scheme)."""
    if location == GLOBAL:
        return GLOBAL_HOST
    if location in MULTI_REGIONS:
        return f"aiplatform.{location}.rep.googleapis.com"
    if is_region(location):
        return f"{location}-aiplatform.googleapis.com"
    raise UnknownLocationError(
        f"{location!r} is not a Vertex AI location: use a region (us-central1), a multi-region "
        "(us, eu) or global"
    )


def location_of(name: str) -> str | None:
    """The location in a resource name (``projects/p/locations/L/...``), or None."""
    found = _LOCATION_IN_NAME.search(name)
    return found.group(1) if found else None
