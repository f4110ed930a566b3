"""Records, the compiled kernels and finishing a date: exact against plain pandas and Arrow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smsdata import _kernels, _partitions, _records
from smsdata._line_times import assume_zone, localize

DAY = np.datetime64("2026-11-25T00:00:00", "us").astype(np.int64)


def rows(count: int, *, seed: int = 0, repeats: float = 0.2, day: int = DAY) -> pa.Table:
    """Report rows of one UTC day with some exact repeats (and differing received stamps)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "msgid": rng.choice(["1790000000001", "A-1.b:2_x", "9" * 24, "7"], count),
            "mobile": rng.choice(["13800138000", "19912345678", "15000000001"], count),
            "status": rng.choice(["DELIVRD", "UNDELIV", "MK:0001", "X" * 16], count),
            "report_time": day + rng.integers(0, 4, count) * 1_000_000,
            "received_at": day + rng.integers(0, 10**9, count),
        }
    )
    frame.loc[rng.random(count) < 0.3, "received_at"] = -1
    repeat = rng.random(count) < repeats
    frame[repeat] = frame.shift(1)[repeat]
    frame = frame.dropna()
    received = frame["received_at"].astype("int64").to_numpy()
    return pa.Table.from_arrays(
        [
            pa.array(frame["msgid"], pa.string()),
            pa.array(frame["mobile"], pa.string()),
            pa.array(frame["status"], pa.string()),
            pa.array(frame["report_time"].astype("int64"), _records.ROW_SCHEMA.field("report_time").type),
            pa.array(received, _records.ROW_SCHEMA.field("received_at").type, mask=received < 0),
        ],
        schema=_records.ROW_SCHEMA,
    )


def expected(table: pa.Table) -> pd.DataFrame:
    """One row per key with the earliest received stamp: the definition, in pandas."""
    frame = table.to_pandas()
    return frame.groupby(KEY, as_index=False)["received_at"].min().sort_values(KEY, ignore_index=True)


def stored(part: Path) -> pd.DataFrame:
    frame = pq.read_table(part).to_pandas()
    return frame[[*KEY, "received_at"]].sort_values(KEY, ignore_index=True)


KEY = ["msgid", "mobile", "status", "report_time"]

# ------------------------------------------------------------------ records and kernels


def test_records_round_trip_every_field_and_missing_stamps() -> None:
    table = rows(500)
    back = _records.to_table(_records.from_table(table))
    assert back.equals(table)
    assert _records.to_table(_records.from_table(table.slice(0, 0))).num_rows == 0


def test_a_value_that_does_not_fit_its_slot_is_refused() -> None:
    table = rows(3, repeats=0)
    too_long = table.set_column(0, "msgid", pa.array(["1" * 25] * table.num_rows))
    with pytest.raises(ValueError, match="msgid over 24 bytes"):
        _records.from_table(too_long)


def test_dedupe_keeps_the_first_of_each_key_and_its_earliest_stamp() -> None:
    table = rows(5000, seed=3)
    records = _records.from_table(table)
    first, earliest = _kernels.dedupe(records, _kernels.key_hashes(records))
    frame = table.to_pandas()
    frame["received"] = _records.received(records)
    key = ["msgid", "mobile", "status", "report_time"]
    assert list(first) == list(frame.drop_duplicates(key).index)
    stamps = frame["received"].where(frame["received"] >= 0)
    wanted = stamps.groupby([frame[k] for k in key], sort=False).min().fillna(-1).astype("int64")
    assert list(earliest) == list(wanted)


def test_dedupe_compares_keys_not_hashes() -> None:
    records = _records.from_table(rows(50, repeats=0))
    distinct = len(_records.to_table(records).to_pandas().drop_duplicates(KEY))
    first, _ = _kernels.dedupe(records, np.zeros(len(records), np.uint64))  # every hash collides
    assert len(first) == distinct


