"""Every error smsdata raises, rooted in one class.

The tree::

    SmsdataError                   anything smsdata raises on purpose
    ├── ConfigError (ValueError)   a setting or an option is missing or invalid: SMSDATA_*, a URL, concurrency=
    ├── GatewayError               the gateway answered with a failure code (code, message, body)
    │   ├── AuthError              send 1 / balance 1: uid or pwd empty or wrong
    │   ├── InvalidMobile          send 2: mobile empty or wrong
    │   ├── EmptyContent           send 3: content empty
    │   ├── ContentTooLong         send 4: content over 268 characters
    │   ├── InsufficientBalance    send 5: balance does not cover the message
    │   ├── TooManyMobiles         send 6: over 5,000 numbers in one request
    │   ├── SendFailed             send 7: the gateway failed to send
    │   └── AccountFrozen          send 8 / balance 2: account frozen
    ├── ProtocolError              the answer cannot be understood (status_code, snippet)
    ├── GatewayUnreachable         the request certainly did not reach the gateway
    ├── OutcomeUnknown             the request may have reached the gateway; no answer came back
    ├── CampaignError              a campaign cannot be read, planned, sent or resumed as asked
    │   ├── SheetError             a campaign file (.csv, .xlsx) cannot be read (path)
    │   ├── PlanError              plan_campaign's inputs cannot give a plan (a missing column, a bad price)
    │   │   └── TemplateError      a template is malformed or names a column the data lacks
    │   ├── CampaignBusy           another run is sending this campaign now (holder)
    │   ├── CampaignStopped        an account-level failure stopped a campaign midway (cause, result)
    │   └── LeaseLost              another run took this campaign over; this run stopped sending
    ├── LedgerError                the ledger cannot be opened or written (disk full, locked, corrupt)
    ├── IngestError                a report log cannot be read, or the dataset is locked or damaged
    ├── KpiError (ValueError)      a KPI's inputs cannot give it (missing column, bad freq, no Parquet)
    ├── ReportError                nothing to report (no sends, an unknown campaign) or the file cannot be written
    ├── ExportError                a table cannot be exported: format, a cell XLSX refuses (column, row), not writable
    └── ServerError                a local server (receiver, simulator) cannot start (address, open-file limit)

    KeyboardInterrupt
    └── CampaignInterrupted        Ctrl-C (or cancellation) stopped a campaign; what it did is recorded (result)

Every exception smsdata raises on purpose is one of these, with Python's own
convention kept for misuse of the language: a ``TypeError`` for a keyword that
does not exist, for a helper given one value where it takes many
(``normalise_mobiles(None)``, ``count_segments("abc")``), or for pickling a
:class:`~smsdata.config.Secret`. Data of the wrong kind given to a step is that
step's error (``plan_campaign(None)`` a ``PlanError``, a list given to a KPI a
``KpiError``). An option of the wrong type or value
(``workers="2"``, ``min_failures=2.5``, ``timeout="x"``) is the tree's own error
(a ``ConfigError``, or a ``KpiError`` for a KPI's), naming the option. A failure of a library smsdata uses
(httpx, DuckDB, openpyxl, OS errors) is translated into one of these at the
boundary where it happens, with the original as ``__cause__`` unless it could
hold a secret. No message or ``repr`` holds a password: the gateway's password
is redacted, and so is one written into a URL.

``GatewayError.code`` is an ``int`` where the gateway's ``respCode`` is numeric,
else the raw string. Errors raised by local validation before any request
carry the code the gateway would have answered and ``body=None``.

Account-level failures (:class:`AuthError`, :class:`InsufficientBalance`,
:class:`AccountFrozen`) have ``account_level = True``: retrying another
request will fail the same way, so a campaign stops on them.
"""

from __future__ import annotations

__all__ = [
    "AccountFrozen",
    "AuthError",
    "CampaignBusy",
    "CampaignError",
    "CampaignInterrupted",
    "CampaignStopped",
    "ConfigError",
    "ContentTooLong",
    "EmptyContent",
    "ExportError",
    "GatewayError",
    "GatewayUnreachable",
    "IngestError",
    "InsufficientBalance",
    "InvalidMobile",
    "KpiError",
    "LeaseLost",
    "LedgerError",
    "OutcomeUnknown",
    "PlanError",
    "ProtocolError",
    "ReportError",
    "SendFailed",
    "ServerError",
    "SheetError",
    "SmsdataError",
    "TemplateError",
    "TooManyMobiles",
]


