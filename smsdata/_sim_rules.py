"""The simulated gateway's rules: what answer a send or a balance query gets.

:class:`GatewayRules` holds the accounts, the record of what was accepted and
the de-duplication memory, and applies the gateway document's rules to one
request at a time. It knows nothing of HTTP or of event loops: the ASGI app
(:mod:`smsdata.simulator`) calls it, and so can a test, from any thread.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES, MULTI_SEGMENT, SINGLE_SEGMENT
from .config import DEFAULT_TZ
from .content import count_segments

__all__ = ["DEFAULT_FAILURES", "Accepted", "Account", "GatewayRules", "SimulatorConfig", "seeded_rng"]

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
DEFAULT_FAILURES = {"UNKNOWN": 0.4, "UNDELIV": 0.25, "EXPIRED": 0.15, "REJECTD": 0.1, "MK:0005": 0.1}


@dataclass
class Account:
    """A gateway account. ``balance`` is in the gateway's units (messages by default)."""

    uid: str
    pwd: str = field(repr=False)
    balance: Decimal = Decimal("100000")
    frozen: bool = False


@dataclass
class SimulatorConfig:
    """How the simulated gateway behaves. Shares are probabilities in [0, 1]; times in seconds.

    Attributes:
        malformed_success: answer sends with the document's malformed success body.
        single_segment, multi_segment: segment sizes in characters.
        price: balance units charged per segment per number.
        dedupe: drop the same content to the same number, as the real gateway does.
        fail_share: share of valid sends answered with code 7 (send failed).
        callback_url: where delivery reports are POSTed; ``None`` sends none.
        report_share: share of accepted messages that ever get a report.
        delivered_share: share of reports that are ``DELIVRD``.
        failures: the failure statuses and their relative weights.
        latency_median, latency_sigma: log-normal time from send to report.
        time_scale: real waiting is ``latency * time_scale`` (0.01 compresses 100x);
            the report *time* still says the uncompressed latency.
        duplicate_share: share of reports POSTed twice.
        out_of_order_share: share of reports held back so they arrive after later ones.
        reports_per_post: reports per POSTed body, one per line.
        tz: the gateway's local time zone, in which report times are written.
        seed: makes statuses and latencies reproducible (per request content).
        msgid_start: first msgid, then one more per accepted request. By default each msgid
            is the time of acceptance in microseconds (or one past the previous msgid, if that
            is larger), so a restarted simulator, in this process or another, never reuses
            a msgid a ledger already holds.
    """

    malformed_success: bool = True
    single_segment: int = SINGLE_SEGMENT
    multi_segment: int = MULTI_SEGMENT
    price: Decimal = Decimal("1")
    dedupe: bool = True
    fail_share: float = 0.0
    callback_url: str | None = None
    report_share: float = 0.98
    delivered_share: float = 0.9
    failures: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAILURES))
    latency_median: float = 8.0
    latency_sigma: float = 1.0
    time_scale: float = 1.0
    duplicate_share: float = 0.02
    out_of_order_share: float = 0.05
    reports_per_post: int = 1
    tz: str = DEFAULT_TZ
    seed: int | None = None
    msgid_start: int | None = None

    def with_options(self, **options: object) -> SimulatorConfig:
        """A copy with ``options`` replacing fields; this config is left as it was.

        Raises:
            TypeError: an option names no field.
        """
        for key in options:
            if key not in self.__dataclass_fields__:
                raise TypeError(f"unknown simulator option {key!r}")
        copy = replace(self, **options)  # type: ignore[arg-type]
        copy.failures = dict(copy.failures)  # the caller's dict is theirs
        return copy


@dataclass(frozen=True)
class Accepted:
    """One accepted request: its msgid, the numbers it went to (after dedupe), content, segments."""

    msgid: str
    mobiles: tuple[str, ...]
    content: str
    segments: int
    accepted_at: datetime


def seeded_rng(
    seed: int | None, purpose: str, content: str, mobiles: list[str] | tuple[str, ...]
) -> np.random.Generator:
    """A generator for one request's draws: reproducible from ``seed`` and the request, or fresh."""
    if seed is None:
        return np.random.default_rng()
    key = zlib.crc32(f"{purpose}\x00{content}\x00{','.join(mobiles)}".encode())
    return np.random.default_rng([seed, key])


