"""Settings from the environment and an optional ``.env`` file.

=================  =====================================================  ==================
variable           meaning                                                default
=================  =====================================================  ==================
``SMSDATA_URL``    gateway base URL, everything before ``/Message/send``   (none)
``SMSDATA_UID``    account uid                                            (none)
``SMSDATA_PWD``    account password, kept in a :class:`Secret`            (none)
``SMSDATA_HOME``   folder for the ledger and other state                  ``./smsdata-home``
``SMSDATA_TZ``     the gateway's local time zone (naive report times)     ``Asia/Shanghai``
``SMSDATA_UNIT_PRICE``  money per gateway unit, for the report's spend     (none: units only)
                   (``"0.045 CNY"``)
=================  =====================================================  ==================

Variables already in the environment win over the ``.env`` file.

Two defaults are paths, not variables: the ledger is ``$SMSDATA_HOME/ledger.sqlite``,
and the warehouse (the reports and sends dataset) is :data:`DEFAULT_DATASET`,
``warehouse`` in the working folder. Every function and command that takes a
``dataset`` defaults to it (``read_reports()``, ``ingest_reports(source)``,
``read_quarantine()``, ``sync_sends()``, ``build_report()``, ``--dataset``).

Two zones, two names: ``source_tz`` is the zone naive *input* times are read in
(report times from the gateway); ``tz`` is the zone *results* are cut or shown in
(KPI periods, the days of the balance, exported times). Both default to
``SMSDATA_TZ``, the gateway's local zone.

The sources are read in one place (:func:`load_settings`; :func:`default_tz` and
:func:`unit_price` read their one value from the same place) into a frozen
:class:`Settings`: the ``.env`` file is parsed once per version of it (path,
inode, mtime, size), and while the environment and the file are unchanged
:func:`load_settings` returns the very same object, so every defaulted call
sees the same settings and none re-parses the file. The memos are pure (their
results depend on nothing but their keys): changing ``os.environ`` or editing
``.env`` is seen by the next call, as before. To pin settings for a whole job,
load them once and pass what they hold explicitly (``source_tz=settings.tz``,
``Ledger(settings.home / "ledger.sqlite")``, ``Gateway(settings.url, ...)``).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote, quote_plus, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from .errors import ConfigError

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_HOME",
    "DEFAULT_TZ",
    "Secret",
    "Settings",
    "UnitPrice",
    "default_tz",
    "load_settings",
    "unit_price",
]

DEFAULT_DATASET = "warehouse"
"""The warehouse folder every ``dataset`` parameter and ``--dataset`` defaults to."""
DEFAULT_HOME = "./smsdata-home"
DEFAULT_TZ = "Asia/Shanghai"
MASK = "**********"


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` give ``'**********'``.

    Call :meth:`reveal` at the one place the real value is needed (the HTTP body).

    >>> Secret("hunter2")
    Secret('**********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the real value. Never log or print it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def redact(self, text: str) -> str:
        """``text`` with every form of the value masked: as is, percent-encoded (as a form or a
        URL carries it, either hex case), HTML-escaped and JSON-escaped.

        For what is *shown* (exception texts, logs), never for what is parsed: a
        numeric password can equal a msgid.

        >>> Secret("p@ss/w0rd=1").redact("echo: Pwd=p%40ss%2Fw0rd%3D1")
        'echo: Pwd=**********'
        """
        if not self._value:
            return text
        return _forms_pattern(self._value).sub(MASK, text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would write the value in clear to disk or a pipe.
        raise TypeError("a Secret cannot be pickled")


def _forms_pattern(value: str) -> re.Pattern[str]:
    """One pattern matching ``value`` in every form a server might echo it back in: as is;
    HTML-escaped (named, decimal and hex entities for quotes, as PHP's htmlspecialchars
    writes them); JSON-escaped (ASCII or not, ``\\/`` for ``/`` as PHP's json_encode writes,
    either hex case); percent-encoded (as a form or a URL carries it, either hex case)."""
    html_forms = {html.escape(value, quote=True), html.escape(value, quote=False)}
    html_forms |= {f.replace("&#x27;", q) for f in html_forms for q in ("&#039;", "&#39;", "&apos;")}
    html_forms |= {f.replace("&quot;", q) for f in html_forms for q in ("&#034;", "&#34;")}
    json_forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    json_forms |= {f.replace("/", "\\/") for f in json_forms}
    json_forms |= {re.sub(r"\\u[0-9a-f]{4}", lambda m: m.group(0).upper().replace("\\U", "\\u"), f) for f in json_forms}
    percent_forms = {quote(value, safe=""), quote(value), quote_plus(value)}
    percent_forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in percent_forms}
    forms = {value} | html_forms | json_forms | percent_forms
    # Longest first, so that a form containing another is masked whole.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``pwd`` is a :class:`Secret`; ``repr`` never shows it."""

    url: str | None = None
    uid: str | None = None
    pwd: Secret = field(default_factory=lambda: Secret(""))
    home: Path = Path(DEFAULT_HOME)
    tz: str = DEFAULT_TZ

    def __repr__(self) -> str:  # a password written into the URL is not shown either
        url = None if self.url is None else shown_url(self.url)
        return f"Settings(url={url!r}, uid={self.uid!r}, pwd={self.pwd!r}, home={self.home!r}, tz={self.tz!r})"

    @property
    def zone(self) -> ZoneInfo:
        """The gateway's local time zone as a :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.tz)

    def require_gateway(self) -> tuple[str, str, Secret]:
        """Return ``(url, uid, pwd)``, raising :class:`ConfigError` naming what is missing."""
        missing = [
            name
            for name, value in (
                ("SMSDATA_URL", self.url),
                ("SMSDATA_UID", self.uid),
                ("SMSDATA_PWD", self.pwd),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set: put them in the environment or in a .env "
                "file (see README, 'Using the real gateway'), or run `smsdata simulate`"
            )
        return self.url, self.uid, self.pwd  # type: ignore[return-value]


def default_tz(env_file: str | os.PathLike[str] | None = ".env") -> str:
    """The gateway's zone (``SMSDATA_TZ``, environment then ``.env``; default Asia/Shanghai), read
    on its own: a report or a KPI needs no gateway settings, so a broken ``SMSDATA_URL`` must not
    stop it.

    Returns:
        An IANA zone name, such as ``"Asia/Shanghai"``.

    Raises:
        ConfigError: ``SMSDATA_TZ`` names no known time zone.
    """
    return _zone_name(_one_setting("SMSDATA_TZ", env_file))


_NAMES = ("SMSDATA_URL", "SMSDATA_UID", "SMSDATA_PWD", "SMSDATA_HOME", "SMSDATA_TZ", "SMSDATA_UNIT_PRICE")


def _one_setting(name: str, env_file: str | os.PathLike[str] | None) -> str | None:
    return _sources(env_file).get(name)


def _sources(env_file: str | os.PathLike[str] | None) -> dict[str, str | None]:
    """The settings' raw values: the environment over ``env_file`` (parsed once per version)."""
    values: dict[str, str | None] = {}
    if env_file is not None:
        try:
            info = os.stat(env_file)
        except OSError:  # a missing file is fine
            info = None
        if info is not None and Path(env_file).is_file():
            version = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            values.update(_parse_env_file(os.path.abspath(env_file), version))
    values.update({name: os.environ[name] for name in _NAMES if name in os.environ})
    return {name: values.get(name) for name in _NAMES}