@pytest.mark.parametrize("size", [0, 1, 2, 1000, 70_000])
def test_sort_order_is_a_stable_sort(size: int) -> None:
    rng = np.random.default_rng(size)
    keys = rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True)
    keys[: size // 2] = keys[size // 2 : 2 * (size // 2)]  # ties
    assert list(_kernels.sort_order(keys)) == list(np.argsort(keys, kind="stable"))


def test_group_order_is_a_stable_counting_sort() -> None:
    groups = np.random.default_rng(1).integers(0, 37, 10_000)
    order, bounds = _kernels.group_order(groups, 37)
    assert list(order) == list(np.argsort(groups, kind="stable"))
    assert list(bounds) == [0, *np.cumsum(np.bincount(groups, minlength=37))]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_localize_equals_arrow_through_gaps_and_overlaps(zone: str) -> None:
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-03-01", "us").astype(np.int64)
    local = start + rng.integers(0, 300 * 86_400 * 10**6, 400_000)
    # every 15 minutes of the year, at a random second: each DST change is crossed
    grid = start + np.arange(0, 300 * 86_400 * 10**6, 900 * 10**6) + rng.integers(0, 60 * 10**6)
    for values in (local, grid, local[:1000]):
        assert np.array_equal(localize(values, zone), assume_zone(values, zone))


# ------------------------------------------------------------------ finishing a date


def finish(table: pa.Table, work: Path, stored: list[Path], name: str, **options: int) -> tuple[int, Path]:
    """Stage ``table`` in two files, as two chunks would, and finish its day; the count and the part."""
    for half in (table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)):
        _partitions.stage(_records.from_table(half), work / name)
    (staged,) = (work / name).iterdir()
    target = work / "out" / name / f"part-{name}.parquet"
    written, _ = _partitions.finish_day(staged, stored, target, **options)
    return written, target


