"""What the final statuses mean: their order, their colour in every chart and table, their glossary.

One place so the charts and the report agree: delivered is green, every
failure a warm colour, pending grey, in that order (delivered, failures most
frequent first, then what is still waiting).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from .kpi import PENDING

DELIVERED = "DELIVRD"
OTHER = "other"

_DELIVERED_COLOUR = "#2e7d32"  # green
_PENDING_COLOUR = "#9e9e9e"  # grey
_OTHER_COLOUR = "#bcaaa4"  # warm grey: failures too few to name
# Warm colours for the other failure codes, in order of frequency: apart from the known codes'
# colours and from each other, none green or grey.
_FAILURE_COLOURS = ["#ad1457", "#ffb74d", "#6d4c41", "#ff8a65", "#880e4f", "#fdd835"]
# Known codes keep their colour whatever their rank, so a report's charts agree with each other.
_KNOWN = {"UNDELIV": "#e65100", "REJECTD": "#c62828", "EXPIRED": "#f9a825", "UNKNOWN": "#8d3a0f"}

GLOSSARY = {
    DELIVERED: "delivered to the handset (the carrier's receipt)",
    "UNDELIV": "undeliverable: the carrier could not deliver it (number off, out of service or blocked)",
    "EXPIRED": "the carrier gave up after its retry period (handset off or out of coverage too long)",
    "REJECTD": "rejected by the carrier (number refused, blacklisted, or the content not accepted)",
    "UNKNOWN": "the carrier does not know the outcome",
    "DELETED": "deleted by the carrier before delivery",
    PENDING: "no report yet",
    OTHER: "the less frequent failure codes, together",
}
_PREFIXED = re.compile(r"^([A-Z]{2}):\w+$")
_PREFIX_GLOSSARY = (
    "a carrier's own error code ({prefix}:xxxx, from the SMS centre or gateway); ask the gateway for its table"
)


def keep_top(breakdown: pd.DataFrame, top: int) -> tuple[pd.Series, dict[str, int]]:
    """:func:`smsdata.status_breakdown`'s statuses with all but the ``top`` most frequent (delivered
    and pending first) summed as ``other``, and the count of each status over all groups."""
    totals = breakdown.groupby("status")["count"].sum().sort_values(ascending=False)
    named = [s for s in dict.fromkeys([DELIVERED, PENDING, *totals.index]) if s in totals.index][:top]
    return breakdown["status"].where(breakdown["status"].isin(named), OTHER), totals.to_dict()


def meaning(status: str) -> str:
    """``"delivered"``, ``"pending"`` or ``"failed"``."""
    if status == DELIVERED:
        return "delivered"
    if status == PENDING:
        return "pending"
    return "failed"


def ordered(statuses: Iterable[str], counts: dict[str, int] | None = None) -> list[str]:
    """``statuses`` by meaning: delivered, failures (most frequent first, ``other`` last), pending."""
    counts = counts or {}
    unique = list(dict.fromkeys(statuses))
    failures = sorted(
        (s for s in unique if meaning(s) == "failed" and s != OTHER), key=lambda s: (-counts.get(s, 0), s)
    )
    return (
        [s for s in unique if s == DELIVERED]
        + failures
        + [s for s in unique if s == OTHER]
        + [s for s in unique if s == PENDING]
    )


def colours(statuses: Iterable[str]) -> dict[str, str]:
    """A colour per status (hex), by meaning; failures take warm colours in their order."""
    spare = iter(_FAILURE_COLOURS * 8)
    out = {}
    for status in statuses:
        if status == DELIVERED:
            out[status] = _DELIVERED_COLOUR
        elif status == PENDING:
            out[status] = _PENDING_COLOUR
        elif status == OTHER:
            out[status] = _OTHER_COLOUR
        else:
            out[status] = _KNOWN.get(status) or next(spare)
    return out


def glossary(statuses: Iterable[str]) -> dict[str, str]:
    """What each status seen means, in the order given; carriers' prefixed codes explained by family."""
    out = {}
    for status in statuses:
        if status in GLOSSARY:
            out[status] = GLOSSARY[status]
        elif match := _PREFIXED.match(status):
            out[f"{match.group(1)}:xxxx"] = _PREFIX_GLOSSARY.format(prefix=match.group(1))
        else:
            out[status] = "a carrier status outside the common set"
    return out