class SmsdataError(Exception):
    """Root of every error smsdata raises on purpose."""


class ConfigError(SmsdataError, ValueError):
    """A setting or an option is missing or invalid; the message names it.

    A setting (``SMSDATA_URL``, ``SMSDATA_TZ``...), a gateway URL that is not a
    usable http(s) address, or a keyword option out of range (``concurrency=0``,
    ``chunk_bytes=0``). Also a :class:`ValueError`, as Python's own bad values are.
    """


class GatewayError(SmsdataError):
    """The gateway answered with a failure ``respCode``.

    Attributes:
        code: the gateway's ``respCode``, an ``int`` where numeric, else the raw string.
        message: the gateway's ``respMsg`` (or our own words for local validation).
        body: the raw answer body as text, or ``None`` when raised before any request.
    """

    account_level = False

    def __init__(self, code: int | str, message: str, body: str | None = None) -> None:
        self.code = code
        self.message = message
        self.body = body
        super().__init__(f"gateway code {code}: {message}")

    def __reduce__(self):  # keep pickling (multiprocessing, joblib) working
        return (type(self), (self.code, self.message, self.body))


class AuthError(GatewayError):
    """Code 1: uid or pwd empty or wrong. Check SMSDATA_UID and SMSDATA_PWD."""

    account_level = True


class InvalidMobile(GatewayError):
    """Send code 2: the mobile list is empty or holds a wrong number."""


class EmptyContent(GatewayError):
    """Send code 3: the content is empty."""


class ContentTooLong(GatewayError):
    """Send code 4: the content is over the gateway's 268-character limit."""


class InsufficientBalance(GatewayError):
    """Send code 5: the balance does not cover the message. Top up, then resume."""

    account_level = True


class TooManyMobiles(GatewayError):
    """Send code 6: over 5,000 numbers in one request."""


class SendFailed(GatewayError):
    """Send code 7: the gateway failed to send this request."""


class AccountFrozen(GatewayError):
    """Send code 8 / balance code 2: the account is frozen. Contact the provider."""

    account_level = True


