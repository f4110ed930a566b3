"""Planning a campaign from a DataFrame: clean numbers, render content, group requests.

Planning is pure and vectorised; nothing is sent or recorded. Sending a plan
is :func:`smsdata.campaign.send_campaign`'s job.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._checks import frame_of
from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES, MULTI_SEGMENT, SINGLE_SEGMENT
from ._text import column_text
from .content import count_segments, render_template, template_fields
from .errors import PlanError
from .numbers import carrier_of, normalise_mobiles
from .sheets import source_hint

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["BalanceWarning", "CampaignPlan", "PlanSummary", "plan_campaign"]

_REJECT_REASONS = (
    "invalid_mobile",
    "missing_value",
    "empty_content",
    "content_too_long",
    "control_character",
    "suppressed",
    "duplicate",
)


class BalanceWarning(UserWarning):
    """The balance does not cover the estimated cost of a plan."""


@dataclass(frozen=True)
class PlanSummary:
    """What a plan will do and cost. Cost and balance are in the gateway's units."""

    recipients: int
    rejected: dict[str, int]
    requests: int
    segments: int
    estimated_cost: Decimal
    balance: Decimal | None = None

    @property
    def covered(self) -> bool | None:
        """Whether the balance covers the estimated cost (``None`` without a balance)."""
        return None if self.balance is None else self.balance >= self.estimated_cost

    def to_frame(self) -> pd.DataFrame:
        """The summary as a one-column DataFrame."""
        items: dict[str, object] = {"recipients": self.recipients, "requests": self.requests}
        items |= {f"rejected: {k}": v for k, v in self.rejected.items()}
        items |= {"segments": self.segments, "estimated cost": self.estimated_cost}
        if self.balance is not None:
            items |= {"balance": self.balance, "balance covers cost": self.covered}
        return pd.DataFrame({"value": list(items.values())}, index=list(items))

    def __str__(self) -> str:
        lines = [f"{k:<24} {v}" for k, v in self.to_frame()["value"].items()]
        if self.covered is False:
            lines.append(f"WARNING: balance {self.balance} does not cover the estimated cost {self.estimated_cost}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        warning = (
            f"<p style='color:#b00'><b>Balance {self.balance} does not cover the estimated cost "
            f"{self.estimated_cost}.</b></p>"
            if self.covered is False
            else ""
        )
        return self.to_frame().to_html() + warning


@dataclass(frozen=True)
class CampaignPlan:
    """What :func:`plan_campaign` decided; nothing is sent or recorded yet.

    Attributes:
        recipients: ``row, mobile, carrier, content, segments, request`` (one per message).
        rejected: ``row, value, reason, detail`` (reason: ``invalid_mobile``,
            ``missing_value``, ``empty_content``, ``content_too_long``, ``control_character``,
            ``suppressed`` or ``duplicate``).
        requests: ``request, content, mobiles, recipients, segments`` (identical content
            grouped, at most 5,000 numbers each; ``segments`` per message).
    """

    recipients: pd.DataFrame
    rejected: pd.DataFrame
    requests: pd.DataFrame
    price: Decimal = Decimal(1)
    kept: tuple[str, ...] = ()
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of every request's exact content and numbers, in order."""
        if not self._fingerprint:
            digest = hashlib.sha256()
            for content, mobiles in zip(self.requests["content"], self.requests["mobiles"], strict=True):
                digest.update(f"{len(content)}:{content}\x00{mobiles}\x01".encode())
            self._fingerprint.append(digest.hexdigest())
        return self._fingerprint[0]

    @property
    def segments(self) -> int:
        """Segments the gateway will charge: every message's segments, summed."""
        return int((self.requests["recipients"] * self.requests["segments"]).sum())

    @property
    def estimated_cost(self) -> Decimal:
        """Segments times the price per segment, in balance units."""
        return self.price * self.segments

    def summary(self, gateway: Gateway | None = None) -> PlanSummary:
        """Recipients, rejects by reason, requests, segments, cost, and the balance if a gateway is given.

        Warns with :class:`BalanceWarning` when the balance does not cover the cost.

        Returns:
            A :class:`PlanSummary` (``balance`` is ``None`` without a gateway).

        Raises:
            GatewayError, GatewayUnreachable, OutcomeUnknown, ProtocolError: asking ``gateway``
                for the balance failed (as :meth:`Gateway.balance`).
        """
        balance = gateway.balance().value if gateway is not None else None
        counts = self.rejected["reason"].value_counts()
        result = PlanSummary(
            recipients=len(self.recipients),
            rejected={reason: int(counts.get(reason, 0)) for reason in _REJECT_REASONS},
            requests=len(self.requests),
            segments=self.segments,
            estimated_cost=self.estimated_cost,
            balance=balance,
        )
        if result.covered is False:
            warnings.warn(
                f"balance {balance} does not cover the estimated cost {result.estimated_cost}",
                BalanceWarning,
                stacklevel=2,
            )
        return result

    def __repr__(self) -> str:
        return (
            f"CampaignPlan({len(self.recipients)} recipients, {len(self.rejected)} rejected, "
            f"{len(self.requests)} requests)"
        )