class GatewayRules:
    """The gateway's rules and the state they need: accounts, what was accepted, dedupe, msgids.

    Every method is synchronous and thread-safe; none touches an event loop.

    Args:
        accounts: the accounts, by uid (this object's own: charged in place).
        config: read at each request, so a change to it applies to the next one.
    """

    def __init__(self, accounts: dict[str, Account], config: SimulatorConfig) -> None:
        self.accounts = accounts
        self.config = config
        self.accepted: list[Accepted] = []
        self.codes: Counter[str] = Counter()
        self.deduplicated = 0
        self._seen: set[tuple[str, int]] = set()
        self._content_ids: dict[str, int] = {}
        self._last_msgid = config.msgid_start - 1 if config.msgid_start is not None else 0
        self._lock = threading.Lock()

    def balance(self, uid: str, pwd: str) -> tuple[int, str]:
        """Apply the rules to a balance query; return ``(code, message)``."""
        with self._lock:
            account = self._authenticate(uid, pwd)
            code, message = (
                (1, "Uid, pwd is empty or wrong")
                if account is None
                else (2, "The account has been frozen")
                if account.frozen
                else (0, f"{account.balance:.2f}")
            )
            self.codes[f"balance:{code}"] += 1
        return code, message

    def send(self, uid: str, pwd: str, mobile: str, content: str) -> tuple[int, str, Accepted | None]:
        """Apply the rules to one send; return ``(code, message, accepted)`` (``None`` unless code 0)."""
        with self._lock:
            code, message, accepted = self._apply_send(uid, pwd, mobile, content)
            self.codes[f"send:{code}"] += 1
        return code, message, accepted

    def _authenticate(self, uid: str, pwd: str) -> Account | None:
        account = self.accounts.get(uid)
        if account is None or not pwd or pwd != account.pwd:
            return None
        return account

    def _apply_send(self, uid: str, pwd: str, mobile: str, content: str) -> tuple[int, str, Accepted | None]:
        account = self._authenticate(uid, pwd)
        if account is None:
            return 1, "Uid, pwd is empty or wrong", None
        if account.frozen:
            return 8, "Account is frozen", None
        if not content.strip():
            return 3, "The content is empty", None
        if len(content) > MAX_CONTENT_CHARS:
            return 4, "Super long content", None
        mobiles = [m.strip() for m in mobile.split(",") if m.strip()]
        if not mobiles:
            return 2, "Sending a mobile phone is empty or wrong", None
        if len(mobiles) > MAX_MOBILES:
            return 6, "The number of mobile phone numbers issued exceeded 5,000", None
        if any(not _MOBILE_RE.fullmatch(m) for m in mobiles):
            return 2, "Sending a mobile phone is empty or wrong", None
        cfg = self.config
        fresh = self._fresh(mobiles, content)
        segments = count_segments(len(content), single_segment=cfg.single_segment, multi_segment=cfg.multi_segment)
        cost = cfg.price * segments * len(fresh)
        if cost > account.balance:
            return 5, "Insufficient balance", None
        if cfg.fail_share and seeded_rng(cfg.seed, "fail", content, mobiles).random() < cfg.fail_share:
            return 7, "Failed to send", None
        account.balance -= cost
        self.deduplicated += len(mobiles) - len(fresh)
        if cfg.dedupe:
            cid = self._content_ids.setdefault(content, len(self._content_ids))
            self._seen.update((m, cid) for m in fresh)
        accepted = Accepted(self._new_msgid(), tuple(fresh), content, segments, datetime.now(UTC))
        self.accepted.append(accepted)
        return 0, "send success", accepted

    def _new_msgid(self) -> str:
        """The next msgid: one past the last from ``msgid_start``, else from the clock (see
        :class:`SimulatorConfig`)."""
        clock = time.time_ns() // 1_000 if self.config.msgid_start is None else 0
        self._last_msgid = max(self._last_msgid + 1, clock)
        return str(self._last_msgid)

    def _fresh(self, mobiles: list[str], content: str) -> list[str]:
        """The numbers that have not had this content yet (all of them without dedupe)."""
        if not self.config.dedupe:
            return mobiles
        cid = self._content_ids.get(content)
        unique = list(dict.fromkeys(mobiles))
        return unique if cid is None else [m for m in unique if (m, cid) not in self._seen]