@functools.lru_cache(maxsize=8)
def _parse_env_file(path: str, version: tuple[int, int, int, int]) -> Mapping[str, str | None]:
    """A ``.env`` file's values; ``version`` (device, inode, mtime, size) keys the memo."""
    return MappingProxyType(dotenv_values(path))


_CURRENCIES = {"¥": "CNY", "￥": "CNY", "元": "CNY", "$": "USD", "€": "EUR", "£": "GBP"}


@dataclass(frozen=True)
class UnitPrice:
    """Money per gateway balance unit, to show spend as money: ``UnitPrice.parse("0.045 CNY")``."""

    amount: Decimal
    currency: str = ""

    @classmethod
    def parse(cls, text: str | Decimal | UnitPrice) -> UnitPrice:
        """``"0.045 CNY"``, ``"0.045"``, ``"¥0.045"``, ``"0.045 元"`` or a Decimal.

        Raises:
            ConfigError: not a non-negative number, optionally with a currency code or sign.
        """
        if isinstance(text, UnitPrice):
            return text
        match = re.fullmatch(r"\s*([¥￥$€£]?)\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]{3}|元)?\s*", str(text))
        if match is None:
            raise ConfigError(f"unit price {str(text)!r} is not a number with an optional currency, like '0.045 CNY'")
        sign, amount, code = match.groups()
        currency = _CURRENCIES.get(code or sign, (code or "").upper())
        return cls(Decimal(amount), currency)

    def money(self, units: float | Decimal) -> str:
        """``units`` in money, as text: ``"CNY 56.25"``."""
        value = (Decimal(str(units)) * self.amount).quantize(Decimal("0.01"))
        return f"{self.currency} {value:,}".strip()


def unit_price(env_file: str | os.PathLike[str] | None = ".env") -> UnitPrice | None:
    """``SMSDATA_UNIT_PRICE`` (environment, then ``.env``), or ``None`` when not set.

    Returns:
        A :class:`UnitPrice`, or ``None``.

    Raises:
        ConfigError: it is set but not like ``"0.045 CNY"``.
    """
    value = _one_setting("SMSDATA_UNIT_PRICE", env_file)
    return UnitPrice.parse(value) if value and value.strip() else None