def new_keys(table: pa.Table, old: pd.DataFrame) -> pd.DataFrame:
    merged = expected(table).merge(old[KEY], on=KEY, how="left", indicator=True)
    return merged[merged["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)


def test_a_day_finished_in_slices_equals_one_finished_whole(tmp_path: Path) -> None:
    table = rows(3000, seed=5)
    whole, whole_part = finish(table, tmp_path, [], "whole")
    sliced, sliced_part = finish(table, tmp_path, [], "sliced", rows_at_once=100)
    assert whole == sliced == len(expected(table))
    pd.testing.assert_frame_equal(stored(whole_part), expected(table))
    pd.testing.assert_frame_equal(stored(sliced_part), expected(table))
    assert pq.ParquetFile(sliced_part).num_row_groups > 1
    keys = np.fromfile(_partitions.keys_path(sliced_part), "<u8")[4:]  # after its header
    written = _records.from_table(pq.read_table(sliced_part).select(_records.ROW_SCHEMA.names))
    assert list(keys) == sorted(_kernels.key_hashes(written))


def test_rows_already_stored_are_dropped_and_new_ones_kept(tmp_path: Path) -> None:
    old, new = rows(400, seed=1, repeats=0), rows(400, seed=2, repeats=0)
    _, part = finish(old, tmp_path, [], "old")
    batch = pa.concat_tables([old.slice(0, 100), new])
    written, again = finish(batch, tmp_path, [part], "new")
    assert written == len(new_keys(batch, stored(part))) > 0
    pd.testing.assert_frame_equal(stored(again), new_keys(batch, stored(part)))


def test_a_hash_found_in_a_sidecar_never_drops_a_different_report(tmp_path: Path) -> None:
    old, new = rows(50, seed=1, repeats=0), rows(50, seed=9, repeats=0)
    _, part = finish(old, tmp_path, [], "old")
    # a sidecar claiming every new key: hashes point, the keys themselves decide
    claimed = np.sort(_kernels.key_hashes(_records.from_table(new)))
    _partitions._write_sidecar(_partitions.keys_path(part), part, claimed)
    written, again = finish(new, tmp_path, [part], "new")
    assert written == len(new_keys(new, stored(part))) > 0
    pd.testing.assert_frame_equal(stored(again), new_keys(new, stored(part)))


def test_a_stored_part_without_a_sidecar_is_read_for_its_keys(tmp_path: Path) -> None:
    old = rows(200, seed=4, repeats=0)
    _, part = finish(old, tmp_path, [], "old")
    _partitions.keys_path(part).unlink()  # as written before sidecars existed
    written, _ = finish(old, tmp_path, [part], "again")
    assert written == 0


DAMAGES = [
    "empty",
    "one byte short",
    "half",
    "reversed",
    "random bytes",
    "zeros",
    "all ones",
    "sorted random keys",
    "another part's",
    "second half flattened",
]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_sidecar_is_replaced_by_the_parts_keys(tmp_path: Path, damage: str) -> None:
    old = rows(300, seed=6, repeats=0)
    _, part = finish(old, tmp_path, [], "old")
    _, other = finish(rows(300, seed=7, repeats=0), tmp_path, [], "other")
    sidecar = _partitions.keys_path(part)
    whole = sidecar.read_bytes()
    header, keys = np.frombuffer(whole[:32], "<u8"), np.frombuffer(whole[32:], "<u8")
    random_keys = np.sort(np.random.default_rng(0).integers(0, 2**63, len(keys), dtype=np.uint64))
    flattened = np.concatenate([keys[: len(keys) // 2], np.full(len(keys) - len(keys) // 2, keys[len(keys) // 2])])
    damaged = {
        "empty": b"",
        "one byte short": whole[:-1],
        "half": whole[: len(whole) // 2],
        "reversed": whole[::-1],
        "random bytes": np.random.default_rng(0).integers(0, 255, len(whole), dtype=np.uint8).tobytes(),
        "zeros": bytes(len(whole)),
        "all ones": b"\xff" * len(whole),
        "sorted random keys": header.tobytes() + random_keys.tobytes(),
        "another part's": _partitions.keys_path(other).read_bytes(),
        "second half flattened": header.tobytes() + flattened.astype("<u8").tobytes(),
    }[damage]
    sidecar.write_bytes(damaged)
    written, _ = finish(old, tmp_path, [part], "again")
    assert written == 0  # every row is already stored: none is stored twice


def test_two_reports_with_one_hash_are_both_stored(tmp_path: Path) -> None:
    """A real 64-bit collision, crafted: the hash only finds candidates, the keys decide."""
    first, second = colliding_reports()
    (one,) = (_kernels.key_hashes(_records.from_table(t)) for t in [pa.concat_tables([first, second])])
    assert one[0] == one[1]
    seeded = _kernels.key_hashes(_records.from_table(pa.concat_tables([first, second])), np.uint64(2**63 + 12345))
    assert seeded[0] != seeded[1]  # the hash table's secret seed undoes a collision crafted for seed 0
    _, part = finish(first, tmp_path, [], "first")
    written, _ = finish(second, tmp_path, [part], "second")
    assert written == 1
    together, _ = finish(pa.concat_tables([first, second]), tmp_path, [], "together")
    assert together == 2


def colliding_reports() -> tuple[pa.Table, pa.Table]:
    """Two reports whose keys differ and hash alike (a birthday search on the fold of the hash)."""
    fold = np.uint64(0x9E3779B97F4A7C15)
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
    prefix = b"COLLIDE-" * 2
    low, high = np.frombuffer(prefix, "<u8")
    tails = alphabet[np.random.default_rng(1).integers(0, len(alphabet), (1 << 20, 8))]
    with np.errstate(over="ignore"):
        h = (((np.uint64(0x243F6A8885A308D3) ^ low) * fold) ^ high) * fold
        state = (h ^ tails.copy().view("<u8").ravel()) * fold
    top = state >> np.uint64(35)
    order = np.argsort(top, kind="stable")
    mobile = 13800138000
    for i in np.flatnonzero(top[order][1:] == top[order][:-1]):
        a, b = order[i], order[i + 1]
        other = int(state[a] ^ state[b]) ^ mobile  # the mobile word that cancels the difference
        if 13_000_000_000 <= other <= 19_999_999_999:
            break
    else:
        raise AssertionError("no collision found")
    return tuple(
        pa.table(
            {
                "msgid": [(prefix + bytes(tails[k])).decode()],
                "mobile": [str(m)],
                "status": ["DELIVRD"],
                "report_time": pa.array([int(DAY)], _records.ROW_SCHEMA.field("report_time").type),
                "received_at": pa.array([None], _records.ROW_SCHEMA.field("received_at").type),
            },
            schema=_records.ROW_SCHEMA,
        )
        for k, m in ((a, mobile), (b, other))
    )


def test_stored_keys_are_checked_a_row_group_at_a_time_across_many_groups(tmp_path: Path) -> None:
    count = 150_000  # over two row groups of 64 Ki rows, and two slices
    times = DAY + np.arange(count, dtype=np.int64) * 500_000
    table = pa.table(
        {
            "msgid": pa.array(np.arange(count).astype(str)),
            "mobile": pa.array(np.full(count, "13800138000")),
            "status": pa.array(np.full(count, "DELIVRD")),
            "report_time": pa.array(times, _records.ROW_SCHEMA.field("report_time").type),
            "received_at": pa.array(times, _records.ROW_SCHEMA.field("received_at").type),
        },
        schema=_records.ROW_SCHEMA,
    )
    _, part = finish(table, tmp_path, [], "old")
    assert pq.ParquetFile(part).num_row_groups >= 3
    again = pa.concat_tables([table.slice(0, 10), table.slice(70_000, 10), table.slice(count - 10)])
    fresh = table.slice(0, 30).set_column(1, "mobile", pa.array(np.full(30, "13900139000")))
    written, new_part = finish(pa.concat_tables([again, fresh]), tmp_path, [part], "new")
    assert written == 30
    assert set(pq.read_table(new_part).column("mobile").to_pylist()) == {"13900139000"}