def plan_campaign(
    df: pd.DataFrame,
    *,
    mobile: str,
    content: str | None = None,
    template: str | None = None,
    suppress: Iterable[str] | pd.Series | str | Path | None = None,
    dedupe: bool = True,
    price: Decimal | float | int | str = 1,
    single_segment: int = SINGLE_SEGMENT,
    multi_segment: int = MULTI_SEGMENT,
    any_mobile_range: bool = False,
    keep: Sequence[str] = (),
) -> CampaignPlan:
    """Plan a campaign from a DataFrame: clean numbers, fill content, group into requests.

    Args:
        df: one row per intended recipient (e.g. from :func:`~smsdata.sheets.read_campaign`);
            its index is kept as the ``row`` of recipients and rejects.
        mobile: the column with phone numbers.
        content: the column with each row's message; or
        template: a ``str.format`` template of column names, e.g. ``"Hi {name}"``.
        suppress: numbers that must never receive anything: an iterable, a Series,
            or a file (``.csv``/``.xlsx`` with a ``mobile`` column or one column; any
            other file: one number per line).
        dedupe: keep only the first row of each number (else only exact
            (number, content) repeats are dropped, which the gateway would drop anyway).
        price: balance units per segment, for the cost estimate; stored with the
            campaign, so resuming checks the balance at the same price.
        single_segment, multi_segment: segment sizes in characters.
        keep: customer columns to carry to each recipient, into the ledger and
            :func:`~smsdata.read_sends` (as text), to group KPIs by (``by="city"``).
        any_mobile_range: accept every 11-digit ``1[3-9]`` number, also ranges that
            libphonenumber does not list as mobile (IoT, satellite, unallocated), for
            gateways that take them; by default they are ``invalid_mobile``
            (``not_mobile_range``).

    Returns:
        A :class:`CampaignPlan`. Rejected rows carry a reason: ``invalid_mobile``
        (``detail`` says why), ``missing_value`` (a template column is empty),
        ``empty_content``, ``content_too_long`` (over 268 characters),
        ``control_character`` (NUL, escape, tab, bidirectional overrides, line
        separators... anything unprintable but a line break; ``detail`` names the first),
        ``suppressed`` or ``duplicate``.

    Raises:
        PlanError: a named column is missing (for a frame from :func:`~smsdata.sheets.read_campaign`,
            the message says which sheet or file it was read from, and which other sheet has the column),
            neither/both of content and template given, ``keep=`` names a missing or clashing column,
            the price is not a non-negative number, the suppression file does not exist,
            or ``df`` is not a DataFrame.
        TemplateError: the template is malformed or names a column the data does not have.
        SheetError: ``suppress=`` names a spreadsheet that cannot be read.

    >>> plan = plan_campaign(pd.DataFrame({"phone": ["138 0013 8000"], "name": ["Li"]}),
    ...                      mobile="phone", template="Hi {name}")
    >>> plan.recipients[["mobile", "content", "segments"]].to_dict("records")
    [{'mobile': '13800138000', 'content': 'Hi Li', 'segments': 1}]
    """
    frame_of(df, error=PlanError)
    if (content is None) == (template is None):
        raise PlanError("give exactly one of content= (a column) or template= (a text with {column} fields)")
    for option, column in (("mobile", mobile), ("content", content)):
        if option == "content" and column is None:
            continue
        if not isinstance(column, str) or not column:
            raise PlanError(f"{option}= must name a column of the data (a text), not {column!r}")
        if column not in df.columns:
            raise PlanError(f"column {column!r} not found; columns are {list(df.columns)}{source_hint(df, column)}")

    price = _price(price)
    kept = _kept(df, keep)
    cleaned = normalise_mobiles(df[mobile], any_mobile_range=any_mobile_range)
    if template is not None:
        text, complete = render_template(df, template)
    else:
        text = column_text(df[content])
        complete = pd.Series(True, index=df.index)
    length = text.fillna("").str.len().astype("int64")

    reason = pd.Series(pd.NA, index=df.index, dtype="str")
    detail = cleaned["reason"]
    reason = reason.mask(~complete, "missing_value")
    reason = reason.mask(complete & text.fillna("").str.strip().eq(""), "empty_content")
    control = _first_control_character(text)
    reason = reason.mask(control.notna(), "control_character")
    reason = reason.mask(length.gt(MAX_CONTENT_CHARS), "content_too_long")
    reason = reason.mask(cleaned["mobile"].isna(), "invalid_mobile")
    if suppress is not None:
        blocked = _suppressed(suppress)
        reason = reason.mask(reason.isna() & cleaned["mobile"].isin(blocked), "suppressed")
    ok = reason.isna()
    keys = [cleaned["mobile"]] if dedupe else [cleaned["mobile"], text]
    repeat = pd.concat(keys, axis=1)[ok].duplicated(keep="first").reindex(df.index, fill_value=False)
    reason = reason.mask(repeat, "duplicate")
    ok = reason.isna()

    detail = detail.where(reason.eq("invalid_mobile"), pd.NA)
    detail = detail.mask(reason.eq("content_too_long"), length.astype("str") + " characters")
    detail = detail.mask(reason.eq("control_character"), control)
    if template is not None:
        detail = detail.mask(reason.eq("missing_value"), _first_empty_field(df, template))
    rejected = pd.DataFrame(
        {"row": df.index[~ok], "value": df[mobile][~ok].astype("str").to_numpy(), "reason": reason[~ok].to_numpy()}
    )
    rejected["detail"] = detail[~ok].to_numpy()

    recipients = pd.DataFrame(
        {
            "row": df.index[ok],
            "mobile": cleaned["mobile"][ok].to_numpy(),
            "content": text[ok].to_numpy(),
        }
    )
    recipients["carrier"] = carrier_of(recipients["mobile"]).to_numpy()
    recipients["segments"] = count_segments(
        recipients["content"].str.len(), single_segment=single_segment, multi_segment=multi_segment
    )
    recipients["request"] = _request_numbers(recipients["content"])
    recipients = recipients[["row", "mobile", "carrier", "content", "segments", "request"]]
    for name in kept:
        recipients[name] = column_text(df[name][ok]).to_numpy()
    return CampaignPlan(recipients, rejected, _requests(recipients), price, kept)


