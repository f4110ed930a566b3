"""Mobile-number cleaning and carriers."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsdata.numbers import REASONS, carrier_of, normalise_mobiles


@pytest.mark.parametrize(
    ("raw", "mobile", "reason"),
    [
        pytest.param("13800138000", "13800138000", None, id="plain"),
        pytest.param("+86 138-0013-8000", "13800138000", None, id="plus86-dashes"),
        pytest.param("0086 13800138000", "13800138000", None, id="0086"),
        pytest.param("8613800138000", "13800138000", None, id="86"),
        pytest.param("(138) 0013.8000", "13800138000", None, id="brackets-dots"),
        pytest.param("１３８００１３８０００", "13800138000", None, id="full-width"),
        pytest.param("\u00a013800138000\u3000", "13800138000", None, id="odd-spaces"),
        pytest.param("13800138000.0", "13800138000", None, id="float-text"),
        pytest.param(13800138000, "13800138000", None, id="int"),
        pytest.param("1.38001E+10", None, "scientific_notation", id="scientific"),
        pytest.param("1.3800138e10", None, "scientific_notation", id="scientific-lower"),
        pytest.param(None, None, "missing", id="none"),
        pytest.param("  ", None, "missing", id="blank"),
        pytest.param("138001380", None, "wrong_length", id="short"),
        pytest.param("138001380001", None, "wrong_length", id="long"),
        pytest.param("12800138000", None, "not_mobile_prefix", id="12x"),
        pytest.param("021 6234 5678", None, "not_mobile_prefix", id="landline"),
        pytest.param("021 6234 567", None, "wrong_length", id="short-landline"),
        pytest.param("1380013800O", None, "not_digits", id="letter-O"),
        pytest.param("13800138000.5", None, "wrong_length", id="fraction"),
    ],
)
def test_normalise(raw, mobile, reason) -> None:
    out = normalise_mobiles(pd.Series([raw], dtype=object))
    got_mobile = out["mobile"].iloc[0]
    got_reason = out["reason"].iloc[0]
    assert (None if pd.isna(got_mobile) else got_mobile) == mobile
    assert (None if pd.isna(got_reason) else got_reason) == reason


@given(st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.floats()), max_size=30))
def test_every_value_is_a_mobile_or_has_a_reason(values) -> None:
    out = normalise_mobiles(pd.Series(values, dtype=object))
    assert len(out) == len(values)
    has_mobile = out["mobile"].notna()
    assert (has_mobile ^ out["reason"].notna()).all()
    assert out["mobile"][has_mobile].str.fullmatch(r"1[3-9]\d{9}").all()
    assert set(out["reason"].dropna()) <= set(REASONS)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86", "0086", "86", "+86 "]))
def test_valid_numbers_survive_any_prefix_and_separators(number: str, prefix: str) -> None:
    dashed = f"{prefix}{number[:3]}-{number[3:7]}-{number[7:]}"
    out = normalise_mobiles(pd.Series([dashed, number]))
    assert out["mobile"].tolist() == [number, number]


def test_carriers_by_prefix() -> None:
    numbers = pd.Series(["13800138000", "18600001111", "13312345678", "19200000000", "17040000000", "16212345678"])
    assert carrier_of(numbers).tolist() == [
        "China Mobile",
        "China Unicom",
        "China Telecom",
        "China Broadnet",
        "China Unicom (virtual)",
        "unknown",
    ]
