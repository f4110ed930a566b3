"""Sending campaigns through the ledger: records, resume, stops, unknowns, leases, interrupts."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import pytest

import smsdata as sms
from smsdata.campaign import send_campaign
from smsdata.errors import SmsdataError
from smsdata.ledger import Ledger
from smsdata.planning import plan_campaign
from smsdata.simulator import Account, GatewaySimulator

from .conftest import BASE, CANARY


def agw(sim: GatewaySimulator, uid: str = "demo", **kwargs) -> sms.AsyncGateway:
    return sms.AsyncGateway(BASE, uid, CANARY, transport=httpx.ASGITransport(app=sim.app), backoff=0, **kwargs)


def personal(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"m": [f"139{i:08d}" for i in range(start, start + n)], "c": [f"Hi {i}" for i in range(n)]})


def test_send_records_everything_and_rerun_sends_nothing(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(30), mobile="m", content="c")
    result = send_campaign(plan, gateway=agw(sim), name="c1", ledger=ledger, progress=False, concurrency=8)
    assert result.recipients == {"accepted": 30}
    assert result.sent_now == 30
    assert (result.balance_before, result.balance_after) == (Decimal("1000.00"), Decimal("970.00"))
    sends = sms.read_sends(ledger)
    assert list(sends.columns[:9]) == [
        "campaign", "request_id", "msgid", "mobile", "content", "segments", "state", "code", "sent_at",
    ]  # fmt: skip
    assert sends["state"].eq("accepted").all()
    accepted = {(m, c) for _, m, c in sim.accepted_rows()}
    assert accepted == set(zip(sends["mobile"], sends["content"], strict=True))
    assert dict(zip(sends["mobile"], sends["msgid"], strict=True)) == {m: i for i, m, _ in sim.accepted_rows()}
    assert str(sends["sent_at"].dt.tz) == "UTC"
    again = send_campaign(plan, gateway=agw(sim), name="c1", ledger=ledger, progress=False)
    assert again.sent_now == 0
    assert len(sim.accepted) == 30
    with Ledger(ledger) as opened:
        assert opened.balances()["note"].tolist() == ["before", "after", "before", "after"]


def test_different_plan_under_same_name_refused(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    send_campaign(personal(3), mobile="m", content="c", gateway=agw(sim), name="c1", ledger=ledger, progress=False)
    with pytest.raises(SmsdataError, match="different plan"):
        send_campaign(personal(4), mobile="m", content="c", gateway=agw(sim), name="c1", ledger=ledger)


def test_dry_run_sends_and_records_nothing(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    result = send_campaign(
        personal(5), mobile="m", content="c", gateway=agw(sim), name="d", ledger=ledger, dry_run=True
    )
    assert result.dry_run
    assert result.recipients == {"planned": 5}
    assert sim.accepted == []
    with Ledger(ledger) as opened:
        assert opened.campaigns().empty


def test_cost_check_refuses_before_sending(sim, tmp_path: Path) -> None:
    with pytest.raises(sms.InsufficientBalance, match="nothing was sent"):
        send_campaign(personal(5), mobile="m", content="c", gateway=agw(sim, "poor"), name="p", ledger=tmp_path / "l")
    assert sim.accepted == []


def test_account_level_code_stops_and_resume_finishes(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    sim.accounts["demo"].balance = Decimal(10)
    plan = plan_campaign(personal(25), mobile="m", content="c")
    with pytest.raises(sms.CampaignStopped, match=r"resume_campaign\(.c1., gateway=...\)") as info:
        send_campaign(plan, gateway=agw(sim), name="c1", ledger=ledger, progress=False, allow_partial=True)
    stopped = info.value.result
    assert isinstance(info.value.cause, sms.InsufficientBalance)
    assert stopped.recipients["accepted"] == 10
    assert stopped.recipients["planned"] == 15
    assert "in_flight" not in stopped.requests
    sim.accounts["demo"].balance = Decimal(100)
    done = sms.resume_campaign("c1", gateway=agw(sim), ledger=ledger, progress=False)
    assert done.recipients == {"accepted": 25}
    assert done.done
    assert len(sim.accepted_rows()) == 25
    assert sim.deduplicated == 0


def test_per_request_codes_reject_and_go_on(sim, tmp_path: Path) -> None:
    df = pd.DataFrame({"m": ["13900000000", "13900000001", "13900000002"], "c": ["a", "b", "c"]})
    plan = plan_campaign(df, mobile="m", content="c")
    sim.config.fail_share = 0.5  # seeded: some requests get code 7
    result = send_campaign(plan, gateway=agw(sim), name="r", ledger=tmp_path / "l", progress=False)
    sends = sms.read_sends(tmp_path / "l")
    rejected = sends[sends["state"].eq("rejected")]
    assert set(rejected["code"]) == {"7"}
    assert result.requests.get("rejected", 0) == len(rejected) > 0
    assert result.requests.get("accepted", 0) == 3 - len(rejected)


def test_timeout_marks_unknown_and_resends_only_on_request(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    calls: list[bytes] = []

    async def flaky(request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.url.path.endswith("/Message/send"):
            calls.append(body)
            if len(calls) == 2:
                raise httpx.ReadTimeout("slow", request=request)
        inner = httpx.ASGITransport(app=sim.app)
        return await inner.handle_async_request(request)

    gw = sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(flaky), backoff=0)
    plan = plan_campaign(personal(3), mobile="m", content="c")
    result = send_campaign(plan, gateway=gw, name="u", ledger=ledger, progress=False, concurrency=1)
    assert result.recipients == {"accepted": 2, "unknown": 1}
    assert result.unknown["recipients"].tolist() == [1]
    assert "resend_unknown=True" in str(result)
    again = send_campaign(plan, gateway=gw, name="u", ledger=ledger, progress=False)
    assert again.sent_now == 0
    assert len(calls) == 3
    final = send_campaign(plan, gateway=gw, name="u", ledger=ledger, progress=False, resend_unknown=True)
    assert final.recipients == {"accepted": 3}
    assert calls[3] == calls[1]  # byte-identical resend


def test_crash_leftover_in_flight_becomes_unknown(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(2), mobile="m", content="c")
    send_campaign(plan, gateway=agw(sim), name="k", ledger=ledger, progress=False, dry_run=False)
    with sqlite3.connect(ledger) as db:  # what a kill -9 between the two commits leaves
        db.execute("UPDATE requests SET state = 'in_flight', msgid = NULL WHERE seq = 1")
    result = send_campaign(plan, gateway=agw(sim), name="k", ledger=ledger, progress=False)
    assert result.recipients == {"accepted": 1, "unknown": 1}
    assert result.unknown["message"].iloc[0] == "interrupted before the outcome was recorded"


def test_works_inside_a_running_event_loop(sim, tmp_path: Path) -> None:
    async def notebook_cell() -> sms.CampaignResult:
        return send_campaign(personal(3), mobile="m", content="c", gateway=agw(sim), name="j", ledger=tmp_path / "l")

    assert asyncio.run(notebook_cell()).recipients == {"accepted": 3}


def test_rate_limit_spaces_requests(sim, tmp_path: Path) -> None:
    import time

    start = time.monotonic()
    send_campaign(
        personal(6), mobile="m", content="c", gateway=agw(sim), name="rl", ledger=tmp_path / "l",
        rate_limit=20, concurrency=6, progress=False,
    )  # fmt: skip
    assert time.monotonic() - start >= 5 / 20


def test_ledger_settings_asserted(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_unwritable_ledger_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(sms.LedgerError, match="cannot open the ledger"):
        Ledger(blocker / "l.sqlite")


def test_password_never_reaches_the_ledger(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    send_campaign(personal(3), mobile="m", content="c", gateway=agw(sim), name="s", ledger=ledger, progress=False)
    for path in tmp_path.iterdir():
        assert CANARY.encode() not in path.read_bytes()


def test_real_gateway_is_converted_to_async(sim, tmp_path: Path) -> None:
    from smsdata._serve import serving

    with serving(sim.app) as url, sms.Gateway(url, "demo", CANARY) as gw:
        result = send_campaign(
            personal(4), mobile="m", content="c", gateway=gw, name="g", ledger=tmp_path / "l", progress=False
        )
    assert result.recipients == {"accepted": 4}


def test_simulator_account_for_fixture_is_funded(sim: GatewaySimulator) -> None:
    assert sim.accounts["demo"] == Account("demo", CANARY, Decimal(1000))


def test_dry_run_of_existing_campaign_reports_its_state(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(4), mobile="m", content="c")
    send_campaign(plan, gateway=agw(sim), name="e", ledger=ledger, progress=False)
    result = send_campaign(plan, gateway=agw(sim), name="e", ledger=ledger, dry_run=True)
    assert result.dry_run
    assert result.recipients == {"accepted": 4}
    assert result.sent_now == 0
    assert len(sim.accepted) == 4
