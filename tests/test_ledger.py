"""The ledger on its own: storing a plan, the request states, leases, crash and reopen, two
processes, bad paths. Each test reads back what the ledger stored, by its methods or by SQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import smsdata as sms
from smsdata._leases import Outcome, PlannedRequest
from smsdata.ledger import Ledger, read_sends
from smsdata.planning import plan_campaign

NUMBERS = ["13900000000", "13900000001", "13900000002", "13900000003"]


def plan(contents: tuple[str, ...] = ("a", "b", "a", "c"), **options):
    n = len(contents)
    df = pd.DataFrame({"m": NUMBERS[:n], "c": list(contents), "city": ["x", None, "y", "x"][:n]})
    return plan_campaign(df, mobile="m", content="c", **options)


def accepted(msgid: str) -> Outcome:
    return Outcome("accepted", "0", "send success", msgid, "2026-11-25T01:00:00+00:00", "2026-11-25T01:00:01+00:00")


def states(path: Path) -> dict[int, tuple[str, int, str | None]]:
    """``{request id: (state, attempts, msgid)}``, read by a connection of its own."""
    with sqlite3.connect(path) as db:
        return {i: (s, a, m) for i, s, a, m in db.execute("SELECT id, state, attempts, msgid FROM requests")}


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


# ------------------------------------------------------------ storing a plan


def test_a_campaign_is_stored_as_its_plan(ledger: Ledger) -> None:
    p = plan(keep=["city"], price="1.5")
    ledger.create_campaign("c1", p)
    assert ledger.planned("c1") == [
        PlannedRequest(1, "a", "13900000000,13900000002", 2, 1),
        PlannedRequest(2, "b", "13900000001", 1, 1),
        PlannedRequest(3, "c", "13900000003", 1, 1),
    ]
    assert ledger.fingerprint("c1") == p.fingerprint
    assert ledger.fingerprint("c2") is None
    assert ledger.price("c1") == Decimal("1.5")
    assert ledger.price("c2") == Decimal(1)  # none stored: a unit per segment
    row = ledger.campaigns().iloc[0]
    assert (row["campaign"], row["recipients"], row["requests"], row["planned"], row["accepted"]) == ("c1", 4, 3, 3, 0)
    sends = ledger.sends("c1")
    assert sends["mobile"].tolist() == ["13900000000", "13900000002", "13900000001", "13900000003"]
    assert sends["city"].fillna("-").tolist() == ["x", "y", "-", "x"]
    assert sends["state"].unique().tolist() == ["planned"]
    assert sends["msgid"].isna().all()
    assert sends["price"].unique().tolist() == [1.5]


def test_a_second_campaign_gets_ids_after_the_first_and_reads_apart(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    ledger.create_campaign("c2", plan(("z", "z")))
    assert [r.id for r in ledger.planned("c2")] == [4]
    assert ledger.requests("c2")["seq"].tolist() == [0]
    assert len(ledger.sends()) == 6
    assert ledger.sends("c2")["content"].tolist() == ["z", "z"]
    assert ledger.campaigns()["campaign"].tolist() == ["c1", "c2"]


def test_the_same_name_twice_is_refused_and_leaves_nothing_half_written(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    with pytest.raises(sms.LedgerError, match="cannot store campaign 'c1'"):
        ledger.create_campaign("c1", plan(("other",)))
    assert len(ledger.requests()) == 3
    assert len(ledger.sends()) == 4
    assert "other" not in ledger.sends()["content"].tolist()


def test_a_failed_transaction_keeps_none_of_its_statements(ledger: Ledger) -> None:
    good = ("INSERT INTO balances VALUES ('2026-11-25T00:00:00+00:00', '5', NULL, 'first')", ())
    with pytest.raises(sms.LedgerError, match="cannot write the ledger"):
        ledger.transaction([good, ("INSERT INTO no_such_table VALUES (1)", ())])
    assert ledger.balances().empty
    ledger.transaction([good])  # the ledger is usable afterwards
    assert ledger.balances()["note"].tolist() == ["first"]


def test_balances_are_stored_in_order_with_their_campaign_and_note(ledger: Ledger) -> None:
    before = pd.Timestamp.now(tz="UTC")
    ledger.record_balance(Decimal("999.50"), campaign="c1", note="before")
    ledger.record_balance(Decimal("997.5"), note="after")
    after = pd.Timestamp.now(tz="UTC")
    balances = ledger.balances()
    assert balances["value"].tolist() == [999.5, 997.5]
    assert balances["campaign"].fillna("-").tolist() == ["c1", "-"]
    assert balances["note"].tolist() == ["before", "after"]
    assert balances["at"].is_monotonic_increasing
    assert (before <= balances["at"]).all()
    assert (balances["at"] <= after).all()


# ------------------------------------------------------------ states


def test_a_request_moves_planned_in_flight_accepted(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    lease = ledger.acquire_lease("c1")
    with ledger.batch(lease) as batch:
        assert batch.claim([1, 2]) == {1, 2}
    assert states(ledger.path)[1] == ("in_flight", 1, None)
    assert [r.id for r in ledger.planned("c1")] == [3]  # in flight: never planned again
    with ledger.batch(lease) as batch:
        assert batch.claim([1, 3]) == {3}  # 1 is in flight already
        assert batch.record([(1, accepted("800001"))]) == 1
    assert states(ledger.path) == {1: ("accepted", 1, "800001"), 2: ("in_flight", 1, None), 3: ("in_flight", 1, None)}
    with ledger.batch(lease) as batch:
        assert batch.claim([1]) == set()  # an answered request is never claimed again
        assert batch.put_back(2, "interrupted before sending") is True
        assert batch.put_back(1, "an accepted one") is False
    assert states(ledger.path)[2] == ("planned", 0, None)
    assert states(ledger.path)[1] == ("accepted", 1, "800001")
    sends = read_sends(ledger.path, "c1")
    assert sends.set_index("mobile").loc["13900000002", ["state", "msgid", "code"]].tolist() == [
        "accepted",
        "800001",
        "0",
    ]
    assert sends["sent_at"].dt.tz is not None
    assert str(sends.loc[sends["msgid"].eq("800001"), "sent_at"].iloc[0]) == "2026-11-25 01:00:00+00:00"


def test_a_state_outside_the_five_is_refused_by_the_database(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    lease = ledger.acquire_lease("c1")

    def claim_then_record_a_bad_state() -> None:
        with ledger.batch(lease) as batch:
            batch.claim([1])
            batch.record([(1, Outcome("delivered", "0", "", "1", "t", "t"))])

    with pytest.raises(sms.LedgerError, match="CHECK constraint"):
        claim_then_record_a_bad_state()
    assert states(ledger.path)[1] == ("planned", 0, None)  # the claim in that transaction is undone too


def test_in_flight_left_behind_becomes_unknown_and_is_requeued_only_on_request(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    lease = ledger.acquire_lease("c1")
    with ledger.batch(lease) as batch:
        batch.claim([1, 2])
        batch.record([(2, accepted("800002"))])
    assert ledger.settle_in_flight(lease) == 1
    assert ledger.requests("c1").set_index("request_id").loc[1, ["state", "message"]].tolist() == [
        "unknown",
        "interrupted before the outcome was recorded",
    ]
    assert [r.id for r in ledger.planned("c1")] == [3]
    assert ledger.requeue_unknown(lease) == 1
    assert [r.id for r in ledger.planned("c1")] == [1, 3]
    assert states(ledger.path)[2] == ("accepted", 1, "800002")
    assert ledger.settle_in_flight(lease) == 0


def test_the_sent_days_fingerprint_changes_with_each_answer(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    lease = ledger.acquire_lease("c1")
    assert ledger.sent_days() == {}
    with ledger.batch(lease) as batch:
        batch.claim([1, 2])
        batch.record([(1, accepted("800001"))])
    first = ledger.sent_days()
    assert list(first) == ["2026-11-25"]
    assert ledger.sent_on("2026-11-25")["mobile"].tolist() == ["13900000000", "13900000002"]
    assert "content" not in ledger.sent_on("2026-11-25")
    with ledger.batch(lease) as batch:
        batch.record([(2, accepted("800002"))])
    second = ledger.sent_days()
    assert second != first
    assert ledger.sent_on("2026-11-25")["msgid"].tolist() == ["800001", "800001", "800002"]
    unknown = Outcome("unknown", None, "timed out", None, "2026-11-25T01:00:00+00:00", "2026-11-25T01:00:01+00:00")
    with ledger.batch(lease) as batch:
        batch.claim([3])
        batch.record([(3, unknown)])
    third = ledger.sent_days()
    with ledger.batch(lease) as batch:  # the same request, day and times: only its state and msgid change
        batch.record([(3, accepted("800003"))])
    assert len({str(first), str(second), str(third), str(ledger.sent_days())}) == 4
    assert ledger.sent_on("2026-11-24").empty


# ------------------------------------------------------------ leases


def test_one_lease_per_campaign_while_its_holder_lives(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    lease = ledger.acquire_lease("c1")
    assert lease.taken_over is None
    with pytest.raises(sms.CampaignBusy, match=rf"pid {os.getpid()} .*nothing was done"):
        ledger.acquire_lease("c1")
    other = ledger.acquire_lease("c2")  # another campaign: its own lease
    ledger.release_lease(other)
    ledger.release_lease(lease)
    again = ledger.acquire_lease("c1")
    ledger.release_lease(lease)  # the old one: a no-op, the new holder keeps it
    with pytest.raises(sms.CampaignBusy):
        ledger.acquire_lease("c1")
    with ledger.batch(again) as batch:
        assert batch.heartbeat() is True
        assert batch.claim([1]) == {1}


def test_a_run_whose_lease_was_taken_over_writes_nothing(ledger: Ledger) -> None:
    ledger.create_campaign("c1", plan())
    old = ledger.acquire_lease("c1")
    with ledger.batch(old) as batch:
        batch.claim([1, 2])
    with sqlite3.connect(ledger.path) as db:  # a takeover by another process, which claims request 2 again
        db.execute("UPDATE leases SET holder = 'usurper'")
        db.execute("UPDATE requests SET claimed_by = 'usurper', attempts = 2 WHERE id = 2")
    with ledger.batch(old) as batch:
        assert batch.claim([3]) == set()
        assert batch.lease_confirmed is False
        assert batch.heartbeat() is False
        assert batch.record([(2, accepted("800002"))]) == 0  # the new holder's claim now
        assert batch.put_back(2, "no") is False
        assert batch.put_back(1, "no") is True  # its own claim: it knows it did not send it
    with pytest.raises(sms.LeaseLost, match="taken over"):
        ledger.settle_in_flight(old)
    assert states(ledger.path) == {1: ("planned", 0, None), 2: ("in_flight", 2, None), 3: ("planned", 0, None)}


# ------------------------------------------------------------ crash, reopen, two processes

CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    from smsdata._leases import Outcome
    from smsdata.ledger import Ledger
    from smsdata.planning import plan_campaign

    df = pd.DataFrame({"m": ["13900000000", "13900000001", "13900000002"], "c": ["a", "b", "c"]})
    ledger = Ledger(sys.argv[1])  # never closed: the process dies with it open
    ledger.create_campaign("c1", plan_campaign(df, mobile="m", content="c"))
    lease = ledger.acquire_lease("c1")
    with ledger.batch(lease) as batch:
        batch.claim([1, 2])
    with ledger.batch(lease) as batch:
        batch.record([(1, Outcome("accepted", "0", "ok", "800001", "2026-11-25T01:00:00+00:00", "x"))])

    def half_done():  # a transaction cut off between its statements
        yield "UPDATE requests SET state = 'rejected' WHERE id = 2", ()
        os.kill(os.getpid(), signal.SIG{signal})

    ledger.transaction(half_done())
    """
)


