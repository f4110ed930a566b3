"""Crash safety: kill -9 a sending campaign at random moments, resume until done, then audit.

The simulator runs in its own process on loopback for the whole test, so it
keeps its record of what it accepted across the client's deaths.
"""

from __future__ import annotations

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
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

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


def progress(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(ledger, timeout=10) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE state != 'planned'").fetchone()[0]
    except sqlite3.OperationalError:  # schema not there yet
        return 0


@pytest.mark.slow
def test_kill_9_and_resume_never_double_sends(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    ledger = tmp_path / "ledger.sqlite"
    script = tmp_path / "campaign.py"
    script.write_text(CAMPAIGN.replace("{ledger}", str(ledger)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SMSDATA_UID": "demo", "SMSDATA_PWD": "demo"}
    simulate = [sys.executable, "-m", "smsdata", "simulate", "--port", "0", "--balance", "1000000"]
    with subprocess.Popen(simulate, stdout=subprocess.PIPE, text=True, env=env) as sim:
        try:
            url = re.search(r"(http://\S+/Admin/index\.php)", sim.stdout.readline()).group(1)
            env["SMSDATA_URL"] = url
            kills, finished = 0, False
            for _ in range(60):
                before = progress(ledger)
                with subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) as client:  # fmt: skip
                    if kills < 5:
                        deadline = time.monotonic() + 60
                        while progress(ledger) <= before and client.poll() is None and time.monotonic() < deadline:
                            time.sleep(0.02)
                        time.sleep(rng.uniform(0.0, 0.6))
                        if client.poll() is None:
                            client.send_signal(signal.SIGKILL)
                            kills += 1
                    _, err = client.communicate(timeout=300)
                    if client.returncode == 0:
                        finished = True
                        break
                    assert client.returncode == -signal.SIGKILL, err
            assert finished, "the campaign never finished"
            assert kills >= 5
            accepted_csv = httpx.get(url.replace("/Admin/index.php", "/_sim/accepted"), timeout=30).text
            state = httpx.get(url.replace("/Admin/index.php", "/_sim/state"), timeout=30).json()
        finally:
            sim.terminate()
            sim.wait(timeout=10)

    sim_rows = list(csv.DictReader(io.StringIO(accepted_csv)))
    pairs = Counter((r["mobile"], r["content"]) for r in sim_rows)
    assert max(pairs.values()) == 1, "a (number, content) pair was accepted twice"
    assert state["deduplicated"] == 0, "the client resent a pair the gateway had already accepted"

    with sqlite3.connect(ledger) as db:
        rows = db.execute(
            "SELECT r.mobile, q.content, q.state, q.msgid FROM recipients r JOIN requests q ON q.id = r.request_id"
        ).fetchall()
    assert len(rows) == RECIPIENTS
    states = Counter(state for _, _, state, _ in rows)
    assert set(states) <= {"accepted", "rejected", "unknown"}, states
    ledger_accepted = {(m, c): msgid for m, c, s, msgid in rows if s == "accepted"}
    sim_accepted = {(r["mobile"], r["content"]): r["msgid"] for r in sim_rows}
    # Everything the ledger calls accepted, the simulator accepted under the same msgid ...
    assert all(sim_accepted.get(pair) == msgid for pair, msgid in ledger_accepted.items())
    # ... and whatever else the simulator accepted is one the ledger says it cannot know about.
    unknown = {(m, c) for m, c, s, _ in rows if s == "unknown"}
    assert set(sim_accepted) - set(ledger_accepted) <= unknown
    # At most two requests per worker are in_flight at a kill: one on the wire, one committed ahead.
    assert states["accepted"] >= RECIPIENTS - kills * 8 * 2 * PER_REQUEST