# Names a kept column may not take: the columns of read_sends().
_SENDS_COLUMNS = (
    "campaign", "request_id", "msgid", "mobile", "content", "segments", "state", "code", "sent_at", "carrier", "row",
    "price", "request",
)  # fmt: skip


def _first_empty_field(df: pd.DataFrame, template: str) -> pd.Series:
    """Per row, ``"name is empty"`` for the first template field with no value (else missing)."""
    first = pd.Series(pd.NA, index=df.index, dtype="str")
    for name in reversed(template_fields(template)):  # the earliest field wins
        text = column_text(df[name])
        first = first.mask(text.isna() | text.str.strip().eq(""), f"{name} is empty")
    return first


def _kept(df: pd.DataFrame, keep: Sequence[str]) -> tuple[str, ...]:
    kept = tuple(dict.fromkeys([keep] if isinstance(keep, str) else keep))
    missing = [k for k in kept if k not in df.columns]
    if missing:
        raise PlanError(f"keep= names column(s) {missing} that the data does not have; columns are {list(df.columns)}")
    # case-insensitively: DuckDB and Spark fold case; `date` is the warehouse's partition key
    taken = {c.lower() for c in (*_SENDS_COLUMNS, "date")}
    clashing = [k for k in kept if str(k).lower() in taken or not str(k).strip()]
    if clashing:
        raise PlanError(
            f"keep= column(s) {clashing} would clash with the sends' own columns (or the warehouse's date, "
            "in any case); rename them first"
        )
    return kept