@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
def test_a_process_killed_mid_transaction_leaves_every_commit_and_nothing_else(tmp_path: Path, signal_name) -> None:
    path = tmp_path / "ledger.sqlite"
    script = tmp_path / "crash.py"
    script.write_text(CRASH.replace("{signal}", signal_name))
    run = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == -getattr(signal, f"SIG{signal_name}"), run.stderr
    assert Path(f"{path}-wal").stat().st_size > 0  # the commits live in the WAL: reopening must read it
    assert states(path) == {1: ("accepted", 1, "800001"), 2: ("in_flight", 1, None), 3: ("planned", 0, None)}
    with Ledger(path) as reopened:
        lease = reopened.acquire_lease("c1")  # its holder is dead: taken over at once
        assert lease.taken_over is not None
        assert reopened.settle_in_flight(lease) == 1  # what was on the wire: unknown, never resent silently
        assert [r.id for r in reopened.planned("c1")] == [3]
    assert states(path)[2] == ("unknown", 1, None)


def test_the_ledger_file_itself_is_in_wal_mode(tmp_path: Path) -> None:
    Ledger(tmp_path / "l.sqlite").close()
    with sqlite3.connect(tmp_path / "l.sqlite") as db:  # a connection of its own, not the ledger's
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


HOLDER = textwrap.dedent(
    """
    import sys
    from smsdata.ledger import Ledger

    ledger = Ledger(sys.argv[1])
    lease = ledger.acquire_lease("c1")
    print("held", flush=True)
    sys.stdin.readline()  # hold it until told
    """
)


