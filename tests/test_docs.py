"""The README is the contract: every public name and every command is in it, and nothing else is.

The README's "API reference" lists each public module's names under
``### smsdata.MODULE``; names written ``sms.NAME`` are also in
``smsdata.__all__``. These tests compare that list with the code both ways,
and every ``smsdata`` command (and each of its options) with the README.
Every public function's docstring says what it returns and what it raises,
and the docstrings' examples run.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from pathlib import Path

import click
import pytest

import smsdata
from smsdata.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
PUBLIC_MODULES = [
    "balance",
    "campaign",
    "charts",
    "config",
    "content",
    "demo",
    "errors",
    "gateway",
    "ingest",
    "kpi",
    "ledger",
    "numbers",
    "planning",
    "receiver",
    "report",
    "report_lines",
    "sheets",
    "simulator",
    "sync",
]
_ENTRY = re.compile(r"^\* ((?:`[^`]+`(?:, )?)+):", re.M)


def _section(text: str, title: str, level: str = "##") -> str:
    match = re.search(rf"^{level} {re.escape(title)}\n(.*?)(?=^#{{2,{len(level)}}} |\Z)", text, re.M | re.S)
    assert match, f"README has no '{level} {title}' section"
    return match.group(1)


def _reference() -> dict[str, list[str]]:
    """``{"smsdata.kpi": ["sms.delivery_rate", "AUDIT_CHECKS", ...], ...}`` from the API reference."""
    api = _section(README.read_text(), "API reference")
    documented: dict[str, list[str]] = {}
    for title, body in re.findall(r"^### (\S+)\n(.*?)(?=^### |\Z)", api, re.M | re.S):
        documented[title] = [name for entry in _ENTRY.findall(body) for name in re.findall(r"`([^`]+)`", entry)]
    return documented


def test_the_reference_lists_every_public_module() -> None:
    assert sorted(_reference()) == sorted(["smsdata", *(f"smsdata.{m}" for m in PUBLIC_MODULES)])


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_equals_the_documented_api(module: str) -> None:
    mod = importlib.import_module(f"smsdata.{module}")
    names = [name.removeprefix("sms.") for name in _reference()[f"smsdata.{module}"]]
    assert len(names) == len(set(names)), f"a name is listed twice under smsdata.{module}"
    undocumented = set(mod.__all__) - set(names)
    assert not undocumented, f"in smsdata.{module}.__all__ but not in the README: {sorted(undocumented)}"
    unexported = set(names) - set(mod.__all__)
    assert not unexported, f"in the README under smsdata.{module} but not in its __all__: {sorted(unexported)}"
    for name in names:
        assert hasattr(mod, name), f"smsdata.{module}.{name} does not exist"


def test_the_package_exports_exactly_the_names_written_sms() -> None:
    reference = _reference()
    written = {
        name.removeprefix("sms."): title
        for title, names in reference.items()
        for name in names
        if name.startswith("sms.")
    }
    assert sorted(written) == sorted(smsdata.__all__)
    for name, title in written.items():
        if title != "smsdata":  # the same object as the module's
            assert getattr(smsdata, name) is getattr(importlib.import_module(title), name), name
    assert all(name.startswith("sms.") for name in reference["smsdata"]), "the package's own section is all sms."


def test_internal_names_are_not_exported() -> None:
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(f"smsdata.{module}")
        assert not [name for name in mod.__all__ if name.startswith("_")], module
        for name in mod.__all__:  # a public name lives in a public module (or in errors, its home)
            home = getattr(getattr(mod, name), "__module__", mod.__name__)
            assert home == mod.__name__ or not home.startswith("smsdata.") or home.startswith("smsdata._"), (
                f"smsdata.{module}.{name} re-exports {home}.{name}: document it once, where it lives"
            )


# ------------------------------------------------------------------ the command line


def _commands(group: click.Group = cli, prefix: str = "smsdata") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
    return found


def _usage_rows() -> dict[str, str]:
    """The table of "## Command line": each row's first cell (the usage), by command."""
    table = _section(README.read_text(), "Command line")
    rows: dict[str, str] = {}
    for usage in re.findall(r"^\| `(smsdata [^`]+)` \|", table, re.M):
        command = re.match(r"smsdata(?: [a-z][a-z-]*)+", usage).group(0)
        rows[command] = rows.get(command, "") + " " + usage
    return rows


@pytest.mark.parametrize(("path", "command"), _commands(), ids=[path for path, _ in _commands()])
def test_every_command_is_in_the_readme_with_its_usage(path: str, command: click.Command) -> None:
    usage = _usage_rows().get(path)
    assert usage, f"the README's command table has no row for `{path}`"
    assert len(command.help or "") > 20, f"`{path}` has no help text"
    readme = README.read_text()
    for param in command.params:
        if isinstance(param, click.Argument):
            assert param.human_readable_name in usage, f"`{path}` usage lacks its argument {param.human_readable_name}"
        elif not param.hidden:
            flags = [flag for flag in (*param.opts, *param.secondary_opts) if flag.startswith("--")]
            assert any(re.search(rf"{re.escape(flag)}(?![\w-])", readme) for flag in flags), (
                f"`{path}` option {flags} is not in the README"
            )


def test_the_readme_has_no_command_that_does_not_exist() -> None:
    assert sorted(_usage_rows()) == sorted(path for path, _ in _commands())


def test_the_global_options_are_in_the_readme() -> None:
    readme = README.read_text()
    for param in cli.params:
        assert any(flag in readme for flag in param.opts), param.opts


# ------------------------------------------------------------------ docstrings


def _public_functions() -> list[tuple[str, object]]:
    found: dict[int, tuple[str, object]] = {}
    for module in ["", *(f".{m}" for m in PUBLIC_MODULES)]:
        mod = importlib.import_module(f"smsdata{module}")
        for name in mod.__all__:
            value = getattr(mod, name)
            if inspect.isfunction(value):
                found.setdefault(id(value), (f"{value.__module__}.{name}", value))
    return sorted(found.values(), key=lambda item: item[0])


@pytest.mark.parametrize(("name", "function"), _public_functions(), ids=[name for name, _ in _public_functions()])
def test_every_public_function_says_what_it_returns_and_raises(name: str, function: object) -> None:
    doc = inspect.getdoc(function) or ""
    if inspect.signature(function).return_annotation not in (None, "None"):
        assert "\nReturns:\n" in doc, f"{name}'s docstring has no Returns: section"
    assert "\nRaises:\n" in doc or "Never raises" in doc, f"{name}'s docstring says nothing of what it raises"


@pytest.mark.parametrize("module", [*PUBLIC_MODULES, "_export"])
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"smsdata.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of smsdata.{module} fail (python -m doctest -v)"
