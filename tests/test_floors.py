"""Declared floors are tested floors: ``.ci/lowest.txt`` pins exactly pyproject's ``>=`` versions.

``make test-lowest`` installs smsdata with ``-c .ci/lowest.txt`` and runs the suite there, so
these tests keep that file honest: every dependency has a floor, every floor is pinned, and
nothing else is (a pin with no floor would test a version pyproject does not promise).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_FLOOR = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?>=([^,;\s]+)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^,;\s]+)$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"].values()
    every = [*project["dependencies"], *(req for extra in extras for req in extra)]
    return [req for req in every if not req.startswith(f"{project['name']}[")]  # the dev extra names [spark]


def _version(text: str) -> str:
    return re.sub(r"(\.0)+$", "", text)  # ">=8" and "==8.0.0" name the same release


def _floors() -> dict[str, str]:
    floors = {}
    for req in _requirements():
        found = _FLOOR.match(req)
        assert found, f"{req!r} needs a plain `>=` floor so CI can install and test it"
        floors[_name(found[1])] = _version(found[2])
    return floors


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "lowest.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found = _PIN.match(line)
            assert found, f"{line!r} in .ci/lowest.txt is not a `name==version` pin"
            pins[_name(found[1])] = _version(found[2])
    return pins


def test_every_floor_is_pinned_in_the_lowest_constraints() -> None:
    assert _pins() == _floors()


@pytest.mark.skipif(not os.environ.get("SMSDATA_LOWEST"), reason="only in `make test-lowest`'s environment")
def test_the_lowest_environment_holds_the_floors() -> None:
    installed = {name: _version(version(name)) for name in _pins()}
    assert installed == _pins()