def test_a_second_process_is_refused_while_the_first_holds_the_lease_and_takes_over_once_it_is_gone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.create_campaign("c1", plan())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with Ledger(path) as ledger, pytest.raises(sms.CampaignBusy, match=rf"pid {holder.pid} "):
            ledger.acquire_lease("c1")
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        holder.stdin.close()
    with Ledger(path) as ledger:
        lease = ledger.acquire_lease("c1")
        assert f"pid {holder.pid} " in lease.taken_over


WRITER = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from smsdata.ledger import Ledger

    with Ledger(sys.argv[1]) as ledger:
        for i in range(150):
            ledger.record_balance(Decimal(i), note=sys.argv[2])
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("one", "two")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with Ledger(path, create=False) as ledger:
        balances = ledger.balances()
    assert balances.groupby("note")["value"].apply(sorted).to_dict() == {
        "one": [float(i) for i in range(150)],
        "two": [float(i) for i in range(150)],
    }


# ------------------------------------------------------------ bad paths


def test_a_missing_ledger_is_not_created_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "home" / "ledger.sqlite"
    with pytest.raises(sms.LedgerError, match=r"no ledger at .*nothing was sent with this SMSDATA_HOME"):
        Ledger(path, create=False)
    with pytest.raises(sms.LedgerError, match="no ledger at"):
        read_sends(path)
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("under-a-file", id="parent-is-a-file"),
        pytest.param("a-folder", id="path-is-a-folder"),
        pytest.param("not-sqlite", id="not-a-database"),
    ],
)
def test_a_path_that_cannot_be_a_ledger_is_a_ledger_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "not-sqlite").write_bytes(b"this is a spreadsheet, not a ledger\n" * 200)
    path = {"under-a-file": tmp_path / "file" / "l.sqlite"}.get(where, tmp_path / where)
    with pytest.raises(sms.LedgerError, match=f"cannot open the ledger {path}"):
        Ledger(path)
    if where == "not-sqlite":
        assert (tmp_path / "not-sqlite").read_bytes().startswith(b"this is a spreadsheet")  # left as it was


