"""Sending campaigns through the ledger: records, resume, stops, unknowns, leases, interrupts."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import pytest

import smsdata as sms
from smsdata.campaign import send_campaign
from smsdata.errors import SmsdataError
from smsdata.ledger import LEASE_TTL, Ledger
from smsdata.planning import plan_campaign
from smsdata.simulator import GatewaySimulator

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


@pytest.mark.parametrize(
    ("code", "stops"),
    [
        pytest.param(1, True, id="1-auth-stops"),
        pytest.param(2, False, id="2-mobile-rejected"),
        pytest.param(3, False, id="3-empty-rejected"),
        pytest.param(4, False, id="4-too-long-rejected"),
        pytest.param(5, True, id="5-balance-stops"),
        pytest.param(6, False, id="6-too-many-rejected"),
        pytest.param(7, False, id="7-failed-rejected"),
        pytest.param(8, True, id="8-frozen-stops"),
    ],
)
def test_an_account_code_stops_the_run_and_any_other_rejects_only_its_request(tmp_path: Path, code, stops) -> None:
    sends: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        body = {"status": "success", "respCode": 0, "respMsg": "1000", "msgid": ""}
        if request.url.path.endswith("/Message/send"):
            sends.append(request)
            body = {"status": "success", "respCode": "0", "respMsg": "ok", "msgid": str(len(sends))}
            if len(sends) == 2:  # the second request, and only it, gets the code
                body = {"status": "error", "respCode": code, "respMsg": "refused", "msgid": ""}
        return httpx.Response(200, json=body)

    gw = sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(gateway), backoff=0)
    run = {"gateway": gw, "name": "k", "ledger": tmp_path / "l", "progress": False, "concurrency": 1}
    plan = plan_campaign(personal(4), mobile="m", content="c")
    if stops:
        with pytest.raises(sms.CampaignStopped) as info:
            send_campaign(plan, **run)
        assert info.value.cause.code == code
        assert info.value.result.recipients == {"accepted": 1, "planned": 3}  # put back: it was refused whole
        assert len(sends) == 2  # nothing sent after the account's refusal
    else:
        result = send_campaign(plan, **run)
        assert result.recipients == {"accepted": 3, "rejected": 1}
        assert len(sends) == 4
        sends_now = sms.read_sends(tmp_path / "l")
        assert sends_now.loc[sends_now["state"].eq("rejected"), "code"].tolist() == [str(code)]


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


def test_dry_run_of_existing_campaign_reports_its_state(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(4), mobile="m", content="c")
    send_campaign(plan, gateway=agw(sim), name="e", ledger=ledger, progress=False)
    result = send_campaign(plan, gateway=agw(sim), name="e", ledger=ledger, dry_run=True)
    assert result.dry_run
    assert result.recipients == {"accepted": 4}
    assert result.sent_now == 0
    assert len(sim.accepted) == 4


# ------------------------------------------------------------ one run at a time


def gated(sim: GatewaySimulator, *, at: int, entered: threading.Event, release: threading.Event) -> sms.AsyncGateway:
    """A gateway on ``sim`` whose ``at``-th send waits for ``release`` (after setting ``entered``)."""
    sends = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Message/send"):
            sends.append(request)
            if len(sends) == at:
                entered.set()
                await asyncio.to_thread(release.wait, 10)
        return await httpx.ASGITransport(app=sim.app).handle_async_request(request)

    return sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0)


def test_second_run_of_a_campaign_is_refused_while_the_first_sends(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(20), mobile="m", content="c")
    entered, release = threading.Event(), threading.Event()
    first: list[object] = []

    def run_first() -> None:
        gw = gated(sim, at=3, entered=entered, release=release)
        first.append(send_campaign(plan, gateway=gw, name="x", ledger=ledger, progress=False, concurrency=1))

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert entered.wait(10)
        for again in (plan, None):  # the same cell run twice, or a resume beside it
            with pytest.raises(sms.CampaignBusy, match=rf"pid {os.getpid()} on .*last heartbeat") as info:
                send_campaign(again, gateway=agw(sim), name="x", ledger=ledger, progress=False)
            assert "nothing was done" in str(info.value)
        with Ledger(ledger) as opened:  # the refused runs turned none of the live run's in_flight unknown
            states = opened.requests("x")["state"].value_counts().to_dict()
        assert "unknown" not in states
        assert 1 <= states["in_flight"] <= 2  # the one on the wire, and the one claimed ahead
    finally:
        release.set()
        thread.join(30)
    assert first[0].recipients == {"accepted": 20}
    assert len(sim.accepted_rows()) == 20
    assert sim.deduplicated == 0
    again = send_campaign(plan, gateway=agw(sim), name="x", ledger=ledger, progress=False)  # lease released
    assert again.sent_now == 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leave_lease(ledger: Path, *, machine: str, process: str, age: float) -> None:
    beat = (datetime.now(UTC) - timedelta(seconds=age)).isoformat()
    with sqlite3.connect(ledger) as db:
        db.execute(
            "INSERT OR REPLACE INTO leases VALUES ('k', 'old-holder', ?, ?, ?, ?)", (machine, process, beat, beat)
        )
        db.execute("UPDATE requests SET state = 'in_flight', claimed_by = 'old-holder', msgid = NULL WHERE seq = 1")


def _stored(sim: GatewaySimulator, ledger: Path) -> None:
    send_campaign(personal(3), mobile="m", content="c", gateway=agw(sim), name="k", ledger=ledger, progress=False)


@pytest.mark.parametrize(
    ("where", "age", "taken"),
    [
        pytest.param("here-dead", 0, True, id="dead-process-on-this-machine-at-once"),
        pytest.param("here-reused", 0, True, id="its-pid-reused-by-another-process"),
        pytest.param("here-alive", 5, False, id="live-process-on-this-machine"),
        pytest.param("here-alive", LEASE_TTL + 5, False, id="live-process-silent-past-ttl-stopped-not-gone"),
        pytest.param("elsewhere", 5, False, id="other-machine-fresh"),
        pytest.param("elsewhere", LEASE_TTL + 5, True, id="other-machine-silent-past-ttl"),
    ],
)
def test_a_lease_is_taken_over_only_from_a_run_that_is_gone(sim, tmp_path: Path, where, age, taken) -> None:
    from smsdata._leases import process_tag, this_machine

    ledger = tmp_path / "l.sqlite"
    _stored(sim, ledger)
    machine = "other-host/1" if where == "elsewhere" else this_machine()
    process = {"here-dead": process_tag(_dead_pid()), "here-reused": f"{os.getpid()}:1"}.get(
        where, process_tag(os.getpid())
    )
    _leave_lease(ledger, machine=machine, process=process, age=age)
    if not taken:
        with pytest.raises(sms.CampaignBusy):
            sms.resume_campaign("k", gateway=agw(sim), ledger=ledger, progress=False)
        with Ledger(ledger) as opened:
            assert opened.requests("k")["state"].tolist() == ["accepted", "in_flight", "accepted"]
        return
    result = sms.resume_campaign("k", gateway=agw(sim), ledger=ledger, progress=False)
    assert result.recipients == {"accepted": 2, "unknown": 1}  # its in_flight request: unknown, not resent
    assert len(sim.accepted_rows()) == 3


def test_a_run_whose_lease_is_taken_over_stops_claiming(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(30), mobile="m", content="c")
    sends: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Message/send"):
            sends.append(request)
            if len(sends) == 5:  # another run takes the campaign over while this one is stalled
                with sqlite3.connect(ledger) as db:
                    db.execute("UPDATE leases SET holder = 'usurper'")
        return await httpx.ASGITransport(app=sim.app).handle_async_request(request)

    gw = sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0)
    with pytest.raises(sms.CampaignStopped) as info:
        send_campaign(plan, gateway=gw, name="t", ledger=ledger, progress=False, concurrency=1)
    assert isinstance(info.value.cause, sms.LeaseLost)
    assert len(sends) == 5  # nothing claimed after the takeover
    states = info.value.result.recipients
    assert states == {"accepted": 5, "planned": 25}  # the request on the wire kept its true outcome
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT holder FROM leases").fetchall() == [("usurper",)]  # not released: not ours


# ------------------------------------------------------------ interrupts


def interrupting(sim: GatewaySimulator, *, at: int, times: int = 1) -> tuple[sms.AsyncGateway, list[bytes]]:
    """A gateway on ``sim`` that presses Ctrl-C ``times`` while its ``at``-th send is on the wire.

    After one press the send is answered (a moment later: the run lets it finish); after two it
    is held on the wire until the run abandons it, so what the test sees does not hang on timing.
    """
    bodies: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Message/send"):
            bodies.append(request.read())
            if len(bodies) == at:
                for _ in range(times):
                    signal.raise_signal(signal.SIGINT)
                    await asyncio.sleep(0)
                await asyncio.sleep(0.05 if times == 1 else 60)  # 60: only a bound, the 2nd press cancels it
        return await httpx.ASGITransport(app=sim.app).handle_async_request(request)

    return sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0), bodies


def test_ctrl_c_answers_what_is_on_the_wire_and_puts_the_rest_back(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(40), mobile="m", content="c")
    gw, bodies = interrupting(sim, at=6)
    with pytest.raises(sms.CampaignInterrupted, match=r"resume_campaign\('i', gateway=\.\.\.\)") as info:
        send_campaign(plan, gateway=gw, name="i", ledger=ledger, progress=False, concurrency=4)
    result = info.value.result
    assert isinstance(info.value, KeyboardInterrupt)
    assert "unknown" not in result.recipients  # every request on the wire was answered and recorded
    assert result.recipients["accepted"] == len(bodies) == len(sim.accepted_rows()) == result.sent_now
    assert result.recipients["accepted"] + result.recipients["planned"] == 40
    with Ledger(ledger) as opened:
        assert opened.requests("i")["state"].isin(["accepted", "planned"]).all()
        assert opened.requests("i").query("state == 'planned'")["attempts"].eq(0).all()
    done = sms.resume_campaign("i", gateway=agw(sim), ledger=ledger, progress=False)
    assert done.recipients == {"accepted": 40}
    assert sim.deduplicated == 0


def test_second_ctrl_c_abandons_what_is_on_the_wire_as_unknown(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    plan = plan_campaign(personal(40), mobile="m", content="c")
    gw, _ = interrupting(sim, at=6, times=2)
    with pytest.raises(sms.CampaignInterrupted) as info:
        send_campaign(plan, gateway=gw, name="i2", ledger=ledger, progress=False, concurrency=4)
    result = info.value.result
    assert 1 <= result.requests.get("unknown", 0) <= 4  # at most one on the wire per worker
    assert "in_flight" not in result.requests
    assert sum(result.recipients.values()) == 40
    assert "resend_unknown=True" in str(info.value)


def test_cli_speaks_cli_words_and_python_python_words(sim, tmp_path: Path) -> None:
    from smsdata.cli import describe as _describe

    ledger = tmp_path / "l.sqlite"
    calls: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Message/send"):
            calls.append(1)
            if len(calls) == 2:
                raise httpx.ReadTimeout("slow", request=request)
        return await httpx.ASGITransport(app=sim.app).handle_async_request(request)

    gw = sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0)
    result = send_campaign(personal(3), mobile="m", content="c", gateway=gw, name="w", ledger=ledger, progress=False)
    assert "resume_campaign('w', gateway=..., resend_unknown=True)" in str(result)
    assert "smsdata" not in str(result)
    assert "`smsdata resume w --resend-unknown`" in _describe(result)
    assert "resend_unknown=True" not in _describe(result)


# ------------------------------------------------------------ options, price, internals


def test_a_mock_transport_is_kept_through_send_campaign(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"status": "success", "respCode": "0", "respMsg": "100", "msgid": "9"})

    for transport in (httpx.MockTransport(handler), _BlockingOnly(handler)):
        seen.clear()
        with sms.Gateway(
            "http://nowhere.invalid/Admin/index.php", "demo", CANARY, transport=transport, timeout=3, retries=0
        ) as gw:
            async_gw = gw.to_async()
            assert (async_gw.timeout, async_gw.retries, async_gw.encoding) == (3, 0, "form")
            result = send_campaign(
                personal(2), mobile="m", content="c", gateway=gw, name=type(transport).__name__,
                ledger=tmp_path / "l", progress=False,
            )  # fmt: skip
        assert result.recipients == {"accepted": 2}
        assert seen.count("/Admin/index.php/Message/send") == 2  # through the mock: nowhere.invalid is never asked


class _BlockingOnly(httpx.BaseTransport):
    """A transport with no async face, as a user's custom one may be."""

    def __init__(self, handler) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self.handler(request)


