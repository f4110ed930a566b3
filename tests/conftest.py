"""Shared fixtures: a simulator, gateways backed by it in-process, hygiene checks."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pandas as pd
import pytest

from smsdata.gateway import AsyncGateway, Gateway
from smsdata.simulator import Account, GatewaySimulator

CANARY = "Canary-PWD-7f3a9"
BASE = "http://gateway.test/Admin/index.php"


class ASGIBridge(httpx.BaseTransport):
    """Serve a blocking httpx client from an ASGI app, in-process (httpx only ships the async one)."""

    def __init__(self, app) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            request.stream = httpx.ByteStream(request.read())
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(call())


@pytest.fixture
def sim() -> GatewaySimulator:
    """A simulator with a funded account (password: the canary), a poor one and a frozen one."""
    return GatewaySimulator(
        [
            Account("demo", CANARY, balance=Decimal(1000)),
            Account("poor", CANARY, balance=Decimal(1)),
            Account("frozen", CANARY, frozen=True),
        ],
        seed=1,
        msgid_start=800000,
    )


@pytest.fixture
def gateway(sim: GatewaySimulator) -> Iterator[Gateway]:
    """A blocking Gateway talking to ``sim`` in-process."""
    with Gateway(BASE, "demo", CANARY, transport=ASGIBridge(sim.app), backoff=0) as gw:
        yield gw


@pytest.fixture
def async_gateway_for(sim: GatewaySimulator) -> Callable[..., AsyncGateway]:
    """Build an AsyncGateway on ``sim`` in-process (create it inside the test's event loop)."""

    def make(uid: str = "demo", pwd: str = CANARY, **kwargs) -> AsyncGateway:
        return AsyncGateway(BASE, uid, pwd, transport=httpx.ASGITransport(app=sim.app), backoff=0, **kwargs)

    return make


class Recorder:
    """An httpx MockTransport handler that records requests and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


@pytest.fixture
def mock_gateway() -> Callable[..., tuple[Gateway, Recorder]]:
    """``mock_gateway(*answers)`` -> a Gateway on a scripted MockTransport, and its recorder."""
    made: list[Gateway] = []

    def make(*answers, **kwargs) -> tuple[Gateway, Recorder]:
        recorder = Recorder(*answers)
        gw = Gateway(BASE, "demo", CANARY, transport=httpx.MockTransport(recorder), backoff=0, **kwargs)
        made.append(gw)
        return gw, recorder

    yield make
    for gw in made:
        gw.close()


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One Spark session in local mode for the whole run, on 127.0.0.1, no UI (started on first use)."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[dev,spark]'")
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # tests use the loopback only
    session = (
        SparkSession.builder.master("local[2]")
        .appName("smsdata-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _hygiene(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> Iterator[None]:
    """Isolate the environment; fail on leaked threads (servers)."""
    for key in list(os.environ):
        if key.startswith("SMSDATA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    threads = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in threads]
    for thread in new:
        thread.join(timeout=2)
    leaked = [t for t in new if t.is_alive() and type(t).__name__ != "TMonitor"]  # tqdm keeps one for life
    assert not leaked, f"test leaked threads (a server left running?): {leaked}"


@pytest.fixture
def canary_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record at DEBUG; assert the canary password never appears."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert CANARY not in caplog.text


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaign a: 3 recipients; b: 2 recipients and an unknown request."""
    sends = pd.DataFrame(
        {
            "campaign": ["a", "a", "a", "b", "b", "b"],
            "request_id": [1, 1, 2, 3, 3, 4],
            "msgid": ["m1", "m1", "m2", "m3", "m3", None],
            "mobile": ["13800000001", "13800000002", "13800000003", "13800000001", "13800000004", "13800000005"],
            "state": ["accepted"] * 5 + ["unknown"],
            "sent_at": [_utc("2026-11-20 00:00")] * 3 + [_utc("2026-11-21 00:00")] * 3,
        }
    )
    reports = pd.DataFrame(
        {
            "msgid": ["m1", "m1", "m1", "m1", "m2", "m9", "m3"],
            "mobile": [
                "13800000001",
                "13800000001",
                "13800000001",
                "13800000002",
                "13800000009",
                "13800000005",
                "13800000001",
            ],
            "status": ["UNKNOWN", "DELIVRD", "DELIVRD", "EXPIRED", "DELIVRD", "DELIVRD", "DELIVRD"],
            "report_time": [
                _utc("2026-11-20 00:00:10"),  # a failure first ...
                _utc("2026-11-20 00:01:00"),  # ... then delivered: delivered, latency 60 s
                _utc("2026-11-20 00:02:00"),  # a later DELIVRD does not change the first
                _utc("2026-11-20 00:00:30"),  # 002: failed
                _utc("2026-11-20 00:00:05"),  # m2 to a number not in its request
                _utc("2026-11-21 00:00:09"),  # orphan msgid, for the unknown request's number
                _utc("2026-11-20 23:59:00"),  # m3/001 before it was sent: skewed
            ],
        }
    )
    return sends, reports
