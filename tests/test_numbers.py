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
        pytest.param("13800138000.5", None, "not_integer", id="fraction"),
        pytest.param("1380013800.8", None, "not_integer", id="fraction-of-10-digits"),
        pytest.param("13800138000.0", "13800138000", None, id="float-tail"),
        pytest.param("138\u20130013\u20138000", "13800138000", None, id="en-dash"),
        pytest.param("138\u20140013\u20148000", "13800138000", None, id="em-dash"),
        pytest.param("138\u22120013\u22128000", "13800138000", None, id="minus-sign"),
        pytest.param("tel:+86-138-0013-8000", "13800138000", None, id="tel-uri"),
        pytest.param("TEL:13800138000", "13800138000", None, id="tel-upper"),
        pytest.param("14012345678", None, "not_mobile_range", id="iot-140"),
        pytest.param("14612345678", None, "not_mobile_range", id="iot-146"),
        pytest.param("14912345678", None, "not_mobile_range", id="149"),
        pytest.param("15412345678", None, "not_mobile_range", id="unallocated-154"),
        pytest.param("16012345678", None, "not_mobile_range", id="unallocated-160"),
        pytest.param("17412345678", None, "not_mobile_range", id="satellite-174"),
        pytest.param("17912345678", None, "not_mobile_range", id="179"),
        pytest.param("19412345678", None, "not_mobile_range", id="194"),
        pytest.param("14512345678", "14512345678", None, id="data-145-is-mobile"),
        pytest.param("17400012345", "17400012345", None, id="1740-0-is-mobile"),
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
    out = normalise_mobiles(pd.Series([dashed, number]), any_mobile_range=True)
    assert out["mobile"].tolist() == [number, number]


def test_validity_and_carrier_come_from_the_same_data() -> None:
    # Every 4-digit prefix 1300-1999, three numbers each: accepted exactly when
    # libphonenumber calls it mobile, and then always with a carrier.
    import phonenumbers

    numbers = pd.Series([f"{p}{s}" for p in range(1300, 2000) for s in ("0000000", "3456789", "9999999")])
    out = normalise_mobiles(numbers)
    kinds = [phonenumbers.number_type(phonenumbers.parse("+86" + n)) for n in numbers]
    mobile = pd.Series([k == phonenumbers.PhoneNumberType.MOBILE for k in kinds])
    assert out["mobile"].notna().tolist() == mobile.tolist()
    assert set(out.loc[~mobile, "reason"]) == {"not_mobile_range"}
    assert not carrier_of(out["mobile"].dropna()).eq("unknown").any()
    assert normalise_mobiles(numbers, any_mobile_range=True)["mobile"].notna().all()


def test_carriers_by_prefix() -> None:
    numbers = pd.Series(
        ["13800138000", "18600001111", "13312345678", "19200000000", "17040000000", "16212345678", "14012345678"]
    )
    assert carrier_of(numbers).tolist() == [
        "China Mobile",
        "China Unicom",
        "China Telecom",
        "China Broadnet",
        "China Unicom (virtual)",
        "China Telecom (virtual)",
        "unknown",
    ]