def test_price_is_stored_and_used_on_resume(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    sim.accounts["demo"].balance = Decimal(4)  # the simulator charges 1 a segment: 4 of 6 go out
    plan = plan_campaign(personal(6), mobile="m", content="c", price="1.5")
    assert plan.estimated_cost == Decimal("9.0")
    with pytest.raises(sms.CampaignStopped):
        send_campaign(plan, gateway=agw(sim), name="p", ledger=ledger, progress=False, allow_partial=True)
    sim.accounts["demo"].balance = Decimal(2)  # covers 2 messages at 1 unit, not at 1.5
    with pytest.raises(sms.InsufficientBalance, match=r"estimated cost 3\.0 "):
        sms.resume_campaign("p", gateway=agw(sim), ledger=ledger, progress=False)
    with pytest.raises(SmsdataError, match=r"stored at price 1\.5 per segment, this plan says 1"):
        send_campaign(plan_campaign(personal(6), mobile="m", content="c"), gateway=agw(sim), name="p", ledger=ledger)
    sends = sms.read_sends(ledger)
    assert sends["price"].eq(1.5).all()
    burn = sms.balance_burn(ledger=ledger, sends=sends)
    accepted = int(sends["state"].eq("accepted").sum())
    assert burn.campaigns.set_index("campaign").loc["p", "expected_cost"] == pytest.approx(1.5 * accepted)


def test_misspelt_options_are_type_errors(sim, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="concurency"):
        send_campaign(personal(1), mobile="m", content="c", gateway=agw(sim), name="o", concurency=8)
    with pytest.raises(TypeError, match="mobile"):
        sms.resume_campaign("o", gateway=agw(sim), mobile="m")
    with pytest.raises(SmsdataError, match="only apply when a DataFrame is given"):
        send_campaign(plan_campaign(personal(1), mobile="m", content="c"), mobile="m", gateway=agw(sim), name="o")


def test_a_failed_ledger_write_is_raised_not_lost(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smsdata._leases import LedgerBatch, Outcome
    from smsdata._sender import _GroupCommit

    ledger_path = tmp_path / "l.sqlite"
    _stored(sim, ledger_path)
    full = {"disk": True}
    real_record = LedgerBatch.record

    def record(self, outcomes):
        if full["disk"] and outcomes:
            raise sms.LedgerError("disk full")
        return real_record(self, outcomes)

    monkeypatch.setattr(LedgerBatch, "record", record)  # a full disk, at exactly this write
    outcome = Outcome("accepted", "0", "ok", "1", "2026-11-26T00:00:00+00:00", "2026-11-26T00:00:01+00:00")

    async def scenario(ledger: Ledger) -> None:
        commits = _GroupCommit(ledger, ledger.acquire_lease("k"))
        commits.record(1, outcome)
        await asyncio.sleep(0.01)  # that batch failed in the background, nobody waiting on it
        full["disk"] = False
        with pytest.raises(sms.LedgerError, match="disk full"):
            commits.flush()
        waiter = commits.heartbeat()
        with pytest.raises(sms.LedgerError, match="disk full"):  # still raised: it is never forgotten
            commits.flush()
        assert waiter.result() is True  # later writes are still committed

    with Ledger(ledger_path) as opened:
        asyncio.run(scenario(opened))


def test_cost_is_summed_in_one_place() -> None:
    import inspect

    import smsdata._leases
    import smsdata.campaign
    import smsdata.ledger
    import smsdata.planning

    modules = (smsdata.planning, smsdata.campaign, smsdata.ledger, smsdata._leases)
    sources = "".join(inspect.getsource(module) for module in modules)
    assert sources.count('["recipients"] * ') == 1  # CampaignPlan.segments, for a plan
    assert sources.count("self.recipients * self.segments") == 1  # PlannedRequest.billed_segments, for the rest


def test_a_notebook_interrupt_stops_the_run_in_its_thread_gracefully(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    sends: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Message/send"):
            sends.append(request)
            if len(sends) == 6:
                os.kill(os.getpid(), signal.SIGINT)  # the kernel's "interrupt": KeyboardInterrupt in the main thread
                await asyncio.sleep(0.05)
        return await httpx.ASGITransport(app=sim.app).handle_async_request(request)

    gw = sms.AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0)

    async def notebook_cell() -> sms.CampaignResult:  # a cell runs inside the kernel's event loop
        return send_campaign(
            personal(40), mobile="m", content="c", gateway=gw, name="nb", ledger=ledger, progress=False
        )

    loop = asyncio.new_event_loop()  # like ipykernel: no asyncio SIGINT handler, KeyboardInterrupt is raised
    try:
        with pytest.raises(sms.CampaignInterrupted) as info:
            loop.run_until_complete(notebook_cell())
    finally:
        loop.close()
    result = info.value.result
    assert "unknown" not in result.recipients
    assert result.recipients["accepted"] == len(sends) == len(sim.accepted_rows())
    assert result.recipients["accepted"] + result.recipients["planned"] == 40


def test_kept_customer_columns_travel_to_the_sends_and_group_every_kpi(sim, tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    df = personal(6).assign(
        city=["Beijing", "Shanghai", None, "Beijing", "Shanghai", "Beijing"], tier=[1, 2, 1, 2, 1, 2]
    )
    send_campaign(
        df, mobile="m", content="c", keep=["city", "tier"], gateway=agw(sim), name="k1", ledger=ledger, progress=False
    )
    send_campaign(
        personal(2, start=100), mobile="m", content="c", gateway=agw(sim), name="k2", ledger=ledger, progress=False
    )
    sends = sms.read_sends(ledger)
    assert sends["city"].iloc[:6].fillna("-").tolist() == ["Beijing", "Shanghai", "-", "Beijing", "Shanghai", "Beijing"]
    assert sends["tier"].tolist()[:6] == ["1", "2", "1", "2", "1", "2"]
    assert sends["city"].iloc[6:].isna().all()  # a campaign that kept nothing
    reports = pd.DataFrame(
        {
            "msgid": sends["msgid"].iloc[:2].tolist(),
            "mobile": sends["mobile"].iloc[:2].tolist(),
            "status": ["DELIVRD", "UNDELIV"],
            "report_time": sends["sent_at"].iloc[:2] + pd.Timedelta(seconds=5),
        }
    )
    later = sends["sent_at"].max() + pd.Timedelta(minutes=1)  # the reports are stamped after now
    rates = sms.delivery_rate(sends, reports, by="city", as_of=later)
    assert rates["city"].fillna("-").tolist() == ["Beijing", "Shanghai", "-"]  # no city: a group of its own
    assert rates["sent"].tolist() == [3, 2, 3]
    assert rates["delivered"].tolist() == [1, 0, 0]
    assert sms.status_breakdown(sends, reports, by=["city", "tier"], as_of=later)["count"].sum() == 8
    with pytest.raises(SmsdataError, match="clash"):
        plan_campaign(df.assign(state="x"), mobile="m", content="c", keep=["state"])
    with pytest.raises(SmsdataError, match="does not have"):
        plan_campaign(df, mobile="m", content="c", keep=["postcode"])
