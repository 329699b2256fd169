"""IANA time zones from the tzdata package repairman ships, never the host's database.

Pure (reads package data, as `zoneinfo` would). A window's zone must be one of the
names tzdata lists, so that a forecast on a laptop and the runner in its image judge a
limit alike: the host's own database also answers `localtime`, `posix/Europe/Berlin` or
a zone its distribution added, and the image may not. The CRD checks a name's shape with
the same pattern and length (k8s/crds/maintenancelimits.yaml); that the zone exists is
checked here only.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from zoneinfo import ZoneInfo

from policy.fields import shown

ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
"""The shape of an IANA name, as the CRD's pattern: no dots, so no `..` and no file."""
MAX_ZONE_NAME = 64
"""The CRD's maxLength; the longest IANA name has 32 characters."""


@functools.cache
def known_zones() -> frozenset[str]:
    """Every zone name of the bundled tzdata, links such as US/Eastern included."""
    listed = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listed.split())


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone repairman can use, or None."""
    if len(name) > MAX_ZONE_NAME:
        return f"is {len(name)} characters, at most {MAX_ZONE_NAME}"
    if not ZONE_NAME.fullmatch(name):
        return f"{shown(name)} is not an IANA time zone name (letters, digits, _ + - and /)"
    if name not in known_zones():
        return f"{shown(name)} is not an IANA time zone of the tzdata repairman ships"
    return None


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The bundled tzdata's zone `name`, which zone_problem() has accepted."""
    parts = name.split("/")
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*parts)
    with resource.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)
