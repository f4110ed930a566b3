"""Crash, interrupt and concurrency safety, end to end: real processes against a simulator on loopback.

The simulator runs in its own process for the whole test, so it keeps its
record of what it accepted across the clients' deaths. Kills and interrupts
land at fault-injection points (``SMSDATA_FAULTS``, see ``smsdata._faults``):
"the 37th request's first byte is about to be written", never a sleep tuned
to one machine.

The simulator here does not de-duplicate: its record holds every number of
every request it received, so a number sent the same content twice shows
there twice (the real gateway would hide the resend, and so would hide the bug).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from smsdata.ledger import Ledger
from smsdata.planning import plan_campaign

POINTS = ("claimed", "written", "answered")


SIMULATOR = textwrap.dedent(
    """
    from decimal import Decimal
    from smsdata._serve import serve
    from smsdata.simulator import Account, GatewaySimulator

    sim = GatewaySimulator([Account("demo", "demo", Decimal(1_000_000))], dedupe=False)
    serve(sim.app, "127.0.0.1", 0, on_ready=lambda url: print(f"gateway at {url}/Admin/index.php", flush=True))
    """
)


@contextlib.contextmanager
def simulator(env: dict[str, str]) -> Iterator[str]:
    """A simulator process, without dedupe, on a free loopback port; yields its base URL."""
    command = [sys.executable, "-c", SIMULATOR]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as sim:
        try:
            yield re.search(r"(http://\S+/Admin/index\.php)", sim.stdout.readline()).group(1)
        finally:
            sim.terminate()
            sim.wait(timeout=10)


def sim_record(url: str) -> tuple[list[dict[str, str]], dict]:
    accepted = httpx.get(url.replace("/Admin/index.php", "/_sim/accepted"), timeout=30).text
    state = httpx.get(url.replace("/Admin/index.php", "/_sim/state"), timeout=30).json()
    return list(csv.DictReader(io.StringIO(accepted))), state


def ledger_rows(ledger: Path, campaign: str | None = None) -> list[tuple[str, str, str, str | None]]:
    sql = "SELECT r.mobile, q.content, q.state, q.msgid FROM recipients r JOIN requests q ON q.id = r.request_id"
    with sqlite3.connect(ledger) as db:
        if campaign is None:
            return db.execute(sql).fetchall()
        return db.execute(sql + " WHERE q.campaign = ?", (campaign,)).fetchall()


def assert_agrees_with_simulator(rows, sim_rows: list[dict[str, str]], state: dict) -> None:
    """No (number, content) reached the gateway twice, and the ledger tells the truth about each."""
    assert state["deduplicated"] == 0  # the record is whole: no resend hidden by a dedupe
    pairs = Counter((r["mobile"], r["content"]) for r in sim_rows)
    twice = {pair: n for pair, n in pairs.items() if n > 1}
    assert not twice, f"{len(twice)} (number, content) pairs reached the gateway more than once: {list(twice)[:3]}"
    ledger_accepted = {(m, c): msgid for m, c, s, msgid in rows if s == "accepted"}
    sim_accepted = {(r["mobile"], r["content"]): r["msgid"] for r in sim_rows}
    # Everything the ledger calls accepted, the simulator accepted under the same msgid ...
    assert all(sim_accepted.get(pair) == msgid for pair, msgid in ledger_accepted.items())
    # ... and whatever else the simulator accepted is one the ledger says it cannot know about.
    unknown = {(m, c) for m, c, s, _ in rows if s == "unknown"}
    assert set(sim_accepted) & {(m, c) for m, c, _, _ in rows} - set(ledger_accepted) <= unknown


# ------------------------------------------------------------ kill -9

RECIPIENTS = 20_000
PER_REQUEST = 4  # 5,000 requests: many in flight when the kill lands

CAMPAIGN = textwrap.dedent(
    f"""
    import pandas as pd
    import smsdata as sms

    df = pd.DataFrame({{"m": [f"139{{i:08d}}" for i in range({RECIPIENTS})]}})
    df["group"] = (df.index // {PER_REQUEST}).astype(str)
    with sms.Gateway.from_env() as gw:
        result = sms.send_campaign(
            df, mobile="m", template="Order group {{group}} has shipped", gateway=gw,
            name="crash", ledger=r"{{ledger}}", concurrency=8, progress=False,
        )
    print(result)
    """
)


@pytest.mark.slow
def test_kill_9_and_resume_never_double_sends(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    ledger = tmp_path / "ledger.sqlite"
    script = tmp_path / "campaign.py"
    script.write_text(CAMPAIGN.replace("{ledger}", str(ledger)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SMSDATA_UID": "demo", "SMSDATA_PWD": "demo"}
    with simulator(env) as url:
        env["SMSDATA_URL"] = url
        kills = 0
        for _ in range(60):
            faults = f"{rng.choice(POINTS)}:{rng.randint(1, 600)}=SIGKILL" if kills < 5 else ""
            client = subprocess.run(
                [sys.executable, str(script)], env={**env, "SMSDATA_FAULTS": faults}, capture_output=True, text=True
            )
            if client.returncode == 0:
                break
            assert client.returncode == -signal.SIGKILL, client.stderr
            kills += 1
        else:
            pytest.fail("the campaign never finished")
        sim_rows, state = sim_record(url)
    assert kills >= 5
    rows = ledger_rows(ledger)
    assert len(rows) == RECIPIENTS
    states = Counter(state for _, _, state, _ in rows)
    assert set(states) <= {"accepted", "rejected", "unknown"}, states
    assert_agrees_with_simulator(rows, sim_rows, state)
    # At most two requests per worker are in_flight at a kill: one on the wire, one claimed ahead.
    assert states["accepted"] >= RECIPIENTS - kills * 8 * 2 * PER_REQUEST


# ------------------------------------------------------------ Ctrl-C


@pytest.mark.slow
def test_ctrl_c_at_random_moments_then_resume_sends_everything_once(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"m": [f"139{i:08d}" for i in range(400)], "c": [f"Order {i} shipped" for i in range(400)]}).to_csv(
        customers, index=False
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SMSDATA_UID": "demo",
        "SMSDATA_PWD": "demo",
        "SMSDATA_HOME": str(tmp_path / "home"),
    }
    send = ["send", str(customers), "--mobile", "m", "--content", "c", "--name", "sig", "--yes"]
    with simulator(env) as url:
        env["SMSDATA_URL"] = url
        for round_ in range(10):
            faults = f"{rng.choice(POINTS)}:{rng.randint(1, 30)}=SIGINT"
            args = send if round_ == 0 else ["resume", "sig", "--yes"]
            run = smsdata(*args, "--concurrency", "4", env={**env, "SMSDATA_FAULTS": faults})
            assert run.returncode == 130, run.stderr
            assert "interrupted: resume with `smsdata resume sig`" in run.stderr
            assert "resume_campaign" not in run.stderr + run.stdout  # CLI words, not Python's
        final = smsdata("resume", "sig", "--yes", env=env)
        assert final.returncode == 0, final.stderr
        sim_rows, state = sim_record(url)
    rows = ledger_rows(tmp_path / "home" / "ledger.sqlite")
    assert len(rows) == 400
    assert_agrees_with_simulator(rows, sim_rows, state)
    unknown = {(m, c) for m, c, s, _ in rows if s == "unknown"}
    assert unknown <= {(r["mobile"], r["content"]) for r in sim_rows}, "an unknown request never reached the gateway"
    assert Counter(s for _, _, s, _ in rows)["accepted"] + len(unknown) == 400
    assert len(sim_rows) == 400  # every recipient reached the gateway exactly once


def smsdata(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsdata", *args], env=env, capture_output=True, text=True, timeout=120
    )


# ------------------------------------------------------------ two runs at once


@pytest.mark.slow
def test_two_runs_of_one_campaign_at_once_never_double_send(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    home = tmp_path / "home"
    ledger = home / "ledger.sqlite"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SMSDATA_UID": "demo",
        "SMSDATA_PWD": "demo",
        "SMSDATA_HOME": str(home),
    }
    busy = 0
    with simulator(env) as url:
        env["SMSDATA_URL"] = url
        for round_ in range(20):
            name = f"twice-{round_}"
            numbers = [f"138{round_:02d}{i:06d}" for i in range(60)]
            plan = plan_campaign(
                pd.DataFrame({"m": numbers, "c": [f"{name} {i}" for i in range(60)]}), mobile="m", content="c"
            )
            with Ledger(ledger) as opened:
                opened.create_campaign(name, plan)
            offset = rng.randint(0, 40)  # the second starts once the first has claimed this many (0: at once)
            command = [
                sys.executable,
                "-m",
                "smsdata",
                "resume",
                name,
                "--yes",
                "--concurrency",
                str(rng.choice([1, 4])),
            ]
            go_on = tmp_path / f"go-{round_}"
            faults = f"claimed:{offset}=wait:{go_on}" if offset else ""
            first = subprocess.Popen(
                command,
                env={**env, "SMSDATA_FAULTS": faults},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            if offset:  # the first holds still, its lease taken and requests claimed, while the second runs
                assert any("smsdata-fault: claimed" in line for line in first.stderr)
                second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
                go_on.touch()
            else:  # both at once: they race for the lease
                second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            _, err = first.communicate(timeout=120)
            results = [(first.returncode, err), (second.returncode, second.stderr)]
            assert sorted(code for code, _ in results)[0] == 0, results
            for code, text in results:
                assert code == 0 or ("CampaignBusy" in text and "is being sent by another run (pid" in text), results
            busy += sum(code == 1 for code, _ in results)
            rows = ledger_rows(ledger, name)
            assert {s for _, _, s, _ in rows} == {"accepted"}, f"round {round_}: the campaign did not complete"
        sim_rows, state = sim_record(url)
    assert busy >= 10, "the runs hardly ever overlapped: the test proves little"
    assert_agrees_with_simulator(ledger_rows(ledger), sim_rows, state)
    assert len(sim_rows) == 20 * 60
