"""The simulator: the gateway's rules, charging, dedupe, reports, its own record."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from smsdata.gateway import AsyncGateway
from smsdata.simulator import DEFAULT_FAILURES, Account, GatewaySimulator, SimulatorConfig

from .conftest import BASE, CANARY


def test_charges_per_segment_per_number(sim: GatewaySimulator) -> None:
    assert sim.send("demo", CANARY, "13800138000,13800138001", "x" * 70)[0] == 0  # 2 x 1 segment
    assert sim.send("demo", CANARY, "13800138000", "y" * 71)[0] == 0  # 2 segments
    assert sim.send("demo", CANARY, "13800138000", "z" * 135)[0] == 0  # 3 segments
    assert sim.accounts["demo"].balance == Decimal(1000 - 2 - 2 - 3)


def test_price_and_segment_sizes_configurable() -> None:
    sim = GatewaySimulator([Account("a", "p", Decimal(100))], price=Decimal("0.5"), single_segment=10, multi_segment=5)
    assert sim.send("a", "p", "13800138000", "x" * 11)[0] == 0  # 3 segments at 0.5
    assert sim.accounts["a"].balance == Decimal("98.5")


def test_insufficient_balance_charges_nothing_and_sends_nothing(sim: GatewaySimulator) -> None:
    assert sim.send("poor", CANARY, "13800138000,13800138001", "Hi")[0] == 5
    assert sim.accounts["poor"].balance == Decimal(1)
    assert sim.accepted == []


def test_same_content_to_same_number_is_deduplicated(sim: GatewaySimulator) -> None:
    first = sim.send("demo", CANARY, "13800138000,13800138000,13800138001", "Hi")
    second = sim.send("demo", CANARY, "13800138000,13800138002", "Hi")
    other = sim.send("demo", CANARY, "13800138000", "Different")
    assert [r[0] for r in (first, second, other)] == [0, 0, 0]
    assert len({first[2], second[2], other[2]}) == 3
    assert sim.deduplicated == 2
    assert sim.accepted_rows() == [
        (first[2], "13800138000", "Hi"),
        (first[2], "13800138001", "Hi"),
        (second[2], "13800138002", "Hi"),
        (other[2], "13800138000", "Different"),
    ]
    assert sim.accounts["demo"].balance == Decimal(996)


def test_dedupe_can_be_turned_off() -> None:
    sim = GatewaySimulator([Account("a", "p")], dedupe=False)
    sim.send("a", "p", "13800138000", "Hi")
    sim.send("a", "p", "13800138000", "Hi")
    assert len(sim.accepted_rows()) == 2
    assert sim.deduplicated == 0


def test_msgids_unique_and_increasing(sim: GatewaySimulator) -> None:
    ids = [int(sim.send("demo", CANARY, f"1380013{i:04d}", "Hi")[2]) for i in range(50)]
    assert ids == list(range(800000, 800050))


def test_default_msgids_differ_between_restarts() -> None:
    a = GatewaySimulator().send("demo", "demo", "13800138000", "Hi")[2]
    b = GatewaySimulator().send("demo", "demo", "13800138000", "Hi")[2]
    assert a != b


def test_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError, match="nonsense"):
        GatewaySimulator(nonsense=1)


def http(sim: GatewaySimulator, method: str, path: str, **kwargs) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://sim") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(run())


def test_answers_document_shapes(sim: GatewaySimulator) -> None:
    form = {"Uid": "demo", "Pwd": CANARY, "Mobile": "13800138000", "Content": "Hi"}
    ok = http(sim, "POST", "/Admin/index.php/Message/send", data=form)
    assert ok.text == '{"status":"success","respCode":"0","respMsg":"send success", "msgid":"800000""}'
    sim.config.malformed_success = False
    ok2 = http(sim, "POST", "/any/prefix/Message/send", data={**form, "Mobile": "13800138001"})
    assert ok2.json() == {"status": "success", "respCode": "0", "respMsg": "send success", "msgid": "800001"}
    bad = http(sim, "POST", "/Message/balance", data={"Uid": "demo", "Pwd": "x"})
    assert bad.json() == {"status": "error", "respCode": "1", "respMsg": "Uid, pwd is empty or wrong", "msgid": ""}
    bal = http(sim, "POST", "/Message/balance", data={"Uid": "demo", "Pwd": CANARY})
    assert bal.json()["respMsg"] == "998.00"


def test_unknown_paths_and_methods(sim: GatewaySimulator) -> None:
    assert http(sim, "POST", "/Message/other").status_code == 404
    assert http(sim, "GET", "/Message/send").status_code == 405


def test_state_and_accepted_record(sim: GatewaySimulator) -> None:
    sim.send("demo", CANARY, "13800138000,13800138001", 'Hi, "you"')
    sim.send("demo", "bad", "13800138000", "Hi")
    state = http(sim, "GET", "/_sim/state").json()
    assert state["accounts"]["demo"] == {"balance": "998", "frozen": False}
    assert state["codes"] == {"send:0": 1, "send:1": 1}
    assert state["messages_accepted"] == 2
    rows = list(csv.reader(io.StringIO(http(sim, "GET", "/_sim/accepted").text)))
    assert rows == [
        ["msgid", "mobile", "content"],
        ["800000", "13800138000", 'Hi, "you"'],
        ["800000", "13800138001", 'Hi, "you"'],
    ]
    assert CANARY not in str(state)


# ------------------------------------------------------------ delivery reports


class Inbox:
    """A callback endpoint that records every POSTed body, failing the first ``fail`` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[str] = []
        self.fail = fail

        async def receive(request: Request) -> PlainTextResponse:
            if self.fail:
                self.fail -= 1
                return PlainTextResponse("busy", status_code=503)
            self.bodies.append((await request.body()).decode())
            return PlainTextResponse("ok")

        self.transport = httpx.ASGITransport(app=Starlette(routes=[Route("/r", receive, methods=["POST"])]))

    def lines(self) -> list[str]:
        return [line for body in self.bodies for line in body.split("\n")]


