"""Campaigns: plan from a DataFrame (clean numbers, render content, group requests), then send.

Planning is pure and vectorised; sending records every step in the
:class:`~smsdata.ledger.Ledger` so that no stop, crash or re-run can send a
message twice (see :func:`send_campaign`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .content import MAX_CHARS, MULTI_SEGMENT, SINGLE_SEGMENT, count_segments, render_template
from .content import _as_text as _column_text
from .errors import (
    GatewayError,
    GatewayUnreachable,
    InsufficientBalance,
    OutcomeUnknown,
    ProtocolError,
    SmsdataError,
)
from .gateway import MAX_MOBILES, AsyncGateway, Balance, Gateway
from .ledger import Ledger, PlannedRequest, using_ledger, utcnow
from .numbers import carrier_of, normalise_mobiles

__all__ = [
    "REJECT_REASONS",
    "BalanceWarning",
    "CampaignPlan",
    "CampaignResult",
    "CampaignStopped",
    "PlanSummary",
    "plan_campaign",
    "resume_campaign",
    "send_campaign",
]

log = logging.getLogger("smsdata.campaign")
T = TypeVar("T")

REJECT_REASONS = ("invalid_mobile", "missing_value", "empty_content", "content_too_long", "suppressed", "duplicate")


class BalanceWarning(UserWarning):
    """The balance does not cover the estimated cost of a plan."""


class CampaignStopped(SmsdataError):
    """An account-level failure (auth, balance, frozen) or an unreachable gateway stopped a campaign.

    What was not sent stays ``planned``; ``cause`` is the gateway's error. Fix
    the cause, then call :func:`send_campaign` (or ``smsdata resume NAME``) again.
    """

    def __init__(self, message: str, cause: SmsdataError, result: CampaignResult) -> None:
        super().__init__(message)
        self.cause = cause
        self.result = result


# ---------------------------------------------------------------- planning


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
        rejected: ``row, value, reason, detail`` (reason one of :data:`REJECT_REASONS`).
        requests: ``request, content, mobiles, recipients, segments`` (identical content
            grouped, at most 5,000 numbers each; ``segments`` per message).
    """

    recipients: pd.DataFrame
    rejected: pd.DataFrame
    requests: pd.DataFrame
    price: Decimal = Decimal(1)
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
    def estimated_cost(self) -> Decimal:
        """Segments times the price per segment."""
        return self.price * int((self.requests["recipients"] * self.requests["segments"]).sum())

    def summary(self, gateway: Gateway | None = None) -> PlanSummary:
        """Recipients, rejects by reason, requests, segments, cost, and the balance if a gateway is given.

        Warns with :class:`BalanceWarning` when the balance does not cover the cost.
        """
        balance = gateway.balance().value if gateway is not None else None
        counts = self.rejected["reason"].value_counts()
        result = PlanSummary(
            recipients=len(self.recipients),
            rejected={reason: int(counts.get(reason, 0)) for reason in REJECT_REASONS},
            requests=len(self.requests),
            segments=int((self.requests["recipients"] * self.requests["segments"]).sum()),
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
    price: Decimal | float | int = 1,
    single_segment: int = SINGLE_SEGMENT,
    multi_segment: int = MULTI_SEGMENT,
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
        price: balance units per segment, for the cost estimate.
        single_segment, multi_segment: segment sizes in characters.

    Returns:
        A :class:`CampaignPlan`. Rejected rows carry a reason: ``invalid_mobile``
        (``detail`` says why), ``missing_value`` (a template column is empty),
        ``empty_content``, ``content_too_long`` (over 268 characters),
        ``suppressed`` or ``duplicate``.

    Raises:
        SmsdataError: a named column is missing, or neither/both of content and template given.

    >>> plan = plan_campaign(pd.DataFrame({"phone": ["138 0013 8000"], "name": ["Li"]}),
    ...                      mobile="phone", template="Hi {name}")
    >>> plan.recipients[["mobile", "content", "segments"]].to_dict("records")
    [{'mobile': '13800138000', 'content': 'Hi Li', 'segments': 1}]
    """
    if (content is None) == (template is None):
        raise SmsdataError("give exactly one of content= (a column) or template= (a text with {column} fields)")
    for column in [mobile] + ([content] if content else []):
        if column not in df.columns:
            raise SmsdataError(f"column {column!r} not found; columns are {list(df.columns)}")

    cleaned = normalise_mobiles(df[mobile])
    if template is not None:
        text, complete = render_template(df, template)
    else:
        text = _column_text(df[content])
        complete = pd.Series(True, index=df.index)
    length = text.str.len().fillna(0).astype("int64")

    reason = pd.Series(pd.NA, index=df.index, dtype="str")
    detail = cleaned["reason"]
    reason = reason.mask(~complete, "missing_value")
    reason = reason.mask(complete & text.fillna("").str.strip().eq(""), "empty_content")
    reason = reason.mask(length.gt(MAX_CHARS), "content_too_long")
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
    recipients["segments"] = count_segments(recipients["content"].str.len(), single=single_segment, multi=multi_segment)
    recipients["request"] = _request_numbers(recipients["content"])
    recipients = recipients[["row", "mobile", "carrier", "content", "segments", "request"]]
    return CampaignPlan(recipients, rejected, _requests(recipients), Decimal(str(price)))


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
            raise SmsdataError(f"suppression file {path} does not exist")
    else:
        values = pd.Series(list(suppress), dtype="str")
    return normalise_mobiles(values)["mobile"].dropna()


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class CampaignResult:
    """Where a campaign stands after :func:`send_campaign`: counts of requests and recipients by state.

    Attributes:
        name: the campaign.
        requests, recipients: ``{state: count}`` over the whole campaign.
        sent_now: requests sent by this call.
        unknown: the ``unknown`` requests (id, recipients, message): they may or may not
            have been delivered; resend with ``resend_unknown=True``.
        balance_before, balance_after: balance snapshots around this call, if taken.
        dry_run: nothing was sent or recorded.
    """

    name: str
    requests: dict[str, int]
    recipients: dict[str, int]
    sent_now: int
    unknown: pd.DataFrame
    balance_before: Decimal | None = None
    balance_after: Decimal | None = None
    dry_run: bool = False

    @property
    def done(self) -> bool:
        """No request is still planned or in flight."""
        return not (self.requests.get("planned") or self.requests.get("in_flight"))

    def __str__(self) -> str:
        parts = ", ".join(f"{state} {n}" for state, n in self.recipients.items() if n)
        head = f"campaign {self.name!r}{' (dry run)' if self.dry_run else ''}: recipients {parts or 'none'}"
        lines = [head, f"requests sent now: {self.sent_now}"]
        if self.balance_before is not None and self.balance_after is not None:
            lines.append(f"balance: {self.balance_before} -> {self.balance_after}")
        if len(self.unknown):
            lines.append(
                f"{len(self.unknown)} request(s) unknown (may or may not have been delivered): "
                f"resend with resend_unknown=True (`smsdata resume {self.name} --resend-unknown`)"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + str(self).replace("&", "&amp;").replace("<", "&lt;") + "</pre>"


def send_campaign(
    plan_or_df: CampaignPlan | pd.DataFrame | None = None,
    *,
    gateway: Gateway | AsyncGateway,
    name: str,
    ledger: Ledger | str | Path | None = None,
    concurrency: int = 4,
    rate_limit: float | None = None,
    progress: bool = True,
    dry_run: bool = False,
    resend_unknown: bool = False,
    allow_partial: bool = False,
    **plan_options: Any,
) -> CampaignResult:
    """Send a planned campaign, recording every request in the ledger; safe to stop and re-run.

    The first call with a ``name`` stores the plan; a later call with the same
    ``name`` resumes it: only ``planned`` requests are sent. A request whose
    outcome is unknown (timeout after it went out, a crash mid-request) is
    ``unknown`` and is resent, byte-identical, only with ``resend_unknown=True``
    (the gateway de-duplicates the same content to the same number). A finished
    campaign sends nothing.

    Args:
        plan_or_df: a :class:`CampaignPlan`, or a DataFrame planned with ``plan_options``
            (see :func:`plan_campaign`); may be ``None`` to resume a stored campaign.
        gateway: a :class:`Gateway` or :class:`AsyncGateway`.
        name: the campaign's name, its key in the ledger.
        ledger: a :class:`Ledger`, a path, or ``None`` for ``$SMSDATA_HOME/ledger.sqlite``.
        concurrency: requests in flight at once.
        rate_limit: at most this many requests per second (``None``: no limit).
        progress: show a progress bar of recipients (tqdm; notebook-aware).
        dry_run: check the plan, the name and the balance; send and record nothing.
        resend_unknown: resend the ``unknown`` requests.
        allow_partial: send even if the balance does not cover the remaining cost.

    Returns:
        A :class:`CampaignResult`.

    Raises:
        SmsdataError: a different plan is already stored under ``name``; no plan and no such campaign.
        InsufficientBalance: the balance does not cover the remaining cost (nothing sent).
        CampaignStopped: an account-level code (1, 5, 8) or an unreachable gateway stopped it
            midway; what was not sent stays planned; re-run to resume.
        LedgerError: the ledger could not be written.
    """
    if isinstance(plan_or_df, pd.DataFrame):
        plan_or_df = plan_campaign(plan_or_df, **plan_options)
    elif plan_options:
        raise SmsdataError(f"plan options {sorted(plan_options)} only apply when a DataFrame is given")
    with using_ledger(ledger) as opened:
        return _run_sync(
            lambda: _send(
                plan_or_df,
                gateway=gateway,
                name=name,
                ledger=opened,
                concurrency=concurrency,
                rate_limit=rate_limit,
                progress=progress,
                dry_run=dry_run,
                resend_unknown=resend_unknown,
                allow_partial=allow_partial,
            )
        )


def resume_campaign(name: str, *, gateway: Gateway | AsyncGateway, **options: Any) -> CampaignResult:
    """Resume a stored campaign: :func:`send_campaign` with no plan. Takes the same options."""
    return send_campaign(None, gateway=gateway, name=name, **options)


def _run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from plain code, also inside a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    with ThreadPoolExecutor(1, thread_name_prefix="smsdata-send") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def _async_gateway(gateway: Gateway | AsyncGateway) -> tuple[AsyncGateway, bool]:
    if isinstance(gateway, AsyncGateway):
        return gateway, False
    return gateway.to_async(), True


async def _send(
    plan: CampaignPlan | None,
    *,
    gateway: Gateway | AsyncGateway,
    name: str,
    ledger: Ledger,
    concurrency: int,
    rate_limit: float | None,
    progress: bool,
    dry_run: bool,
    resend_unknown: bool,
    allow_partial: bool,
) -> CampaignResult:
    if concurrency < 1:
        raise SmsdataError(f"concurrency must be at least 1, got {concurrency}")
    stored = ledger.fingerprint(name)
    if plan is None and stored is None:
        raise SmsdataError(f"no campaign named {name!r} in {ledger.path}; give a plan to start it")
    if plan is not None and stored is not None and stored != plan.fingerprint:
        raise SmsdataError(
            f"campaign {name!r} already exists in {ledger.path} with a different plan; "
            "choose a new name, or resume it without a plan (smsdata resume NAME)"
        )
    agw, owned = _async_gateway(gateway)
    try:
        balance = await agw.balance()
        if dry_run:
            return _dry_run(plan, name, ledger, balance, resend_unknown)
        if stored is None and plan is not None:
            ledger.create_campaign(name, plan.fingerprint, plan.requests, plan.recipients)
        ledger.settle_in_flight(name)
        if resend_unknown:
            ledger.requeue_unknown(name)
        todo = ledger.planned(name)
        _check_cost(name, todo, balance, allow_partial, plan.price if plan else Decimal(1))
        ledger.record_balance(balance.value, name, "before")
        sender = _Sender(agw, ledger, concurrency=concurrency, rate_limit=rate_limit)
        try:
            sent = await sender.run(todo, progress=progress, name=name)
        finally:
            after = await _balance_or_none(agw)
            if after is not None:
                ledger.record_balance(after.value, name, "after")
        result = _result(ledger, name, sent, balance.value, after.value if after else None)
        if sender.stopped is not None:
            raise CampaignStopped(
                f"campaign {name!r} stopped: {type(sender.stopped).__name__}: {sender.stopped}. "
                f"{result.requests.get('planned', 0)} request(s) still planned; fix the cause, then resume with "
                f"send_campaign(..., name={name!r}) or `smsdata resume {name}`",
                sender.stopped,
                result,
            )
        return result
    finally:
        if owned:
            await agw.aclose()


def _check_cost(name: str, todo: list[PlannedRequest], balance: Balance, allow_partial: bool, price: Decimal) -> None:
    cost = price * sum(r.recipients * r.segments for r in todo)
    if cost > balance.value and not allow_partial:
        raise InsufficientBalance(
            5,
            f"balance {balance.value} does not cover the estimated cost {cost} of the {len(todo)} request(s) "
            f"left in campaign {name!r}; nothing was sent. Top up, or pass allow_partial=True",
        )


def _dry_run(
    plan: CampaignPlan | None, name: str, ledger: Ledger, balance: Balance, resend_unknown: bool
) -> CampaignResult:
    if ledger.fingerprint(name) is not None:
        return dataclasses.replace(_result(ledger, name, 0, balance.value, None), dry_run=True)
    assert plan is not None
    counts = {"planned": len(plan.requests)}
    return CampaignResult(
        name,
        requests=counts,
        recipients={"planned": len(plan.recipients)},
        sent_now=0,
        unknown=pd.DataFrame(columns=["request_id", "recipients", "message"]),
        balance_before=balance.value,
        dry_run=True,
    )


async def _balance_or_none(gateway: AsyncGateway) -> Balance | None:
    try:
        return await gateway.balance()
    except SmsdataError as exc:
        log.warning("balance after the campaign could not be read: %s", exc)
        return None


def _result(ledger: Ledger, name: str, sent: int, before: Decimal | None, after: Decimal | None) -> CampaignResult:
    requests = ledger.requests(name)
    by_state = requests.groupby("state")
    unknown = requests.loc[requests["state"].eq("unknown"), ["request_id", "recipients", "message"]]
    return CampaignResult(
        name,
        requests={k: int(v) for k, v in by_state.size().items()},
        recipients={k: int(v) for k, v in by_state["recipients"].sum().items()},
        sent_now=sent,
        unknown=unknown.reset_index(drop=True),
        balance_before=before,
        balance_after=after,
    )


class _GroupCommit:
    """Batches ledger writes from many concurrent requests into few durable transactions.

    ``await commit(op)`` returns once ``op`` is on disk; ``enqueue(op)`` does not
    wait. One transaction at a time takes everything queued meanwhile: with many
    requests in flight one fsync serves many. It runs on the event loop itself
    (after one yield, so that every answer already read can queue its write):
    handing each commit to a worker thread cost more CPU in thread switches and
    GIL hand-offs than the fsync it moved (measured in bench/send.py).
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.window = 0.0  # seconds to gather writes before each transaction
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, sql: str, params: tuple[Any, ...]) -> None:
        self._ops.append((sql, params))
        self._kick()

    def commit(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        """Queue ``op``; the returned future resolves once it is on disk."""
        waiter = asyncio.get_running_loop().create_future()
        self._ops.append((sql, params))
        self._waiters.append(waiter)
        self._kick()
        return waiter

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(self.window)
            if not self._ops:
                return
            ops, self._ops = self._ops, []
            waiters, self._waiters = self._waiters, []
            try:
                self._ledger.transaction(ops)
            except BaseException as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                raise
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._ops:
            self._kick()
            await self.flush()


_IN_FLIGHT = "UPDATE requests SET state = 'in_flight', attempts = attempts + 1, sent_at = ? WHERE id = ?"
_OUTCOME = "UPDATE requests SET state = ?, code = ?, message = ?, msgid = ?, sent_at = ?, finished_at = ? WHERE id = ?"
_BACK_TO_PLANNED = "UPDATE requests SET state = 'planned', sent_at = NULL, message = ? WHERE id = ?"


class _Sender:
    """Sends planned requests with bounded concurrency and an optional rate limit."""

    def __init__(self, gateway: AsyncGateway, ledger: Ledger, *, concurrency: int, rate_limit: float | None) -> None:
        self.gateway = gateway
        self.commits = _GroupCommit(ledger)
        self._latency = 0.0  # moving average of one request's round trip, seconds
        self.concurrency = concurrency
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self.stopped: SmsdataError | None = None
        self._next_start = 0.0
        self._sent = 0

    async def run(self, todo: list[PlannedRequest], *, progress: bool, name: str) -> int:
        from tqdm.auto import tqdm

        queue = iter(todo)
        total = sum(r.recipients for r in todo)
        with tqdm(total=total, desc=name, unit="msg", disable=not progress or not todo) as bar:
            workers = [self._worker(queue, bar) for _ in range(min(self.concurrency, len(todo)))]
            try:
                await asyncio.gather(*workers)
            finally:
                await self.commits.flush()
        return self._sent

    async def _pace(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    async def _worker(self, queue: Iterator[PlannedRequest], bar: Any) -> None:
        # The next request is committed in_flight while this one is on the wire, which
        # takes the fsync off every request's path. A crash can then leave one request
        # per worker in_flight that never went out; it becomes unknown like any other,
        # which is safe: it is resent only on request, byte-identical, and deduplicated.
        request = next(queue, None)
        marked = self._mark(request)
        try:
            while request is not None:
                await marked
                if self.stopped is not None:
                    self.commits.enqueue(_BACK_TO_PLANNED, ("not sent: the campaign stopped", request.id))
                    return
                following = next(queue, None)
                marked = self._mark(following)
                await self._pace()
                sent_at = utcnow()
                self._sent += 1
                started = time.monotonic()
                outcome = await self._send_one(request)
                self._gather_for(time.monotonic() - started)
                if outcome is not None:
                    self.commits.enqueue(_OUTCOME, (*outcome, sent_at, utcnow(), request.id))
                bar.update(request.recipients)
                request = following
        finally:
            if not marked.done():
                marked.cancel()
            elif not marked.cancelled():
                marked.exception()  # retrieved: a failure was already raised by the awaited mark

    def _gather_for(self, latency: float) -> None:
        # Requests are committed in_flight one ahead (see _worker), so the ledger may
        # gather writes for a quarter of a round trip into one fsync and delay no request.
        self._latency = latency if not self._latency else 0.9 * self._latency + 0.1 * latency
        self.commits.window = min(0.02, self._latency / 4)

    def _mark(self, request: PlannedRequest | None) -> asyncio.Future[None]:
        """Start committing ``request`` in_flight; a finished future when there is none."""
        if request is None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return self.commits.commit(_IN_FLIGHT, (utcnow(), request.id))

    async def _send_one(self, request: PlannedRequest) -> tuple[str, str | None, str, str | None] | None:
        """Send; return ``(state, code, message, msgid)`` or ``None`` when put back to planned."""
        try:
            result = await self.gateway.send(request.mobiles, request.content)
        except GatewayError as exc:
            if exc.account_level:
                self.stopped = self.stopped or exc
                self.commits.enqueue(_BACK_TO_PLANNED, (f"not sent: {exc}", request.id))
                return None
            return ("rejected", str(exc.code), exc.message, None)
        except GatewayUnreachable as exc:
            self.stopped = self.stopped or exc
            self.commits.enqueue(_BACK_TO_PLANNED, (f"not sent: {exc}", request.id))
            return None
        except (OutcomeUnknown, ProtocolError) as exc:
            return ("unknown", None, str(exc), None)
        return ("accepted", str(result.code), result.message, result.msgid)
