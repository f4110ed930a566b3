"""Ingest: raw logs -> Parquet, nothing lost or doubled, incremental, idempotent, crash-safe."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from smsdata.ingest import IngestError, ingest_reports, read_quarantine, read_reports

GOOD = [
    b"2026-11-25T13:25:14.000001Z\tReport=800001,13800138000,DELIVRD,2026-11-25 21:25:13",
    b"Report=800001,13800138001,UNDELIV,2026-11-25 21:25:20",
    b"800002, +86 138 0013 8002 ,delivrd,20261126083000",
]
BAD = [b"Report=800003,13800138003,DELIVRD", b"\xff\xfe", b"Report=800003,1380013800x,DELIVRD,2026-11-25 21:25:13"]


def write(path: Path, *lines: bytes, newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline else b""))
    return path


def ingest(source, dataset, **kwargs):
    return ingest_reports(source, dataset, progress=False, **kwargs)


def test_a_log_becomes_rows_and_quarantined_lines(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *GOOD, *BAD)
    result = ingest(log, tmp_path / "ds")
    assert (result.files, result.lines, result.ingested, result.duplicates, result.quarantined) == (1, 6, 3, 0, 3)
    assert result.balanced
    assert "6 lines from 1 file(s): 3 new reports" in str(result)

    reports = read_reports(tmp_path / "ds").sort_values("mobile", ignore_index=True)
    assert reports.columns.tolist() == ["msgid", "mobile", "status", "outcome", "report_time", "received_at"]
    assert reports["mobile"].tolist() == ["13800138000", "13800138001", "13800138002"]
    assert reports["status"].tolist() == ["DELIVRD", "UNDELIV", "DELIVRD"]
    assert reports["outcome"].tolist() == ["delivered", "failed", "delivered"]
    assert reports["report_time"].tolist() == [
        pd.Timestamp("2026-11-25 13:25:13", tz="UTC"),
        pd.Timestamp("2026-11-25 13:25:20", tz="UTC"),
        pd.Timestamp("2026-11-26 00:30:00", tz="UTC"),
    ]
    assert str(reports["report_time"].dtype) == "datetime64[us, UTC]"
    assert reports["received_at"].isna().tolist() == [False, True, True]
    assert sorted(p.name for p in (tmp_path / "ds" / "reports").iterdir()) == ["date=2026-11-25", "date=2026-11-26"]

    quarantine = read_quarantine(tmp_path / "ds")
    assert quarantine["reason"].tolist() == ["wrong_field_count", "not_utf8", "mobile_not_digits"]
    assert quarantine["line_number"].tolist() == [4, 5, 6]
    assert quarantine["line"].tolist()[1] == "\\xff\\xfe"
    assert set(quarantine["source"]) == {str(log)}
    raw = log.read_bytes()
    for offset, line in zip(quarantine["offset"], BAD, strict=True):
        assert raw[offset : offset + len(line)] == line


def test_running_again_adds_nothing(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *GOOD, *BAD)
    ingest(log, tmp_path / "ds")
    before = sorted(p.name for p in (tmp_path / "ds").rglob("*.parquet"))
    again = ingest(log, tmp_path / "ds")
    assert (again.files, again.lines, again.ingested, again.quarantined) == (0, 0, 0, 0)
    assert sorted(p.name for p in (tmp_path / "ds").rglob("*.parquet")) == before
    assert len(read_reports(tmp_path / "ds")) == 3


def test_appended_lines_only_and_a_partial_last_line_waits(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *GOOD)
    ingest(log, tmp_path / "ds")
    with log.open("ab") as f:
        f.write(b"Report=800009,13900139000,DELIVRD,2026-11-27 10:00:00\nReport=800009,139001")
    second = ingest(log, tmp_path / "ds")
    assert (second.lines, second.ingested) == (1, 1)
    with log.open("ab") as f:
        f.write(b"39001,EXPIRED,2026-11-27 10:00:05\n")
    third = ingest(log, tmp_path / "ds")
    assert (third.lines, third.ingested) == (1, 1)
    assert sorted(read_reports(tmp_path / "ds")["status"]) == ["DELIVRD", "DELIVRD", "DELIVRD", "EXPIRED", "UNDELIV"]
    write(tmp_path / "b.log", b"junk")
    ingest(tmp_path / "b.log", tmp_path / "ds")
    assert read_quarantine(tmp_path / "ds")["line_number"].tolist() == [1]


def test_line_numbers_continue_across_runs(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *GOOD)
    ingest(log, tmp_path / "ds")
    with log.open("ab") as f:
        f.write(b"garbage\n")
    ingest(log, tmp_path / "ds")
    assert read_quarantine(tmp_path / "ds")["line_number"].tolist() == [4]


def test_repeats_are_counted_and_stored_once_across_files_and_runs(tmp_path: Path) -> None:
    write(tmp_path / "logs" / "a.log", *GOOD, GOOD[1])
    first = ingest(tmp_path / "logs", tmp_path / "ds")
    assert (first.ingested, first.duplicates) == (3, 1)
    write(tmp_path / "logs" / "b.log", GOOD[0], GOOD[2], b"Report=800001,13800138001,UNDELIV,2026-11-25 21:25:21")
    second = ingest(tmp_path / "logs", tmp_path / "ds")
    assert (second.files, second.ingested, second.duplicates) == (1, 1, 2)
    assert len(read_reports(tmp_path / "ds")) == 4


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *GOOD)
    ingest(log, tmp_path / "ds")
    write(log, b"Report=900000,13700137000,DELIVRD,2026-11-28 09:00:00")  # rotated: shorter, other head
    result = ingest(log, tmp_path / "ds")
    assert (result.lines, result.ingested) == (1, 1)


def test_sources_file_folder_and_glob(tmp_path: Path) -> None:
    write(tmp_path / "in" / "2026" / "a.log", GOOD[0]) if (tmp_path / "in" / "2026").mkdir(
        parents=True
    ) is None else None
    write(tmp_path / "in" / "b.txt", GOOD[1])
    write(tmp_path / "in" / ".hidden", GOOD[2])
    assert ingest(str(tmp_path / "in" / "**" / "*.log"), tmp_path / "g").ingested == 1
    assert ingest(tmp_path / "in", tmp_path / "f").files == 2
    with pytest.raises(IngestError, match="no such file"):
        ingest(tmp_path / "missing.log", tmp_path / "x")
    with pytest.raises(IngestError, match="no files match"):
        ingest(str(tmp_path / "*.nothing"), tmp_path / "x")
    with pytest.raises(IngestError, match="no dataset"):
        read_reports(tmp_path / "nowhere")


def test_read_reports_filters_by_time(tmp_path: Path) -> None:
    ingest(write(tmp_path / "a.log", *GOOD), tmp_path / "ds")
    day = read_reports(tmp_path / "ds", start="2026-11-26", end="2026-11-27")
    assert day["mobile"].tolist() == ["13800138002"]
    window = read_reports(tmp_path / "ds", start=pd.Timestamp("2026-11-25 21:25:15", tz="Asia/Shanghai"))
    assert sorted(window["mobile"]) == ["13800138001", "13800138002"]
    assert read_reports(tmp_path / "ds", end="2026-11-25").empty


def test_an_over_long_line_is_quarantined_not_held(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(GOOD[0] + b"\n" + b"x" * (3 * 2**20) + b"\n" + GOOD[1] + b"\n")
    result = ingest(log, tmp_path / "ds", chunk_bytes=2**20)
    assert (result.lines, result.ingested, result.quarantined) == (3, 2, 1)
    quarantine = read_quarantine(tmp_path / "ds")
    assert quarantine["reason"].tolist() == ["line_too_long"]
    assert quarantine["line_number"].tolist() == [2]
    assert quarantine["offset"].tolist() == [len(GOOD[0]) + 1]


def test_small_chunks_give_the_same_result(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *(GOOD * 50), *BAD)
    one = ingest(log, tmp_path / "one")
    many = ingest(log, tmp_path / "many", chunk_bytes=1000)
    assert (one.lines, one.ingested, one.duplicates, one.quarantined) == (
        many.lines,
        many.ingested,
        many.duplicates,
        many.quarantined,
    )
    assert read_quarantine(tmp_path / "one")[["line_number", "offset"]].equals(
        read_quarantine(tmp_path / "many")[["line_number", "offset"]]
    )


def test_a_second_ingest_on_the_same_dataset_is_refused(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "ds" / "_ingest").mkdir(parents=True)
    with (tmp_path / "ds" / "_ingest" / "lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(IngestError, match="another ingest"):
            ingest(write(tmp_path / "a.log", *GOOD), tmp_path / "ds")


# ------------------------------------------------------------------ kill -9

KILLABLE = textwrap.dedent(
    """
    import sys
    from smsdata.ingest import ingest_reports
    ingest_reports(sys.argv[1], sys.argv[2], progress=False, chunk_bytes=64 * 1024)
    """
)


def big_log(path: Path, lines: int = 60_000) -> Path:
    rng = random.Random(7)
    rows = []
    for i in range(lines):
        status = rng.choice(["DELIVRD", "DELIVRD", "UNDELIV", "bad,field"])
        mobile = 13800000000 + rng.randrange(20000)
        rows.append(f"Report={800000 + i // 100},{mobile},{status},2026-11-{1 + i % 28:02d} 10:00:00")
    path.write_text("\n".join(rows) + "\n")
    return path


def snapshot(dataset: Path) -> tuple[list, list]:
    reports = read_reports(dataset).sort_values(["msgid", "mobile", "status", "report_time"], ignore_index=True)
    quarantine = read_quarantine(dataset).drop(columns="run")
    return reports.astype(str).values.tolist(), quarantine.astype(str).values.tolist()


# Each case: the points a run after run is killed at (``point:N``), on a dataset of its own; then
# one run to the end. The kills fall while reading (staged), right after the commit, while
# publishing, and again while the next run finishes publishing the run killed before it.
KILLS = [
    pytest.param(["staged:1"], id="first-chunk-staged"),
    pytest.param(["staged:30", "staged:5"], id="mid-read-twice"),
    pytest.param(["committed:1"], id="just-committed"),
    pytest.param(["published:1"], id="first-file-published"),
    pytest.param(["published:40", "published:3"], id="mid-publish-then-mid-recovery"),
]


@pytest.mark.parametrize("kills", KILLS)
def test_killed_at_any_moment_then_run_again_equals_one_clean_run(tmp_path: Path, kills: list[str]) -> None:
    log = big_log(tmp_path / "big.log")
    clean = ingest(log, tmp_path / "clean")
    assert clean.balanced
    assert clean.duplicates > 0
    assert clean.quarantined > 0
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    for fault in kills:
        env = {**os.environ, "SMSDATA_FAULTS": f"{fault}=SIGKILL"}
        run = subprocess.run([sys.executable, str(script), str(log), str(tmp_path / "ds")], env=env, check=False)
        assert run.returncode == -signal.SIGKILL, f"{fault}: the run ended before reaching its fault point"
    ingest(log, tmp_path / "ds")
    assert snapshot(tmp_path / "ds") == snapshot(tmp_path / "clean")
    assert not list((tmp_path / "ds" / "_ingest").glob("run-*"))


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from smsdata.ingest import IngestError, ingest_reports
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    try:
        ingest_reports(sys.argv[1], sys.argv[2], progress=False)
    except IngestError as exc:
        print("IngestError:", exc)
    """
)