def run_campaign(sim: GatewaySimulator, sends: list[tuple[str, str]]) -> None:
    async def run() -> None:
        async with AsyncGateway(BASE, "demo", "demo", transport=httpx.ASGITransport(app=sim.app)) as gw:
            for mobiles, content in sends:
                await gw.send(mobiles, content)
        assert await sim.drain(timeout=30)
        await sim.aclose()

    asyncio.run(run())


def make_sim(inbox: Inbox, **options) -> GatewaySimulator:
    base = {"time_scale": 0.0001, "seed": 3, "msgid_start": 1000}
    return GatewaySimulator(
        [Account("demo", "demo", Decimal(10**6))],
        callback_url="http://receiver.test/r",
        callback_transport=inbox.transport,
        **{**base, **options},
    )


def numbers(n: int, start: int = 0) -> str:
    return ",".join(f"139{i:08d}" for i in range(start, start + n))


def test_reports_are_posted_in_document_format() -> None:
    inbox = Inbox()
    sim = make_sim(inbox, report_share=1.0, duplicate_share=0.0, delivered_share=1.0)
    before = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0, tzinfo=None)
    run_campaign(sim, [(numbers(3), "Hi")])
    lines = sorted(inbox.lines())
    assert [line.split(",")[:3] for line in lines] == [
        ["Report=1000", "13900000000", "DELIVRD"],
        ["Report=1000", "13900000001", "DELIVRD"],
        ["Report=1000", "13900000002", "DELIVRD"],
    ]
    for line in lines:
        stamp = datetime.strptime(line.split(",")[3], "%Y-%m-%d %H:%M:%S")
        assert before <= stamp < before + timedelta(hours=2)
    assert sim.reports_posted == 3


def test_report_mix_follows_configuration() -> None:
    inbox = Inbox()
    sim = make_sim(
        inbox,
        report_share=0.9,
        delivered_share=0.8,
        failures={"UNDELIV": 3, "MK:0001": 1},
        duplicate_share=0.1,
        out_of_order_share=0.3,
        reports_per_post=5,
    )
    run_campaign(sim, [(numbers(2000), "Hi"), (numbers(2000, 2000), "Hello")])
    lines = inbox.lines()
    unique = set(lines)
    assert 0.87 < len(unique) / 4000 < 0.93
    assert 0.07 < (len(lines) - len(unique)) / len(unique) < 0.13
    statuses = Counter(line.split(",")[2] for line in unique)
    assert set(statuses) == {"DELIVRD", "UNDELIV", "MK:0001"}
    assert 0.77 < statuses["DELIVRD"] / len(unique) < 0.83
    assert 2.4 < statuses["UNDELIV"] / statuses["MK:0001"] < 3.8
    assert max(len(body.split("\n")) for body in inbox.bodies) == 5
    # Held-back reports arrive after reports with a later report time.
    times = [line.split(",")[3] for line in lines]
    assert times != sorted(times)


def test_seed_makes_reports_reproducible() -> None:
    def once() -> set[str]:
        inbox = Inbox()
        sim = make_sim(inbox, seed=11)
        run_campaign(sim, [(numbers(300), "Hi")])
        return {",".join(line.split(",")[1:3]) for line in inbox.lines()}

    assert once() == once()