def test_a_ledger_from_before_prices_and_claims_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE campaigns (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL, "
            "recipients INTEGER NOT NULL, requests INTEGER NOT NULL, segments INTEGER NOT NULL)"
        )
        db.execute("INSERT INTO campaigns VALUES ('old', 'f', '2025-01-01T00:00:00+00:00', 1, 1, 1)")
        db.execute(
            "CREATE TABLE requests (id INTEGER PRIMARY KEY, campaign TEXT NOT NULL, seq INTEGER NOT NULL, "
            "content TEXT NOT NULL, mobiles TEXT NOT NULL, recipients INTEGER NOT NULL, segments INTEGER NOT NULL, "
            "state TEXT NOT NULL, code TEXT, message TEXT, msgid TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
            "sent_at TEXT, finished_at TEXT)"
        )
        db.execute("INSERT INTO requests (id, campaign, seq, content, mobiles, recipients, segments, state) "
                   "VALUES (1, 'old', 0, 'hi', '13900000000', 1, 1, 'planned')")  # fmt: skip
    with Ledger(path) as ledger:
        assert ledger.price("old") == Decimal(1)
        lease = ledger.acquire_lease("old")
        with ledger.batch(lease) as batch:
            assert batch.claim([1]) == {1}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT claimed_by FROM requests").fetchone()[0] == lease.holder
