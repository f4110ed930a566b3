"""Write the sample data in this folder (run from the repository root; the output is committed).

    .venv/bin/python data/make_sample.py

* ``campaign.xlsx``: 2,000 customers (phone, name, order_id, city, amount) as an
  export from a shop system: phones as numbers, as floats, as text written
  every way people write them, some broken (see smsdata.demo.demo_customers).
* ``reports/gateway-export-2026-11-20.log``: raw delivery reports as another
  logger saved them (bare ``Report=`` lines in every shape seen in the wild,
  and broken ones); ``reports/receiver/reports-2026-11-21.log``: as
  ``smsdata receive`` writes them (receive time, tab, report).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_plus

import numpy as np
import pandas as pd
from openpyxl import Workbook

from smsdata.demo import demo_customers

HERE = Path(__file__).resolve().parent


def write_campaign(path: Path) -> None:
    customers = demo_customers()
    book = Workbook()
    sheet = book.active
    sheet.title = "customers"
    sheet.append(list(customers.columns))
    for i, row in enumerate(customers.itertuples(index=False)):
        phone = row.phone if isinstance(row.phone, str) else None
        name = row.name if isinstance(row.name, str) else None
        if phone and phone.isascii() and phone.isdigit() and i % 2:
            phone = int(phone)  # a number cell, as Excel stores a typed-in mobile
        elif phone and phone.endswith(".0") and phone[:-2].isdigit():
            phone = float(phone)  # a float cell
        sheet.append([phone, name, row.order_id, row.city, float(row.amount)])
    book.save(path)


def report_lines(rng: np.random.Generator, count: int, start: str) -> list[tuple[str, str, str, pd.Timestamp]]:
    base = pd.Timestamp(start, tz="Asia/Shanghai")
    rows = []
    for i in range(count):
        msgid = str(1_795_000_000_000 + i // 20)
        mobile = f"1{rng.choice([38, 39, 50, 86, 77, 99])}{rng.integers(0, 10**8):08d}"
        status = rng.choice(["DELIVRD"] * 8 + ["UNDELIV", "EXPIRED", "MK:0001", "UNKNOWN"])
        when = base + pd.Timedelta(seconds=int(i * 17 + rng.integers(0, 60)))
        rows.append((msgid, mobile, str(status), when))
    return rows


def write_gateway_export(path: Path, rng: np.random.Generator) -> None:
    out = []
    for k, (msgid, mobile, status, when) in enumerate(report_lines(rng, 300, "2026-11-20 09:00")):
        local = when.strftime("%Y-%m-%d %H:%M:%S")
        shapes = [
            f"Report={msgid},{mobile},{status},{local}",
            f"Report={msgid}, {mobile}, {status}, {local}",
            f"report={msgid},+86{mobile},{status.lower()},{local.replace('-', '/')}",
            f"{msgid},0086{mobile},{status},{when.strftime('%Y%m%d%H%M%S')}",
            f"Report={msgid},{mobile},{status},{when.isoformat()}",
            f"Report={msgid},{mobile},{status},{int(when.timestamp())}",
            f"Report={msgid},{mobile},{status},{int(when.timestamp() * 1000)}",
            "Report=" + quote_plus(f"{msgid},{mobile},{status},{local}"),
        ]
        out.append(shapes[k % len(shapes)])
        if k % 25 == 0:
            out.append(out[-1])  # the gateway repeats itself
    out[5:5] = [
        "Report=1795000000001,13800138000,DELIVRD",  # three fields
        "Report=1795000000001,13800138000,DELIVRD,2026-11-20 09:00:00,extra",  # five fields
        "Report=1795000000001,13800138000,DELIVRD,2026-02-30 09:00:00",  # impossible date
        "Report=1795000000001,1380013800O,DELIVRD,2026-11-20 09:00:00",  # letter O for a zero
        "Report=1795000000001,1380013,DELIVRD,2026-11-20 09:00:00",  # too short
        "Report=,13800138000,DELIVRD,2026-11-20 09:00:00",  # empty msgid
        "Report=1795000000001,13800138000,,2026-11-20 09:00:00",  # empty status
        "",  # an empty line
    ]
    body = ("\ufeff" + "\r\n".join(out) + "\r\n").encode("utf-8")
    path.write_bytes(body + b"\x00\xff\xfe binary garbage\r\n")


def write_receiver_log(path: Path, rng: np.random.Generator) -> None:
    lines = []
    for msgid, mobile, status, when in report_lines(rng, 200, "2026-11-21 10:00"):
        received = (when + pd.Timedelta(seconds=2)).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines.append(f"{received}\tReport={msgid},{mobile},{status},{when.strftime('%Y-%m-%d %H:%M:%S')}")
    lines.append(lines[-1].split("\t")[0] + "\t")  # an empty POST
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = np.random.default_rng(7)
    write_campaign(HERE / "campaign.xlsx")
    (HERE / "reports" / "receiver").mkdir(parents=True, exist_ok=True)
    write_gateway_export(HERE / "reports" / "gateway-export-2026-11-20.log", rng)
    write_receiver_log(HERE / "reports" / "receiver" / "reports-2026-11-21.log", rng)
    written = [str(p.relative_to(HERE)) for p in sorted(HERE.rglob("*")) if p.is_file() and p.suffix != ".py"]
    print("wrote " + ", ".join(written))


if __name__ == "__main__":
    main()
