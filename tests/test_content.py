"""Templates, lengths and segments."""

import pandas as pd
import pytest

from smsdata.content import count_segments, render_template, template_fields
from smsdata.errors import SmsdataError


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 0), (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (268, 4)],
)
def test_segments(length: int, segments: int) -> None:
    assert count_segments(length) == segments
    assert count_segments(pd.Series([length])).tolist() == [segments]


def test_segments_configurable() -> None:
    assert count_segments(pd.Series([160, 161]), single_segment=160, multi_segment=153).tolist() == [1, 2]
    with pytest.raises(ValueError, match="multi_segment <= single_segment"):
        count_segments(5, single_segment=60, multi_segment=70)


def test_render_template_vectorised() -> None:
    df = pd.DataFrame({"name": ["李雷", "Ann", "", None], "n": [3.0, 12.5, 1.0, 2.0]})
    content, complete = render_template(df, "【店】{name} has {n} item(s) {{ok}}")
    assert content.tolist()[:2] == ["【店】李雷 has 3 item(s) {ok}", "【店】Ann has 12.5 item(s) {ok}"]
    assert content.isna().tolist() == [False, False, True, True]
    assert complete.tolist() == [True, True, False, False]


def test_missing_column_named_before_anything() -> None:
    with pytest.raises(SmsdataError, match=r"column\(s\) \['order_id'\]"):
        render_template(pd.DataFrame({"name": ["a"]}), "Hi {name} {order_id}")


@pytest.mark.parametrize("template", ["Hi {name:>10}", "Hi {name!r}", "Hi {0}", "Hi {}", "Hi {a.b}", "Hi {name"])
def test_unsupported_templates_are_refused(template: str) -> None:
    with pytest.raises(SmsdataError):
        template_fields(template)
