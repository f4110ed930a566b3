"""The report from the warehouse (paths, read out of core) and from Spark equals the report from frames."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import smsdata as sms
from tests import scenarios
from tests.test_kpi_engines import _write
from tests.test_report import ledger  # noqa: F401 (the fixture)

AS_OF = "2026-11-05"


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    sends, reports = scenarios.campaigns(3, days=2, per_campaign=200)
    sends["who"] = sends["mobile"]
    sends.loc[sends.index[1], "who"] = "13800000000"  # masks like 13800000000's twin below
    sends.loc[sends.index[2], "who"] = "13899990000"
    sends["wave"] = sends.index % 12 + 1  # numbers that are no phone numbers: 10 sorts after 2
    unknown = sends.iloc[[5]].assign(msgid=None, state="unknown", request_id=-1)
    return pd.concat([sends, unknown], ignore_index=True), reports


def _text(path: Path) -> str:
    """The page without its pictures (the same numbers draw the same, but PNG bytes are no contract)."""
    return re.sub(r"src='data:image/png;base64,[^']*'", "src=''", path.read_text(encoding="utf-8"))


CASES = {
    "all": {},
    "one campaign": {"campaigns": ["2026-11-campaign-02"]},
    "numbers as groups": {"by": "who"},
    "unmasked by city": {"by": "city", "mask": False},
    "numeric groups": {"by": "wave"},
}


@pytest.mark.slow
@pytest.mark.parametrize("options", list(CASES.values()), ids=list(CASES))
def test_the_report_from_warehouse_paths_equals_the_report_from_frames(options, ledger, tmp_path: Path) -> None:  # noqa: F811
    sends, reports = _data()
    paths = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    common = {"ledger": ledger, "as_of": AS_OF, **options}
    want = _text(sms.build_report(tmp_path / "frames.html", sends=sends, reports=reports, **common))
    got = _text(sms.build_report(tmp_path / "paths.html", sends=paths[0], reports=paths[1], **common))
    assert got == want
    if options.get("by") == "who":
        assert "138****0000 #2" in got
        assert not re.search(r"138\d{8}", got)


@pytest.mark.spark
def test_the_report_on_spark_equals_the_report_from_frames(ledger, spark, tmp_path: Path) -> None:  # noqa: F811
    sends, reports = _data()
    on_spark = [spark.createDataFrame(pa.Table.from_pandas(f, preserve_index=False)) for f in (sends, reports)]
    common = {"ledger": ledger, "as_of": AS_OF, "campaigns": ["2026-11-campaign-01"], "by": "who"}
    want = _text(sms.build_report(tmp_path / "frames.html", sends=sends, reports=reports, **common))
    got = _text(sms.build_report(tmp_path / "spark.html", sends=on_spark[0], reports=on_spark[1], **common))
    assert got == want
    assert "138****0000 #2" in got