def _price(price: Decimal | float | int | str) -> Decimal:
    try:
        value = Decimal(str(price))
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise PlanError(f"price must be a non-negative number of balance units per segment, got {price!r}")
    return value


# C0 and C1 controls and DEL but the line breaks a message may hold, the Unicode line and
# paragraph separators (gateways mangle them) and the bidirectional overrides and isolates
# (they make a message display other than it reads: a spoofing tool). Spelt as literal
# characters so pandas keeps the search on Arrow's vectorised kernels.
_CONTROL_CODES = [
    *range(0x0A),
    0x0B,
    0x0C,
    *range(0x0E, 0x20),
    *range(0x7F, 0xA0),
    *range(0x2028, 0x202F),
    *range(0x2066, 0x206A),
]
_CONTROL = "[" + "".join(map(chr, _CONTROL_CODES)) + "]"


def _first_control_character(text: pd.Series) -> pd.Series:
    """Per row, ``"U+0000 at position 5"`` for the first control character, else missing."""
    found = text.fillna("").str.contains(_CONTROL, regex=True)
    detail = pd.Series(pd.NA, index=text.index, dtype="str")
    if found.any():  # rare: describe those rows only, in Python
        detail[found] = [_describe_control(value) for value in text[found]]
    return detail


def _describe_control(value: str) -> str:
    codes = set(_CONTROL_CODES)
    position, char = next((i, c) for i, c in enumerate(value, start=1) if ord(c) in codes)
    return f"U+{ord(char):04X} at position {position}"


def _request_numbers(content: pd.Series) -> pd.Series:
    """Identical content shares requests of at most 5,000 numbers; numbered in order of first row."""
    codes, _ = pd.factorize(content)
    chunk = pd.Series(codes).groupby(codes).cumcount() // MAX_MOBILES
    request, _ = pd.factorize(pd.Series(codes).astype("int64") * (len(content) // MAX_MOBILES + 1) + chunk)
    return pd.Series(request, index=content.index, dtype="int64")


def _requests(recipients: pd.DataFrame) -> pd.DataFrame:
    """One row per request; ``mobiles`` joined in recipient order with Arrow (no per-group Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    request = recipients["request"].to_numpy()
    order = np.argsort(request, kind="stable")
    counts = np.bincount(request, minlength=int(request.max()) + 1 if len(request) else 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    mobiles = pa.array(recipients["mobile"].to_numpy(dtype=object)[order], type=pa.string())
    joined = pc.binary_join(pa.LargeListArray.from_arrays(offsets, mobiles), ",")
    first = order[offsets[:-1]]
    return pd.DataFrame(
        {
            "request": np.arange(len(counts), dtype=np.int64),
            "content": recipients["content"].to_numpy()[first],
            "mobiles": pd.Series(joined.to_pandas(), dtype="str").to_numpy(),
            "recipients": counts.astype(np.int64),
            "segments": recipients["segments"].to_numpy()[first],
        }
    )


def _suppressed(suppress: Iterable[str] | pd.Series | str | Path) -> pd.Series:
    if isinstance(suppress, str | Path):
        path = Path(suppress)
        if path.suffix.lower() in (".csv", ".xlsx", ".xlsm"):
            from .sheets import read_campaign

            frame = read_campaign(path)
            values = frame["mobile"] if "mobile" in frame.columns else frame.iloc[:, 0]
        elif path.is_file():
            values = pd.Series(path.read_text(encoding="utf-8-sig").splitlines())
        else:
            raise PlanError(f"suppression file {path} does not exist")
    else:
        values = pd.Series(list(suppress), dtype="str")
    return normalise_mobiles(values, any_mobile_range=True)["mobile"].dropna()  # block whatever is listed
