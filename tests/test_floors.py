"""Declared floors are tested floors: ``.ci/lowest.txt`` pins exactly pyproject's ``>=`` versions
of the dependencies and the dev extra, ``.ci/lowest-spark.txt`` those of the spark extra.

``make test-lowest`` installs smsdata with ``-c .ci/lowest.txt`` and runs the suite there;
``make test-lowest-spark`` installs it with both (the spark pins replacing the others) and runs
the Spark tests. These tests keep the files honest: every dependency has a floor, every floor
is pinned, and nothing else is (a pin with no floor would test a version pyproject does not promise).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOWEST = os.environ.get("SMSDATA_LOWEST")  # read now: the tests' hygiene clears SMSDATA_* for each test
_FLOOR = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?>=([^,;\s]+)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^,;\s]+)$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _requirements(*extras: str) -> list[str]:
    """The dependencies (with no ``extras``), or those of the named extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if not extras:
        return list(project["dependencies"])
    every = [req for extra in extras for req in project["optional-dependencies"][extra]]
    return [req for req in every if not req.startswith(f"{project['name']}[")]


def _version(text: str) -> str:
    return re.sub(r"(\.0)+$", "", text)  # ">=8" and "==8.0.0" name the same release


def _floors(requirements: list[str]) -> dict[str, str]:
    floors = {}
    for req in requirements:
        found = _FLOOR.match(req)
        assert found, f"{req!r} needs a plain `>=` floor so CI can install and test it"
        floors[_name(found[1])] = _version(found[2])
    return floors


def _pins(file: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / file).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found = _PIN.match(line)
            assert found, f"{line!r} in .ci/{file} is not a `name==version` pin"
            pins[_name(found[1])] = _version(found[2])
    return pins


def test_every_floor_is_pinned_in_the_lowest_constraints() -> None:
    assert _pins("lowest.txt") == _floors(_requirements()) | _floors(_requirements("dev"))


def test_every_spark_floor_is_pinned_in_the_spark_constraints() -> None:
    assert _pins("lowest-spark.txt") == _floors(_requirements("spark"))


def test_the_spark_floors_are_not_below_the_dependencies() -> None:
    """An extra may raise a floor (pyarrow 18 for pyspark), never lower one."""
    core = _floors(_requirements())
    for name, floor in _floors(_requirements("spark")).items():
        if name in core:
            assert _release(floor) >= _release(core[name]), name


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.skipif(not LOWEST, reason="only in `make test-lowest`'s environments")
def test_the_lowest_environment_holds_the_floors() -> None:
    pins = _pins("lowest.txt")
    if LOWEST == "spark":  # test-lowest-spark: the spark extra's pins replace the others
        pins |= _pins("lowest-spark.txt")
    installed = {name: _version(version(name)) for name in pins}
    assert installed == pins
