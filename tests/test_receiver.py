"""The receiver: paths and token, size limit, durable group-committed appends, disk failures, kill -9 under load."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsdata.ingest import ingest_reports, read_reports
from smsdata.receiver import ReportReceiver

REPORT = b"Report=800001,13800138000,DELIVRD,2026-11-25 21:25:13"
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\t")


def today_log(directory: Path) -> Path:
    return directory / f"reports-{datetime.now(UTC):%Y-%m-%d}.log"


async def post_all(receiver: ReportReceiver, requests: list[tuple[str, bytes]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        try:
            return await asyncio.gather(*(client.post(path, content=body) for path, body in requests))
        finally:
            await receiver.aclose()


def post(receiver: ReportReceiver, path: str, body: bytes) -> httpx.Response:
    return asyncio.run(post_all(receiver, [(path, body)]))[0]


def test_a_report_is_appended_with_its_receive_time(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path)
    before = datetime.now(UTC)
    answer = post(receiver, "/reports", REPORT)
    assert answer.status_code == 200
    line = today_log(tmp_path).read_bytes()
    assert STAMP.match(line)
    assert line.endswith(b"\t" + REPORT + b"\n")
    received = datetime.strptime(line[:27].decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= received <= datetime.now(UTC)
    assert receiver.log_files() == [today_log(tmp_path)]
    assert (receiver.stats.bodies, receiver.stats.reports) == (1, 1)


def test_a_body_with_several_reports_is_split_one_per_line(tmp_path: Path) -> None:
    body = REPORT + b"\r\n" + REPORT.replace(b"800001", b"800002") + b"\n\n"
    assert post(ReportReceiver(tmp_path), "/", body).status_code == 200
    lines = today_log(tmp_path).read_bytes().splitlines()
    assert [line.split(b"\t")[1] for line in lines] == [REPORT, REPORT.replace(b"800001", b"800002")]


def test_an_empty_body_leaves_a_trace(tmp_path: Path) -> None:
    assert post(ReportReceiver(tmp_path), "/reports", b"").status_code == 200
    assert today_log(tmp_path).read_bytes().endswith(b"Z\t\n")


def test_with_a_token_only_its_path_is_accepted(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path, token="s3cret-token")
    answers = asyncio.run(
        post_all(
            receiver,
            [("/reports/s3cret-token", REPORT), ("/reports/wrong", REPORT), ("/reports", REPORT), ("/", REPORT)],
        )
    )
    assert [a.status_code for a in answers] == [200, 404, 404, 404]
    assert receiver.stats.not_found == 3
    assert len(today_log(tmp_path).read_bytes().splitlines()) == 1
    assert "s3cret" not in repr(receiver)


def test_a_trailing_slash_is_404_not_a_redirect(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path, token="s3cret-token")
    answers = asyncio.run(
        post_all(receiver, [("/reports/s3cret-token/", REPORT), ("/reports/wrong/", REPORT), ("/reports/", REPORT)])
    )
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all("location" not in a.headers for a in answers)  # a redirect would echo the token
    assert receiver.stats.not_found == 3
    assert not today_log(tmp_path).exists()
    assert post(receiver, "/reports/s3cret-token", REPORT).status_code == 200

    tokenless = ReportReceiver(tmp_path / "open")
    assert post(tokenless, "/reports/", REPORT).status_code == 404


def test_health_and_methods(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path)

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=receiver.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            return [await client.get("/healthz"), await client.get("/reports")]

    health, get = asyncio.run(calls())
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert get.status_code == 405


def test_bodies_over_the_limit_get_413_declared_or_streamed(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path, max_body=1000)

    async def stream():
        for _ in range(20):
            yield b"x" * 100

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=receiver.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            declared = await client.post("/reports", content=b"x" * 1001)
            streamed = await client.post("/reports", content=stream())  # chunked: no Content-Length
            fits = await client.post("/reports", content=b"y" * 1000)
            await receiver.aclose()
            return [declared, streamed, fits]

    assert [a.status_code for a in asyncio.run(calls())] == [413, 413, 200]
    assert receiver.stats.too_large == 2
    assert len(today_log(tmp_path).read_bytes().splitlines()) == 1


def test_concurrent_posts_share_syncs_and_never_interleave(tmp_path: Path) -> None:
    receiver = ReportReceiver(tmp_path)
    bodies = [
        f"Report={i},13800138000,DELIVRD,2026-11-25 21:25:13\nReport={i},13900139000,DELIVRD,x".encode()
        for i in range(300)
    ]
    answers = asyncio.run(post_all(receiver, [("/reports", body) for body in bodies]))
    assert all(a.status_code == 200 for a in answers)
    lines = today_log(tmp_path).read_bytes().splitlines()
    assert len(lines) == 600
    assert all(STAMP.match(line) and line.count(b"Report=") == 1 for line in lines)
    assert {line.split(b"\t")[1] for line in lines} == {part for body in bodies for part in body.split(b"\n")}
    assert 1 <= receiver.stats.syncs < 300


def test_a_full_disk_answers_503_keeps_nothing_partial_and_recovers(tmp_path: Path, caplog) -> None:
    log = today_log(tmp_path)
    log.symlink_to("/dev/full")  # every write fails with ENOSPC
    receiver = ReportReceiver(tmp_path)

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=receiver.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            failed = await client.post("/reports", content=REPORT)
            log.unlink()  # the disk is back
            recovered = await client.post("/reports", content=REPORT.replace(b"800001", b"800002"))
            await receiver.aclose()
            return [failed, recovered]

    failed, recovered = asyncio.run(calls())
    assert failed.status_code == 503
    assert recovered.status_code == 200
    assert log.read_bytes().count(b"\n") == 1
    assert b"800002" in log.read_bytes()
    assert receiver.stats.storage_errors == 1
    assert "cannot store reports" in caplog.text


PERIODIC = re.compile(r"receiver: (\d+) reports in (\d+) bodies in the last 0\.2 s;")


def test_counts_are_logged_without_contents_or_token(tmp_path: Path, caplog) -> None:
    from smsdata._serve import serving

    caplog.set_level(logging.DEBUG)
    receiver = ReportReceiver(tmp_path, token="tok-123456", stats_interval=0.2)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith(("smsdata", "uvicorn"))]

    def periodic() -> list[tuple[int, int]]:
        """(reports, bodies) of each periodic line so far (the shutdown line says "since start")."""
        return [(int(m[1]), int(m[2])) for m in map(PERIODIC.match, lines()) if m]

    with serving(receiver.app) as url:
        for body in (REPORT, REPORT.replace(b"800001", b"800002") + b"\n" + REPORT.replace(b"800001", b"800003")):
            assert httpx.post(f"{url}/reports/tok-123456", content=body).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (sum(n for n, _ in periodic()) >= 3 and periodic()[-1] == (0, 0)):
            time.sleep(0.05)  # a poll, not a timing: waits for the lines it checks, whenever they come
        while_running = periodic()
    # Each periodic line counts its own 0.2 s: together they count the posts once, and then nothing.
    assert [sum(column) for column in zip(*while_running, strict=True)] == [3, 2]
    assert while_running[-1] == (0, 0)
    ours = "\n".join(lines())
    assert "receiver: 3 reports in 2 bodies since start" in ours  # and the total, at shutdown
    assert "13800138000" not in ours
    assert "tok-123456" not in ours


# ------------------------------------------------------------------ kill -9 under load


def start_receiver(directory: Path, faults: str = "", **popen) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "smsdata", "receive", "--port", "0", "--dir", str(directory)]
    env = {**os.environ, "SMSDATA_FAULTS": faults}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, **popen)
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+?)/reports", line)
    assert match, line
    return proc, match.group(1)


def test_killed_under_load_every_acknowledged_report_is_kept_and_ingested(tmp_path: Path) -> None:
    # 32 clients post; the receiver holds still with its 300th batch of bodies written, not yet
    # synced nor answered; a body posted then gets no answer; then it is killed there.
    faults = f"appended:300=wait:{tmp_path / 'never'}"
    proc, url = start_receiver(tmp_path / "raw", faults=faults, stderr=subprocess.PIPE)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(timeout=5) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                mobile = f"139{n:04d}{i:04d}"
                try:
                    answer = http.post(f"{url}/reports", content=f"Report={n},{mobile},DELIVRD,20261125212513")
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    acknowledged.append(mobile)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    try:
        assert any(line.startswith("smsdata-fault: appended 300") for line in proc.stderr)
        with pytest.raises(httpx.ReadTimeout):  # queued behind the held write: not on disk, not answered
            httpx.post(f"{url}/reports", content=b"Report=1,13999999999,DELIVRD,20261125212513", timeout=2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        proc.stdout.close()
        proc.stderr.close()
    assert len(acknowledged) >= 100  # 299 batches were answered (each holds one body or more)
    logged = b"".join(path.read_bytes() for path in (tmp_path / "raw").glob("reports-*.log"))
    kept = set(re.findall(rb"Report=\d+,(\d{11}),", logged))
    assert {m.encode() for m in acknowledged} <= kept

    result = ingest_reports(tmp_path / "raw", tmp_path / "ds", progress=False)
    assert result.balanced
    assert result.quarantined == 0
    assert set(acknowledged) <= set(read_reports(tmp_path / "ds")["mobile"])