def _zone_name(value: str | None) -> str:
    tz = (value or DEFAULT_TZ).strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"SMSDATA_TZ={tz!r} is not a known time zone") from exc
    return tz


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Read settings from ``os.environ``, then ``env_file`` for what is not set.

    While neither changes, every call returns the same (frozen) :class:`Settings` object and
    the file is not parsed again.

    Args:
        env_file: path of a ``.env`` file; a missing file is fine, ``None`` skips it.

    Returns:
        The :class:`Settings`; a missing gateway setting is ``None`` here (and a
        :class:`ConfigError` only when a gateway is built from it).

    Raises:
        ConfigError: ``SMSDATA_TZ`` names no known time zone, or ``SMSDATA_URL`` is not a
            usable http(s) address (see :func:`check_url`).
    """
    return _settings(_settings_key(env_file))


_SettingsKey = tuple[Secret | None, str | None, Secret, str | None, str | None]
"""SMSDATA_URL, _UID, _PWD, _HOME and _TZ as :func:`_settings` takes them."""


def _settings_key(env_file: str | os.PathLike[str] | None) -> _SettingsKey:
    """The raw values of ``_NAMES[:5]``, the URL (it may hold a password) and the password as
    :class:`Secret`: a frame that fails later shows neither in a traceback's locals."""
    values = _sources(env_file)
    url = (values["SMSDATA_URL"] or "").strip().rstrip("/")
    pwd = Secret(values["SMSDATA_PWD"] or "")
    return Secret(url) if url else None, values["SMSDATA_UID"], pwd, values["SMSDATA_HOME"], values["SMSDATA_TZ"]


@functools.lru_cache(maxsize=8)
def _settings(key: _SettingsKey) -> Settings:
    """The settings :func:`_settings_key`'s values make (a pure function, memoized)."""
    url, uid, pwd, home, zone = key
    tz = _zone_name(zone)
    if url is not None:
        check_url(url, "SMSDATA_URL")
    return Settings(
        url=url.reveal() if url is not None else None,
        uid=(uid or "").strip() or None,
        pwd=pwd,
        home=Path(home or DEFAULT_HOME),
        tz=tz,
    )


# user:password@ in a URL's authority, anywhere in a text (the password may hold '@' or ':')
_URL_PASSWORD = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/?#@:\s'\"]*):[^/?#\s'\"]*@")
# a password given as a query parameter (?pwd=..., &password=...)
_QUERY_PASSWORD = re.compile(r"([?&](?:pwd|pass|password|passwd|secret|token)=)[^&#\s'\"]*", re.IGNORECASE)


def shown_url(url: str) -> str:
    """``url`` (or a text holding URLs) as it may be shown (a message, a log, a ``repr``):
    a password written into it masked.

    >>> shown_url("https://acct:hunter2@sms.example.com/Admin/index.php")
    'https://acct:**********@sms.example.com/Admin/index.php'
    """
    return _QUERY_PASSWORD.sub(rf"\1{MASK}", _URL_PASSWORD.sub(rf"\1:{MASK}@", url))


def check_url(url: str | Secret, setting: str = "the gateway URL") -> None:
    """Refuse a gateway URL that no request could be sent to, before anything is sent.

    Args:
        url: the base URL (everything before ``/Message/send``).
        setting: what to call it in the message (``"SMSDATA_URL"``).

    Raises:
        ConfigError: not ``http://`` or ``https://``; no host; a port that is not a
            number from 1 to 65535; spaces or control characters. The message shows the
            URL with any password in it masked.

    >>> check_url("www.467890.com/Admin/index.php", "SMSDATA_URL")
    Traceback (most recent call last):
    ...
    smsdata.errors.ConfigError: SMSDATA_URL must start with http:// or https://, got 'www.467890.com/Admin/index.php'
    """
    problem = url_problem(url.reveal() if isinstance(url, Secret) else url, setting)
    if problem is not None:
        del url  # a traceback's locals must not show a password written into it
        raise ConfigError(problem) from None


def url_problem(url: str, setting: str) -> str | None:
    """What makes ``url`` unusable, in words with any password masked; ``None`` when usable.
    Never raises, so the raw URL is in no frame of a traceback."""
    shown = shown_url(url)
    if not url.startswith(("http://", "https://")):
        return f"{setting} must start with http:// or https://, got {shown!r}"
    bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        return f"{setting} {shown!r} is not a usable http(s) address: it holds {bad!r}"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError as exc:
        return f"{setting} {shown!r} is not a usable http(s) address: {exc}"
    if not parts.hostname:
        return f"{setting} {shown!r} is not a usable http(s) address: it has no host"
    if port == 0:
        return f"{setting} {shown!r} is not a usable http(s) address: port 0"
    return None
