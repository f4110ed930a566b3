"""The README's Python runs: every ```python block, in order, against the simulator.

The blocks run as one session (as a reader pastes them into one notebook),
in a folder holding what they name (``customers.xlsx``, ``unsubscribed.txt``),
with ``SMSDATA_*`` pointing at a simulated gateway on loopback that posts its
delivery reports to a receiver writing into ``receiver/``. A block that cannot
run here says so just before it, ``<!-- not run: REASON -->``; only a few may.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from smsdata._serve import serving
from smsdata.demo import demo_customers
from smsdata.receiver import ReportReceiver
from smsdata.simulator import Account, GatewaySimulator

README = Path(__file__).resolve().parents[1] / "README.md"
MAX_NOT_RUN = 2


@dataclass(frozen=True)
class Block:
    line: int  # of the code's first line in README.md
    code: str
    not_run: str | None  # the reason, when marked


def python_blocks(text: str) -> list[Block]:
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = re.fullmatch(r"<!-- not run: (.*\S) -->", before.strip())
        line = text.count("\n", 0, match.start()) + 2
        blocks.append(Block(line, match.group(1), marked.group(1) if marked else None))
    return blocks


def test_the_readme_marks_few_blocks_not_run_each_with_a_reason() -> None:
    text = README.read_text()
    blocks = python_blocks(text)
    not_run = [block for block in blocks if block.not_run]
    assert len(blocks) >= 6
    assert len(not_run) <= MAX_NOT_RUN, [(b.line, b.not_run) for b in not_run]
    assert all(len(block.not_run) > 10 for block in not_run)
    # A marker must sit just before a python block, or it marks nothing (a typo would run... nothing).
    assert text.count("<!-- not run:") == len(not_run)


def test_python_blocks_parse() -> None:
    assert python_blocks("x\n<!-- not run: needs a real gateway -->\n```python\na = 1\n```\n\n```python\nb\n```\n") == [
        Block(4, "a = 1\n", "needs a real gateway"),
        Block(8, "b\n", None),
    ]


def _wait_for_reports(sim: GatewaySimulator, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while sim.reports_pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sim.reports_pending, "the simulator's reports did not all arrive"


def test_the_readme_python_runs_against_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    customers = demo_customers(60)  # the sample's messy numbers, kept small
    customers.to_excel("customers.xlsx", index=False)
    Path("unsubscribed.txt").write_text(f"{customers['phone'].dropna().iloc[0]}\n")
    receiver = ReportReceiver("receiver", fsync=False)
    with serving(receiver.app) as inbox:
        sim = GatewaySimulator(
            [Account("demo", "demo", balance=Decimal(100000))],
            seed=3,
            callback_url=f"{inbox}/reports",
            latency_median=20.0,
            time_scale=0.001,
            reports_per_post=50,
        )
        with serving(sim.app) as url:
            monkeypatch.setenv("SMSDATA_URL", f"{url}/Admin/index.php")
            monkeypatch.setenv("SMSDATA_UID", "demo")
            monkeypatch.setenv("SMSDATA_PWD", "demo")
            monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "smsdata-home"))
            namespace: dict[str, object] = {"__name__": "readme"}
            ran = 0
            try:
                for block in python_blocks(README.read_text()):
                    if block.not_run:
                        continue
                    # Padded so that a traceback names the README's own line.
                    code = compile("\n" * (block.line - 1) + block.code, str(README), "exec")
                    exec(code, namespace)  # noqa: S102
                    ran += 1
                    _wait_for_reports(sim)  # what was sent is reported before the next block reads it
            finally:
                gateway = namespace.get("gw")
                if hasattr(gateway, "close"):
                    gateway.close()
    assert ran >= 6
    assert len(sim.accepted) > 0
    assert Path("report.html").is_file()
