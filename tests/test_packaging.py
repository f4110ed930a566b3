"""What a wheel holds: every package of smsdata (a wheel without smsdata.cli had a dead command)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_in_the_wheel() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "smsdata").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert declared == found
