"""Generate a raw delivery-report log like the receiver writes, with dirty shapes mixed in.

Most lines are the receiver's own (``<received>\\tReport=msgid,mobile,status,time``);
``dirty`` of them (1% by default) take one of the shapes seen in the wild or are
broken, and about 1% of the reports are repeated, as gateways do.

    .venv/bin/python bench/report_log.py OUT.log --lines 10000000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DIRTY = (
    "Report={msgid}, {mobile}, {status}, {time}",  # spaces after commas
    "report={msgid},+86{mobile},{lower},{time}",  # lower case, +86
    "{msgid},0086{mobile},{status},{slashed}\r",  # no prefix, CRLF, slashes
    "Report={msgid},{mobile},{status},{compact}",
    "Report={msgid},{mobile},{status},{iso}",
    "Report={msgid},{mobile},{status},{unix}",
    "Report%3D{msgid}%2C{mobile}%2C{status}%2C{encoded}",  # URL-encoded
    "Report={msgid},{mobile},{status}",  # three fields
    "Report={msgid},{mobile},{status},{time},extra",  # five fields
    "Report={msgid},{mobile},{status},2026-02-30 10:00:00",  # impossible date
    "Report={msgid},1380013800x,{status},{time}",
    "Report=,{mobile},{status},{time}",
    "\x00\x07garbage\x7f",
    "\udcff\udcfe{msgid}\udc80",  # not UTF-8
)


def lines(count: int, *, dirty: float = 0.01, seed: int = 0, start: str = "2026-11-01") -> pd.Series:
    """``count`` report lines (without line breaks) as a Series of str."""
    rng = np.random.default_rng(seed)
    msgid = pd.Series((1_790_000_000_000 + rng.integers(0, count // 500 + 1, count)).astype(str))
    mobile = pd.Series(rng.integers(13_000_000_000, 19_999_999_999, count).astype(str))
    status = pd.Series(rng.choice(["DELIVRD"] * 8 + ["UNDELIV", "EXPIRED", "REJECTD", "MK:0001"], count))
    offset = pd.to_timedelta(rng.integers(0, 30 * 86400, count), unit="s")
    sent = pd.Series(pd.Timestamp(start, tz="Asia/Shanghai") + offset)
    when = sent + pd.to_timedelta(rng.lognormal(2.5, 1.0, count).astype(int), unit="s")
    received = (when + pd.Timedelta(seconds=1)).dt.tz_convert("UTC")
    text = when.dt.strftime("%Y-%m-%d %H:%M:%S")
    line = received.dt.strftime("%Y-%m-%dT%H:%M:%S.000000Z") + "\tReport=" + msgid + "," + mobile + ","
    line = line + status + "," + text
    repeat = rng.random(count) < 0.01
    line[repeat] = line.shift(1, fill_value=line.iloc[0])[repeat]
    line = line.astype(object)  # the non-UTF-8 shape needs lone surrogates
    shape = np.where(rng.random(count) < dirty, rng.integers(0, len(DIRTY), count), -1)
    for k, template in enumerate(DIRTY):
        at = np.flatnonzero(shape == k)
        if len(at):
            line.iloc[at] = [_dirty(template, msgid.iloc[i], mobile.iloc[i], status.iloc[i], when.iloc[i]) for i in at]
    return line


def _dirty(template: str, msgid: str, mobile: str, status: str, when: pd.Timestamp) -> str:
    local = when.strftime("%Y-%m-%d %H:%M:%S")
    return template.format(
        msgid=msgid,
        mobile=mobile,
        status=status,
        lower=status.lower(),
        time=local,
        slashed=local.replace("-", "/"),
        compact=when.strftime("%Y%m%d%H%M%S"),
        iso=when.isoformat(),
        unix=int(when.timestamp()),
        encoded=local.replace(" ", "+").replace(":", "%3A"),
    )


def write(path: Path, count: int, *, dirty: float = 0.01, seed: int = 0, batch: int = 1_000_000) -> int:
    """Write ``count`` lines to ``path`` in batches; returns the file's size in bytes."""
    with path.open("wb") as out:
        for first in range(0, count, batch):
            part = lines(min(batch, count - first), dirty=dirty, seed=seed + first)
            out.write(("\n".join(part) + "\n").encode("utf-8", "surrogateescape"))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--dirty", type=float, default=0.01)
    args = parser.parse_args()
    size = write(args.out, args.lines, dirty=args.dirty)
    print(f"{args.lines:,} lines, {size / 2**20:.0f} MiB -> {args.out}")


if __name__ == "__main__":
    main()
