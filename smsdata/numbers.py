"""Chinese mobile numbers: vectorised cleaning with a reason for each rejection, and carriers.

A valid number is 11 digits in a range that libphonenumber lists as a Chinese
mobile range; :func:`carrier_of` names its carrier from the same library's
data, so every number accepted has a carrier. Cleaning undoes what
spreadsheets and people do to numbers: spaces, dashes (also en and em dashes,
the minus sign), dots, slashes, brackets, non-breaking spaces, full-width
digits, a ``tel:`` prefix, ``+86`` / ``0086`` / ``86`` prefixes, and the
``.0`` a float leaves behind. It never guesses: text in scientific notation
(``1.38E+10``) or with a fraction (``1380013800.8``) has lost digits and is
rejected, not rounded.

Rejection reasons (``reason`` column):

=======================  =====================================================
``missing``              no value
``scientific_notation``  written as ``1.38E+10``: the digits are gone
``not_integer``          a number with a fraction (``1380013800.8``): digits are gone
``not_digits``           letters or other characters remain after cleaning
``wrong_length``         not 11 digits after removing a country prefix
``not_mobile_prefix``    11 digits that do not start with 13-19
``not_mobile_range``     ``1[3-9]`` but not a mobile range by libphonenumber (IoT
                         data-only 140-144, 146, 148; satellite and maritime 1740[6-9],
                         1741-1749, 149; unallocated 154, 160, 179, 194...)
=======================  =====================================================
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._checks import series_of
from ._renamed import renamed

__all__ = ["REASONS", "carrier_of", "normalise_mobiles"]

REASONS = (
    "missing",
    "scientific_notation",
    "not_integer",
    "not_digits",
    "wrong_length",
    "not_mobile_prefix",
    "not_mobile_range",
)

# Whitespace and dashes spelled out as literal characters, not \\s or \\u escapes: pandas
# keeps a pattern without them on Arrow's vectorised RE2 kernels instead of Python per value.
_SEPARATORS = "[ \t\r\n\v\f\u00a0\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\\-.()\\[\\]/_]"
_TEL = r"^[tT][eE][lL]:"
_SCIENTIFIC = r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$"
_FLOAT_TAIL = r"\d+\.0+"
_FRACTION = r"\d+\.\d*[1-9]\d*"
_PREFIX = r"(?:\+|00)?861\d{10}"
_MOBILE = r"^1[3-9]\d{9}$"
_VIRTUAL_PREFIXES = ("162", "165", "167", "170", "171")


@renamed(values="mobiles", any_range="any_mobile_range")
def normalise_mobiles(mobiles: pd.Series | Sequence[object], *, any_mobile_range: bool = False) -> pd.DataFrame:
    """Clean a Series of phone numbers to 11-digit Chinese mobiles, vectorised.

    Args:
        mobiles: phone numbers as text (or anything; it is converted to text first): a
            Series, or a list, tuple or array of them.
        any_mobile_range: accept every ``1[3-9]`` number of 11 digits, also ranges libphonenumber
            does not list as mobile (``not_mobile_range``), for gateways that take them.
            The same option as :func:`smsdata.plan_campaign`'s.

    Returns:
        A DataFrame on the same index with ``mobile`` (the clean number, or
        missing where rejected) and ``reason`` (missing where accepted, else
        one of :data:`REASONS`). A bad value gets its reason.

    Raises:
        TypeError: ``mobiles`` is one value (``None``, a string), not a sequence of them.

    >>> normalised = normalise_mobiles(pd.Series(["+86 138-0013-8000", "1.38E+10", "１３９１２３４５６７８"]))
    >>> normalised.fillna("-").values.tolist()
    [['13800138000', '-'], ['-', 'scientific_notation'], ['13912345678', '-']]
    """
    mobiles = series_of(mobiles, "mobiles")
    text = mobiles.astype("str").where(mobiles.notna(), "")
    wide = text.str.contains(r"[^\x00-\x7f]", regex=True).astype(bool)  # Series.str.isascii is pandas 3 only
    if wide.any():  # NFKC (full-width digits) runs per value: only where it can matter
        text = text.mask(wide, text[wide].str.normalize("NFKC"))
    text = text.str.strip().str.replace(_TEL, "", regex=True)
    missing = text.eq("")
    scientific = text.str.match(_SCIENTIFIC)
    fraction = text.str.fullmatch(_FRACTION)
    # Masks and slices rather than back-references: those keep pandas on Arrow's
    # vectorised kernels (a "\\1" replacement falls back to Python per value).
    cleaned = text.mask(text.str.fullmatch(_FLOAT_TAIL), text.str.replace(r"\.0+$", "", regex=True))
    cleaned = cleaned.str.replace(_SEPARATORS, "", regex=True)
    cleaned = cleaned.mask(cleaned.str.fullmatch(_PREFIX), cleaned.str.slice(-11))
    digits = cleaned.str.fullmatch(r"\d+")
    shaped = cleaned.str.fullmatch(_MOBILE)
    valid = shaped if any_mobile_range else shaped & cleaned.str.fullmatch(_mobile_ranges())
    valid = valid & ~fraction

    reason = pd.Series(pd.NA, index=mobiles.index, dtype="str")
    reason = reason.mask(~shaped & ~digits, "not_digits")
    reason = reason.mask(~shaped & digits & cleaned.str.len().ne(11), "wrong_length")
    reason = reason.mask(~shaped & digits & cleaned.str.len().eq(11), "not_mobile_prefix")
    reason = reason.mask(shaped & ~valid, "not_mobile_range")
    reason = reason.mask(fraction, "not_integer")
    reason = reason.mask(scientific, "scientific_notation")
    reason = reason.mask(missing, "missing")
    mobile = cleaned.where(valid.astype(bool), pd.NA)
    return pd.DataFrame({"mobile": mobile, "reason": reason}, index=mobiles.index)


def carrier_of(mobiles: pd.Series | Sequence[object]) -> pd.Series:
    """The carrier of each clean 11-digit mobile, from its prefix via ``phonenumbers``' data.

    ``China Mobile``, ``China Unicom``, ``China Telecom``, ``China Broadnet``;
    ranges leased to virtual operators (162, 165, 167, 170, 171) get
    `` (virtual)`` after their host network; an unallocated range gives ``unknown``.
    Longest-prefix match, done once per distinct prefix, not per row.

    Returns:
        A Series named ``carrier`` on the same index: a value that is not a mobile
        (missing, a landline) gives ``unknown``.

    Raises:
        TypeError: ``mobiles`` is one value, not a Series or list of them.

    >>> carrier_of(pd.Series(["13800138000", "17040000000"])).tolist()
    ['China Mobile', 'China Unicom (virtual)']
    """
    table = _china_carriers()
    longest = max(map(len, table))
    mobiles = series_of(mobiles, "mobiles")
    codes, prefixes = pd.factorize(mobiles.astype("str").str.slice(0, longest))
    names = np.array([_longest_match(p, table) for p in prefixes] + ["unknown"], dtype=object)
    return pd.Series(names[codes], index=mobiles.index, dtype="str", name="carrier")


def _longest_match(prefix: str, table: dict[str, str]) -> str:
    for end in range(len(prefix), 0, -1):
        if prefix[:end] in table:
            return table[prefix[:end]]
    return "unknown"


@functools.cache
def _mobile_ranges() -> str:
    """libphonenumber's pattern of Chinese mobile numbers (national, 11 digits)."""
    from phonenumbers import PhoneMetadata

    metadata = PhoneMetadata.metadata_for_region("CN")
    return f"(?:{metadata.mobile.national_number_pattern})"


# Names older libphonenumber data gives (phonenumbers < 9.0.x wrote "CBN" for China Broadnet).
_RENAMED = {"CBN": "China Broadnet"}


@functools.cache
def _china_carriers() -> dict[str, str]:
    """Mobile prefixes (without 86) -> carrier, from libphonenumber's carrier data."""
    from phonenumbers.carrierdata import CARRIER_DATA

    carriers = {
        key[2:]: _RENAMED.get(names["en"], names["en"])
        for key, names in CARRIER_DATA.items()
        if key.startswith("861") and names.get("en")
    }
    # Ranges libphonenumber lists as mobile but names no carrier for (MIIT allocations).
    carriers = {"162": "China Telecom", "165": "China Mobile", "1349": "China Satcom"} | carriers
    return {
        prefix: f"{name} (virtual)" if prefix.startswith(_VIRTUAL_PREFIXES) else name
        for prefix, name in carriers.items()
    }