def test_callback_failures_are_retried() -> None:
    inbox = Inbox(fail=2)
    sim = make_sim(inbox, report_share=1.0, duplicate_share=0.0)
    run_campaign(sim, [("13900000000", "Hi")])
    assert len(inbox.lines()) == 1
    assert sim.reports_posted == 1
    assert sim.reports_failed == 0


# ------------------------------------------------------------ no hidden state, no loop from send()


def test_options_copy_the_callers_config_and_accounts() -> None:
    config = SimulatorConfig(seed=1)
    failures = config.failures
    account = Account("a", "p", Decimal(10))
    sim = GatewaySimulator([account], config, price=Decimal(2), msgid_start=5)
    assert sim.send("a", "p", "13800138000", "Hi")[:2] == (0, "send success")
    assert config == SimulatorConfig(seed=1)  # the options went into the simulator's copy
    assert account == Account("a", "p", Decimal(10))  # charged: the simulator's own account
    assert sim.accounts["a"].balance == Decimal(8)
    sim.config.failures["X"] = 1.0
    assert failures == DEFAULT_FAILURES
    again = GatewaySimulator([account], config)  # reused as given, as a notebook re-runs a cell
    assert (again.config.price, again.config.msgid_start, again.accounts["a"].balance) == (1, None, 10)
    assert again.config is not config


def test_msgids_differ_between_simulators_of_one_process_without_shared_state() -> None:
    import smsdata._sim_rules
    import smsdata.simulator

    first, second = GatewaySimulator(), GatewaySimulator()
    ids = []
    for i in range(200):  # interleaved, as a restart in a test or a notebook does
        ids.append(first.send("demo", "demo", f"1380013{i:04d}", "Hi")[2])
        ids.append(second.send("demo", "demo", f"1380013{i:04d}", "Hi")[2])
    restarted = GatewaySimulator()
    later = restarted.send("demo", "demo", "13800138000", "Hi")[2]
    assert len(set(ids)) == len(ids)
    assert int(later) > max(map(int, ids))
    for module in (smsdata.simulator, smsdata._sim_rules):  # msgids come from each simulator and the clock
        assert not any(name.startswith("_last") for name in vars(module))


def test_send_outside_any_event_loop_plans_reports_for_later() -> None:
    inbox = Inbox()
    sim = make_sim(inbox, report_share=1.0, duplicate_share=0.0)
    code, _, msgid = sim.send("demo", "demo", "13900000000", "Hi")  # no loop runs here: no RuntimeError
    assert (code, sim.reports_pending) == (0, 1)

    async def later() -> None:
        assert await sim.drain(timeout=30)
        await sim.aclose()

    asyncio.run(later())
    assert inbox.lines()[0].startswith(f"Report={msgid},13900000000,")


def test_send_inside_a_running_loop_leaves_that_loop_alone() -> None:
    """A notebook cell runs inside the kernel's loop: send() there neither fails, deadlocks, nor
    starts tasks in it; the reports go out when the caller awaits drain()."""
    import threading

    inbox = Inbox()
    sim = make_sim(inbox, report_share=1.0, duplicate_share=0.0)
    seen: dict[str, object] = {}

    async def cell() -> None:
        before = asyncio.all_tasks()
        seen["send"] = sim.send("demo", "demo", "13900000000", "Hi")
        seen["new_tasks"] = asyncio.all_tasks() - before
        seen["drained"] = await sim.drain(timeout=30)
        await sim.aclose()

    runner = threading.Thread(target=asyncio.run, args=(cell(),))
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), "send() inside a running loop deadlocked"
    code, _, msgid = seen["send"]
    assert (code, seen["new_tasks"], seen["drained"]) == (0, set(), True)
    assert inbox.lines()[0].startswith(f"Report={msgid},13900000000,")


def test_reports_planned_before_serving_go_out_once_served() -> None:
    from smsdata._serve import serving

    received: list[str] = []

    async def receive(request: Request) -> PlainTextResponse:
        received.append((await request.body()).decode())
        return PlainTextResponse("ok")

    with serving(Starlette(routes=[Route("/r", receive, methods=["POST"])])) as inbox_url:
        sim = GatewaySimulator(
            callback_url=f"{inbox_url}/r", time_scale=0.0001, report_share=1.0, duplicate_share=0.0, seed=2
        )
        msgid = sim.send("demo", "demo", "13900000000", "Hi")[2]  # from this thread, before it serves
        with serving(sim.app):
            deadline = time.monotonic() + 30
            while sim.reports_pending and time.monotonic() < deadline:
                time.sleep(0.02)
    assert sim.reports_posted == 1
    assert received[0].startswith(f"Report={msgid},13900000000,")
