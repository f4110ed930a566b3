"""The ``smsdata`` command: a thin layer over the library, in the library's words.

Each command calls public functions; its flags are their keyword names
(``--mobile`` for ``mobile=``, ``--out`` for ``out=``, ``--source-tz`` for
``source_tz=``), tested by walking the commands. A flag renamed to follow
them keeps working for one release, hidden, with a warning on stderr.
Library errors become one line on stderr and exit status 1 here, and only
here; usage errors exit 2; Ctrl-C exits 130.

Commands by concern: :mod:`.sending` (send, resume, campaigns, balance),
:mod:`.reading` (ingest, quarantine, kpi, report), :mod:`.serving`
(simulate, receive, demo).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

from ..errors import CampaignInterrupted, CampaignStopped, SmsdataError

__all__ = ["cli", "main", "renamed_flag"]

_RENAMED = "smsdata.renamed"


class _Command(click.Command):
    """A command whose old flag names (:func:`renamed_flag`) pass their value to the new ones."""

    def invoke(self, ctx: click.Context) -> Any:
        for name, value in ctx.meta.pop(_RENAMED, {}).items():
            if ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT):
                ctx.params[name] = value  # the new flag wins when both are given
        return super().invoke(ctx)


def renamed_flag(old: str, new: str, **attrs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hidden flag ``old`` that still works for one release: it warns on stderr and gives its
    value to the option ``new`` (its keyword name), declared as usual."""
    name = new.lstrip("-").replace("-", "_")

    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if (
            value is None
            or value == ()
            or ctx.get_parameter_source(param.name or "") is not (click.core.ParameterSource.COMMANDLINE)
        ):
            return
        click.echo(f"warning: {old} is deprecated and goes in the next release: use {new}", err=True)
        ctx.meta.setdefault(_RENAMED, {})[name] = value

    return click.option(old, hidden=True, expose_value=False, callback=store, **attrs)


class _Group(click.Group):
    """Turns every :class:`SmsdataError` into one clear line and exit status 1."""

    command_class = _Command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CampaignStopped as exc:
            click.echo(describe(exc.result))
            name = exc.result.name
            raise click.ClickException(
                f"campaign {name!r} stopped: {type(exc.cause).__name__}: {exc.cause}. Fix the cause, then resume "
                f"with `smsdata resume {name}`"
            ) from None
        except SmsdataError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
        except CampaignInterrupted as exc:
            click.echo(describe(exc.result), err=True)
            click.echo(f"interrupted: resume with `smsdata resume {exc.result.name}`", err=True)
            ctx.exit(130)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def describe(result: Any) -> str:
    """A campaign result in the command line's words (the library's ``str`` speaks Python)."""
    lines = result.describe()
    if len(result.unknown):
        lines.append(f"resend them with `smsdata resume {result.name} --resend-unknown`")
    return "\n".join(lines)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smsdata")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on delivery.

    Gateway settings come from SMSDATA_URL, SMSDATA_UID and SMSDATA_PWD (environment
    or a .env file). `smsdata demo` needs none: it runs against the built-in simulator.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Entry point of the ``smsdata`` console script."""
    cli(prog_name="smsdata")


# The commands register themselves on ``cli``.
from . import reading, sending, serving  # noqa: E402, F401