class ProtocolError(SmsdataError):
    """The answer cannot be understood (not JSON, no respCode, HTTP error page).

    Attributes:
        status_code: the HTTP status of the answer.
        snippet: the first 200 characters of the body, for diagnosis.
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        self.status_code = status_code
        self.snippet = body[:200]
        detail = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{message}{detail}; body starts: {self.snippet!r}")

    def __reduce__(self):
        return (_rebuild_protocol_error, (self.args[0], self.status_code, self.snippet))


def _rebuild_protocol_error(text: str, status_code: int | None, snippet: str) -> ProtocolError:
    exc = ProtocolError.__new__(ProtocolError)
    Exception.__init__(exc, text)
    exc.status_code, exc.snippet = status_code, snippet
    return exc


class GatewayUnreachable(SmsdataError):
    """The request certainly did not reach the gateway (refused, DNS, connect timeout).

    Safe to retry: nothing was sent.
    """


class OutcomeUnknown(SmsdataError):
    """The request may have reached the gateway but no answer came back.

    Never retried automatically: a resend could deliver the message twice.
    The gateway de-duplicates identical content to the same number, so a
    byte-identical resend is the safe way to settle it.
    """


class CampaignError(SmsdataError):
    """A campaign cannot be read, planned, sent or resumed as asked; nothing was sent.

    Raised as itself for a name that is not one line of text, a campaign name the
    ledger does not hold, a different plan under a stored name, a plan without
    recipients, or options that do not fit what was given. Its subclasses say more.
    """


class SheetError(CampaignError):
    """A campaign file cannot be read: missing, another kind of file, undecodable text, no such sheet.

    The message names the file and what to do (save it as UTF-8 CSV or .xlsx...).
    """


class PlanError(CampaignError):
    """:func:`~smsdata.planning.plan_campaign`'s inputs cannot give a plan: a missing column,
    both or neither of ``content=`` and ``template=``, a bad price, no suppression file."""


class TemplateError(PlanError):
    """A message template is malformed (an unmatched brace, a format spec) or names a column
    the data does not have."""


class CampaignStopped(CampaignError):
    """An account-level failure (auth, balance, frozen), an unreachable gateway or a lost lease
    stopped a campaign midway.

    What was not sent stays ``planned``; ``cause`` is the error, ``result`` the
    :class:`~smsdata.campaign.CampaignResult` so far. Fix the cause, then resume.
    """

    def __init__(self, message: str, cause: SmsdataError, result: object) -> None:
        super().__init__(message)
        self.cause = cause
        self.result = result


class CampaignBusy(CampaignError):
    """Another run holds this campaign's lease in the ledger: it is sending the campaign now.

    Nothing was sent or changed. ``holder`` describes that run (host, pid, since,
    last heartbeat). Wait for it to finish; a lease whose process is gone is
    taken over by the next run (at once on the same machine, after the lease
    time-out elsewhere).
    """

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLost(CampaignError):
    """Another run took over this campaign (this run's heartbeat had stopped for too long).

    This run claims nothing more; requests it had on the wire keep their true outcome.
    """


class LedgerError(SmsdataError):
    """The ledger cannot be opened or written (disk full, locked, corrupt); nothing was sent after it."""


class IngestError(SmsdataError):
    """A source cannot be read, or the dataset is locked or damaged (the message says which)."""


class KpiError(SmsdataError, ValueError):
    """The inputs cannot give the KPI asked for: a missing column, an unknown ``freq``, a path
    without Parquet, an input that is neither a DataFrame, a path nor a Spark DataFrame."""


class ReportError(SmsdataError):
    """The report cannot be made: nothing was sent, a campaign asked for does not exist, or the
    file cannot be written."""


class ExportError(SmsdataError):
    """A table cannot be exported to that path: an unknown suffix, over Excel's row limit, a
    cell a spreadsheet cannot hold (a control character, over 32,767 characters), or the file
    cannot be written. Nothing is left at the path.

    Attributes:
        column: the column of the cell refused, else ``None``.
        row: its index label (``None`` for the header, or when no cell is to blame).
    """

    def __init__(self, message: str, *, column: str | None = None, row: object = None) -> None:
        super().__init__(message)
        self.column = column
        self.row = row

    def __reduce__(self):
        return (_rebuild_export_error, (self.args[0], self.column, self.row))


def _rebuild_export_error(message: str, column: str | None, row: object) -> ExportError:
    return ExportError(message, column=column, row=row)


class ServerError(SmsdataError):
    """A local server (the receiver, the simulator) cannot start: the address is taken or not
    available, the open-file limit is below the connection limit, or it did not come up."""


class CampaignInterrupted(KeyboardInterrupt):
    """Ctrl-C, a notebook interrupt or task cancellation stopped a campaign, after recording it.

    A :class:`KeyboardInterrupt`, so that ``except Exception`` does not swallow a
    Ctrl-C. Requests already on the wire were answered and recorded; requests that
    never left are ``planned`` again; ``result`` is where the campaign stands.
    """

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


_SEND_CODES: dict[int, type[GatewayError]] = {
    1: AuthError,
    2: InvalidMobile,
    3: EmptyContent,
    4: ContentTooLong,
    5: InsufficientBalance,
    6: TooManyMobiles,
    7: SendFailed,
    8: AccountFrozen,
}
_BALANCE_CODES: dict[int, type[GatewayError]] = {1: AuthError, 2: AccountFrozen}


def send_error(code: int | str, message: str, body: str | None = None) -> GatewayError:
    """Build the exception for a failure code of ``/Message/send``."""
    cls = _SEND_CODES.get(code, GatewayError) if isinstance(code, int) else GatewayError
    return cls(code, message, body)


def balance_error(code: int | str, message: str, body: str | None = None) -> GatewayError:
    """Build the exception for a failure code of ``/Message/balance``."""
    cls = _BALANCE_CODES.get(code, GatewayError) if isinstance(code, int) else GatewayError
    return cls(code, message, body)