def test_a_full_disk_gives_a_clear_error_and_commits_nothing(tmp_path: Path) -> None:
    log = big_log(tmp_path / "big.log")
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    out = subprocess.run([sys.executable, str(script), str(log), str(tmp_path / "ds")], capture_output=True, text=True)
    assert "IngestError: ingest into" in out.stdout, out.stdout + out.stderr
    assert "nothing was committed" in out.stdout
    assert not (tmp_path / "ds" / "reports").exists()
    ingest(log, tmp_path / "ds")  # the disk has room again
    ingest(log, tmp_path / "clean")
    assert snapshot(tmp_path / "ds") == snapshot(tmp_path / "clean")


def test_cli_ingest_prints_the_balance_of_lines(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from smsdata.cli import cli

    log = write(tmp_path / "a.log", *GOOD, *BAD)
    command = ["ingest", str(log), "--dataset", str(tmp_path / "ds"), "--no-progress"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "6 lines from 1 file(s): 3 new reports, 0 duplicates, 3 quarantined" in result.output
    assert "smsdata quarantine --dataset" in result.output
    missing = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope.log"), "--dataset", str(tmp_path / "ds")])
    assert missing.exit_code == 1
    assert "IngestError: no such file or folder" in missing.output


# ------------------------------------------------------------ rotation, odd files, interrupted runs


def _report(i: int) -> bytes:
    return f"2026-11-25T13:25:13.000000Z\tReport={900000 + i},138{i:08d},DELIVRD,2026-11-25 21:25:13".encode()


@pytest.mark.parametrize(("opener", "name"), [("gzip", "reports.log.1.gz"), ("bz2", "old.log"), ("lzma", "r.xz")])
def test_a_compressed_log_is_read_as_the_log_it_holds(tmp_path: Path, opener: str, name: str) -> None:
    import importlib

    logs = tmp_path / "logs"
    write(logs / "reports.log", *(_report(i) for i in range(5, 8)))
    with importlib.import_module(opener).open(logs / name, "wb") as f:  # by its bytes, whatever its name
        f.write(b"\n".join(_report(i) for i in range(5)) + b"\n")
    result = ingest(logs, tmp_path / "ds")
    assert (result.files, result.ingested, result.quarantined) == (2, 8, 0)
    assert read_quarantine(tmp_path / "ds").empty  # no compressed bytes read as text
    again = ingest(logs, tmp_path / "ds")
    assert (again.files, again.lines) == (0, 0)  # read once, not again


def test_a_log_compressed_in_a_format_ingest_cannot_read_is_skipped_with_its_reason(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "reports.log", _report(1))
    (logs / "reports.log.2.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00\x07\xff" * 50)
    result = ingest(logs, tmp_path / "ds")
    assert (result.ingested, result.quarantined) == (1, 0)
    assert result.skipped == ((str(logs / "reports.log.2.zst"), "compressed with zstd: decompress it to ingest it"),)
    assert "skipped" in str(result)


def test_a_tail_cut_back_and_rewritten_is_read_again_losing_nothing(tmp_path: Path) -> None:
    # The receiver cuts a file back to its last durable end after a failed write; an ingest may
    # have read the tail it cut. The file then grows past the saved offset with other bytes.
    log = tmp_path / "reports.log"
    durable = b"".join(_report(i) + b"\n" for i in range(100))
    log.write_bytes(durable + b"".join(_report(i) + b"\n" for i in range(200, 210)))  # 10 not yet durable
    first = ingest(log, tmp_path / "ds")
    assert first.ingested == 110
    with log.open("r+b") as f:
        f.truncate(len(durable))
    with log.open("ab") as f:  # 30 new reports, then the gateway's retries of the 10 cut
        f.write(b"".join(_report(i) + b"\n" for i in [*range(300, 330), *range(200, 210)]))
    second = ingest(log, tmp_path / "ds")
    assert second.balanced
    assert second.ingested == 30
    stored = set(read_reports(tmp_path / "ds")["msgid"].astype(int) - 900000)
    assert stored == {*range(100), *range(200, 210), *range(300, 330)}
    assert read_quarantine(tmp_path / "ds").empty
    assert (ingest(log, tmp_path / "ds").lines, len(read_reports(tmp_path / "ds"))) == (0, 140)


@pytest.mark.parametrize("pad", [b" ", b"x"])
def test_an_over_long_line_inside_a_chunk_is_quarantined(tmp_path: Path, pad: bytes) -> None:
    long_line = b"Report=1," + pad * (2 * 2**20) + b"13800138000,DELIVRD,2026-11-25 21:25:13"
    log = write(tmp_path / "a.log", _report(1), long_line, _report(2))
    result = ingest(log, tmp_path / "ds", chunk_bytes=8 * 2**20)  # the whole line inside one chunk
    assert (result.lines, result.ingested, result.quarantined) == (3, 2, 1)
    (quarantined,) = read_quarantine(tmp_path / "ds").itertuples()
    assert quarantined.reason == "line_too_long"
    assert quarantined.line_number == 2
    assert len(quarantined.line) == 1024 + 3  # its first KiB and "..."


def test_a_symlink_loop_reads_each_file_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "reports.log", _report(1), _report(2))
    (logs / "loop").symlink_to(logs, target_is_directory=True)
    (logs / "again.log").symlink_to(logs / "reports.log")
    result = ingest(logs, tmp_path / "ds")
    assert (result.files, result.lines, result.ingested, result.duplicates) == (1, 2, 2, 0)


def test_a_run_killed_after_its_commit_is_published_and_counted_by_the_next(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *(_report(i) for i in range(50)))
    code = "import sys; from smsdata import ingest_reports; ingest_reports(sys.argv[1], sys.argv[2], progress=False)"
    env = {**os.environ, "SMSDATA_FAULTS": "committed:1=SIGKILL"}
    killed = subprocess.run([sys.executable, "-c", code, str(log), str(tmp_path / "ds")], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "ds" / "reports").exists()  # committed, not yet published
    result = ingest(log, tmp_path / "ds")
    assert (result.lines, result.ingested, result.recovered) == (0, 0, 50)
    assert "and 50 reports of an interrupted earlier run, published now" in str(result)
    assert len(read_reports(tmp_path / "ds")) == 50


def test_a_bom_before_the_receivers_stamp_and_two_reports_in_one_form_body(tmp_path: Path) -> None:
    log = write(
        tmp_path / "a.log",
        b"\xef\xbb\xbf" + _report(1),
        b"Report=900002,13800000002,DELIVRD,2026-11-25 21:25:13&Report=900003,13800000003,UNDELIV,2026-11-25 21:25:14",
    )
    result = ingest(log, tmp_path / "ds")
    assert (result.lines, result.ingested, result.quarantined) == (3, 3, 0)
    reports = read_reports(tmp_path / "ds").sort_values("msgid")
    assert reports["msgid"].tolist() == ["900001", "900002", "900003"]
    assert reports["received_at"].notna().tolist() == [True, False, False]


def test_many_runs_into_one_day_are_compacted_and_repeats_still_found(tmp_path: Path) -> None:
    from smsdata.ingest import COMPACT_AT

    log = tmp_path / "reports.log"
    log.write_bytes(b"")
    for run in range(COMPACT_AT + 3):
        with log.open("ab") as f:  # each run: 5 new reports, and a repeat of the very first one
            f.write(b"".join(_report(run * 5 + i) + b"\n" for i in range(5)) + _report(0) + b"\n")
        result = ingest(log, tmp_path / "ds")
        assert (result.ingested, result.duplicates) == (5, 1)  # the first run holds it twice itself
        parts = list((tmp_path / "ds" / "reports" / "date=2026-11-25").glob("*.parquet"))
        assert len(parts) < COMPACT_AT
    stored = read_reports(tmp_path / "ds")
    assert len(stored) == 5 * (COMPACT_AT + 3)
    assert stored["msgid"].is_unique
    assert not list((tmp_path / "ds" / "_ingest").glob("run-*"))


def test_a_run_killed_after_committing_a_compaction_finishes_it(tmp_path: Path) -> None:
    from smsdata.ingest import COMPACT_AT

    log = tmp_path / "reports.log"
    for run in range(COMPACT_AT - 1):
        with log.open("ab") as f:
            f.write(_report(run) + b"\n")
        ingest(log, tmp_path / "ds")
    with log.open("ab") as f:
        f.write(_report(100) + b"\n" + _report(3) + b"\n")
    code = "import sys; from smsdata import ingest_reports; ingest_reports(sys.argv[1], sys.argv[2], progress=False)"
    env = {**os.environ, "SMSDATA_FAULTS": "committed:1=SIGKILL"}
    killed = subprocess.run([sys.executable, "-c", code, str(log), str(tmp_path / "ds")], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert len(read_reports(tmp_path / "ds")) == COMPACT_AT - 1  # the old parts, untouched
    result = ingest(log, tmp_path / "ds")
    assert result.recovered == 1
    stored = read_reports(tmp_path / "ds")
    assert sorted(stored["msgid"].astype(int) - 900000) == [*range(COMPACT_AT - 1), 100]
    assert len(list((tmp_path / "ds" / "reports" / "date=2026-11-25").glob("*.parquet"))) == 1


def test_a_state_from_before_checkpoints_resumes_at_its_offset(tmp_path: Path) -> None:
    import json

    log = write(tmp_path / "a.log", *(_report(i) for i in range(10)))
    ingest(log, tmp_path / "ds")
    state_path = tmp_path / "ds" / "_ingest" / "state.json"
    state = json.loads(state_path.read_text())
    for entry in state["files"].values():
        del entry["checkpoints"]  # as smsdata wrote it before this version
    state_path.write_text(json.dumps(state))
    with log.open("ab") as f:
        f.write(_report(10) + b"\n")
    result = ingest(log, tmp_path / "ds")
    assert (result.lines, result.ingested, result.duplicates) == (1, 1, 0)
    with log.open("ab") as f:
        f.write(_report(11) + b"\n")
    assert ingest(log, tmp_path / "ds").lines == 1  # and checkpoints from then on


def test_an_over_long_line_still_open_at_the_end_waits_and_never_becomes_a_row(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    log.write_bytes(b"x" * (2 * 2**20) + b"\n" + b"y" * (2 * 2**20))  # one ended, one still being written
    first = ingest(log, tmp_path / "ds", chunk_bytes=65536)
    assert (first.lines, first.quarantined) == (1, 1)
    with log.open("ab") as f:
        f.write(b"Report=1700000009999,13800138000,DELIVRD,2026-11-25 21:25:13\n")
    second = ingest(log, tmp_path / "ds", chunk_bytes=65536)
    assert (second.lines, second.ingested, second.quarantined) == (1, 0, 1)  # the whole long line, once
    assert read_reports(tmp_path / "ds").empty
    assert read_quarantine(tmp_path / "ds")["line_number"].tolist() == [1, 2]


def test_a_truncated_compressed_log_is_skipped_until_whole_and_blocks_nothing(tmp_path: Path) -> None:
    import gzip

    logs = tmp_path / "logs"
    write(logs / "ok.log", _report(1))
    whole = gzip.compress(b"".join(_report(i) + b"\n" for i in range(2, 40)))
    (logs / "old.log.gz").write_bytes(whole[: len(whole) // 2])  # logrotate still compressing it
    first = ingest(logs, tmp_path / "ds")
    assert first.ingested == 1
    ((path, why),) = first.skipped
    assert path.endswith("old.log.gz")
    assert why.startswith("truncated or corrupt gzip file")
    (logs / "old.log.gz").write_bytes(whole)
    assert ingest(logs, tmp_path / "ds").ingested == 38


def test_text_that_starts_like_bzip2_is_read_as_text_and_gzip_in_gzip_is_skipped(tmp_path: Path) -> None:
    import gzip

    logs = tmp_path / "logs"
    write(logs / "d.log", b"BZh is not bzip", _report(1))
    (logs / "twice.gz").write_bytes(gzip.compress(gzip.compress(_report(2) + b"\n")))
    result = ingest(logs, tmp_path / "ds")
    assert (result.ingested, result.quarantined) == (1, 1)  # the "BZh" line is a quarantined text line
    assert result.skipped == ((str(logs / "twice.gz"), "gzip holding compressed data: decompress it to ingest it"),)


def test_a_log_renamed_by_rotation_continues_and_a_compressed_one_is_read_whole(tmp_path: Path) -> None:
    import gzip

    logs = tmp_path / "logs"
    lines = [*(_report(i) for i in range(60)), *BAD]  # over 512 bytes: enough head to recognise it
    write(logs / "reports.log", *lines)
    first = ingest(logs, tmp_path / "ds")
    assert (first.ingested, first.quarantined) == (60, 3)

    (logs / "reports.log").rename(logs / "reports.log.1")  # logrotate: rename, then a new file
    write(logs / "reports.log", _report(100))
    with (logs / "reports.log.1").open("ab") as f:  # the receiver still had it open: one more line
        f.write(_report(101) + b"\n")
    renamed = ingest(logs, tmp_path / "ds")
    assert (renamed.lines, renamed.ingested, renamed.duplicates, renamed.quarantined) == (2, 2, 0, 0)

    with gzip.open(logs / "reports.log.2.gz", "wb") as f:  # then compressed and the plain file removed
        f.write((logs / "reports.log.1").read_bytes())
    (logs / "reports.log.1").unlink()
    compressed = ingest(logs, tmp_path / "ds")  # another file: read whole, its reports are repeats
    assert (compressed.lines, compressed.ingested, compressed.duplicates, compressed.quarantined) == (64, 0, 61, 3)
    assert len(read_reports(tmp_path / "ds")) == 62


def test_a_different_log_with_the_same_first_lines_is_read_whole(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    head = [_report(i) for i in range(60)]
    write(logs / "a.log", *head, _report(200))
    ingest(logs, tmp_path / "ds")
    write(logs / "b.log", *head, _report(300))  # same head, other bytes before its end: not a rotation of a.log
    result = ingest(logs, tmp_path / "ds")
    assert (result.lines, result.ingested, result.duplicates) == (61, 1, 60)


def test_a_log_with_cr_only_line_breaks_is_skipped_with_its_reason(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs).mkdir()
    (logs / "mac.log").write_bytes(b"\r".join(_report(i) for i in range(3)) + b"\r")
    (logs / "writing.log").write_bytes(_report(9) + b"\r")  # a CRLF line half written: it waits
    result = ingest(logs, tmp_path / "ds")
    assert (result.lines, result.ingested) == (0, 0)
    assert [(Path(path).name, why.split(":")[0]) for path, why in result.skipped] == [
        ("mac.log", "its lines end in CR alone (old Mac style)")
    ]
    (logs / "writing.log").write_bytes(_report(9) + b"\r\n")
    assert ingest(logs, tmp_path / "ds").ingested == 1


@pytest.mark.parametrize("long_line", [9_000, 70_000, 2**20 + 10])
def test_a_line_longer_than_several_chunks_leaves_every_other_line_intact(tmp_path: Path, long_line: int) -> None:
    reports = [_report(i) for i in range(3000)]
    log = write(tmp_path / "a.log", *reports[:1500], b"x" * long_line, *reports[1500:])
    result = ingest(log, tmp_path / "ds", chunk_bytes=4096, workers=2)
    stored = read_reports(tmp_path / "ds")
    assert (result.lines, result.ingested, result.quarantined) == (3001, 3000, 1)
    assert sorted(stored["msgid"].astype(int) - 900000) == list(range(3000))
    assert ingest(log, tmp_path / "ds", chunk_bytes=4096).lines == 0


PUBLISH_FAILS = textwrap.dedent(
    """
    import sys
    from smsdata.ingest import IngestError, ingest_reports
    try:
        ingest_reports(sys.argv[1], sys.argv[2], progress=False)
    except IngestError as exc:
        print("IngestError:", exc)
    """
)


def test_a_failure_after_the_commit_says_the_reports_are_committed(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *(_report(i) for i in range(20)))
    script = tmp_path / "publish.py"
    script.write_text(PUBLISH_FAILS)
    go_on = tmp_path / "go-on"
    env = {**os.environ, "SMSDATA_FAULTS": f"committed:1=wait:{go_on}"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(log), str(tmp_path / "ds")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "smsdata-fault: committed 1" in proc.stderr.readline()
    (tmp_path / "ds" / "reports").write_text("in the way")  # publishing cannot make its folder
    go_on.touch()
    out, _ = proc.communicate(timeout=120)
    assert "its reports are committed and are published by the next run" in out, out
    (tmp_path / "ds" / "reports").unlink()
    again = ingest(log, tmp_path / "ds")
    assert (again.lines, again.recovered) == (0, 20)
    assert len(read_reports(tmp_path / "ds")) == 20


def test_chunk_bytes_and_workers_below_one_are_refused(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", _report(1))
    for options in ({"chunk_bytes": 0}, {"workers": 0}):
        with pytest.raises(ValueError, match="at least 1"):
            ingest(log, tmp_path / "ds", **options)
    assert ingest(log, tmp_path / "ds", chunk_bytes=1).ingested == 1  # tiny, slow, exact


def test_a_failure_finishing_an_interrupted_run_is_an_ingest_error(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", *(_report(i) for i in range(20)))
    code = "import sys; from smsdata import ingest_reports; ingest_reports(sys.argv[1], sys.argv[2], progress=False)"
    env = {**os.environ, "SMSDATA_FAULTS": "committed:1=SIGKILL"}
    subprocess.run([sys.executable, "-c", code, str(log), str(tmp_path / "ds")], env=env, check=False)
    (tmp_path / "ds" / "reports").write_text("in the way")
    with pytest.raises(IngestError, match="the run interrupted earlier did not complete"):
        ingest(log, tmp_path / "ds")
    (tmp_path / "ds" / "reports").unlink()
    assert ingest(log, tmp_path / "ds").recovered == 20


def test_junk_with_carriage_returns_at_the_top_of_a_log_is_one_bad_line_not_a_skipped_file(tmp_path: Path) -> None:
    junk = bytes(random.Random(3).randrange(1, 256) for _ in range(70_000)).replace(b"\n", b"\r")
    log = write(tmp_path / "a.log", junk, *(_report(i) for i in range(10)))
    result = ingest(log, tmp_path / "ds")
    assert (result.skipped, result.lines, result.ingested, result.quarantined) == ((), 11, 10, 1)
