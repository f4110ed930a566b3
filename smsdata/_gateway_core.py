"""What :class:`~smsdata.gateway.Gateway` and :class:`~smsdata.gateway.AsyncGateway` share.

:class:`ClientCore` checks a send locally (:func:`mobile_list`, :func:`check_send`),
builds requests, turns answers into results or errors, and holds the retry policy
described in :mod:`smsdata.gateway`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx

from ._answers import Balance, SendResult, decode, number_in, parse_answer
from ._checks import at_least, positive
from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES
from ._transport import FORM, JSON, RequestBody, traced
from .config import Secret, shown_url, url_problem
from .errors import (
    ConfigError,
    ContentTooLong,
    EmptyContent,
    GatewayUnreachable,
    InvalidMobile,
    OutcomeUnknown,
    ProtocolError,
    TooManyMobiles,
    balance_error,
    send_error,
)

SEND_PATH = "/Message/send"
BALANCE_PATH = "/Message/balance"

log = logging.getLogger("smsdata.gateway")

Encoding = Literal["form", "json"]


def mobile_list(mobiles: str | Iterable[str]) -> list[str]:
    """Split ``mobiles`` (a comma-separated string or an iterable) into clean items.

    Spaces around items are removed and empty items dropped; no format check
    is made here (that is :mod:`smsdata.numbers`' job).

    Raises:
        InvalidMobile: an item of an iterable contains a comma.
    """
    if isinstance(mobiles, str):
        items = mobiles.replace("\uff0c", ",").split(",")
    else:
        items = [str(m) for m in mobiles]
        bad = next((m for m in items if "," in m), None)
        if bad is not None:
            raise InvalidMobile(2, f"a mobile contains a comma: {bad!r}")
    return [m.strip() for m in items if m.strip()]


def check_send(mobiles: list[str], content: str) -> None:
    """Raise what the gateway would answer, before spending a request on it."""
    if not content or not content.strip():
        raise EmptyContent(3, "content is empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise ContentTooLong(4, f"content is {len(content)} characters; the gateway takes at most {MAX_CONTENT_CHARS}")
    if not mobiles:
        raise InvalidMobile(2, "no mobile numbers given")
    if len(mobiles) > MAX_MOBILES:
        raise TooManyMobiles(6, f"{len(mobiles)} numbers; the gateway takes at most {MAX_MOBILES} per request")


_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~-]*")


def _path_problem(url: str) -> str | None:
    """What is wrong with the path of a usable http(s) ``url``, or ``None``. The paths go after it:
    a query, fragment, ``;`` parameters or escapes (``%3F``) would swallow them, and could hold
    a password no masking knows; so the message shows the host alone."""
    parts = urlsplit(url)
    if "?" not in url and "#" not in url and _PLAIN_PATH.fullmatch(parts.path):
        return None
    host = parts.netloc.rpartition("@")[2]
    return (
        f"the gateway URL {parts.scheme}://{host}/... must end in a plain path (letters, digits and / . _ ~ -), "
        "without a query (?), fragment (#), parameters (;) or escapes (%): /Message/send is added after it. "
        "Give the account as uid and pwd (SMSDATA_UID, SMSDATA_PWD)"
    )


def _usable_base(base_url: Secret) -> tuple[str, str | None]:
    """The base URL (``/Message/send`` and ``/Message/balance`` taken off) and what makes it
    unusable, in words with any password masked (``None``: usable). Never raises."""
    url = base_url.reveal().strip().rstrip("/")
    for suffix in (SEND_PATH, BALANCE_PATH):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    problem = url_problem(url, "the gateway URL")
    if problem is None:
        problem = _path_problem(url)
    if problem is None:
        try:  # what httpx itself refuses (an invalid IDNA host name...), refused now rather than at a send
            httpx.URL(url + SEND_PATH).host  # noqa: B018 (decoding the host is the check)
        except (httpx.InvalidURL, ValueError) as exc:
            problem = f"the gateway URL {shown_url(url)!r} is not a usable http(s) address: {shown_url(str(exc))}"
    return url, problem


class ClientCore:
    """What the blocking and async clients share: request building and answer parsing."""

    def __init__(
        self,
        base_url: str | Secret,
        uid: str,
        pwd: str | Secret,
        *,
        timeout: float,
        encoding: Encoding,
        retries: int,
        backoff: float,
        transport: object,
    ) -> None:
        # From here on a traceback's locals show neither the password nor a URL holding one.
        pwd = pwd if isinstance(pwd, Secret) else Secret(pwd)
        base_url = base_url if isinstance(base_url, Secret) else Secret(base_url)
        if encoding not in ("form", "json"):
            raise ConfigError(f"encoding must be 'form' or 'json', got {encoding!r}")
        url, problem = _usable_base(base_url)
        if problem is not None:
            del url
            raise ConfigError(problem)
        self.base_url = url
        self.uid = uid
        self._pwd = pwd
        self.timeout = positive(timeout, "timeout")
        self.encoding = encoding
        self.retries = at_least(retries, "retries", 0)
        self.backoff = positive(backoff, "backoff", zero=True)
        self._transport = transport
        self._traced = traced(transport)

    def __repr__(self) -> str:
        # getattr: a traceback with locals shows a client its constructor refused, before these were set
        shown = shown_url(getattr(self, "base_url", "?"))
        uid, encoding = getattr(self, "uid", "?"), getattr(self, "encoding", "?")
        return f"{type(self).__name__}(base_url={shown!r}, uid={uid!r}, encoding={encoding!r})"

    def _request(self, path: str, fields: dict[str, str]) -> tuple[httpx.URL, RequestBody, dict[str, str]]:
        """URL, encoded body and headers; the password lives only inside the body.

        The URL is an ``httpx.URL``, whose repr hides a password written into it
        (``http://acct:[secure]@host``): a traceback's locals hold it in every frame to the request.
        """
        payload = {"Uid": self.uid, "Pwd": self._pwd.reveal(), **fields}
        url = httpx.URL(self.base_url + path)
        if self.encoding == "form":
            return url, RequestBody(urlencode(payload).encode()), FORM
        return url, RequestBody(json.dumps(payload).encode()), JSON

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        """Parse the answer as received; only what an exception shows is redacted."""
        text = decode(response.content)
        try:
            return parse_answer(text, response.status_code)
        except ProtocolError:
            pass
        # Raised here, outside the except block: the unredacted error is in no chain.
        what = (
            "gateway error page; the request may or may not have been processed"
            if response.is_server_error
            else "not a gateway answer"
        )
        error = ProtocolError(what, status_code=response.status_code, body=self._pwd.redact(text))
        del text  # may hold the password: no local of a raising frame may (tracebacks show locals)
        raise error

    def _failure(self, fields: dict[str, Any], response: httpx.Response) -> tuple[int | str, str, str]:
        """``(code, message, body)`` of a failure answer, redacted for showing."""
        shown = self._pwd.redact
        return fields["respCode"], shown(fields["respMsg"]), shown(decode(response.content))

    def _send_result(self, response: httpx.Response, count: int) -> SendResult:
        fields = self._answer(response)
        code = fields["respCode"]
        log.debug("send of %d numbers -> code %s", count, code)
        if code != 0:
            error = send_error(*self._failure(fields, response))
            del fields  # may hold the password (see _answer)
            raise error
        if not fields["msgid"]:
            log.warning("the gateway accepted a send without a msgid; its reports cannot be matched")
        return SendResult(msgid=fields["msgid"], code=code, message=fields["respMsg"])

    def _balance_result(self, response: httpx.Response) -> Balance:
        fields = self._answer(response)
        if fields["respCode"] != 0:
            error = balance_error(*self._failure(fields, response))
        else:
            raw = fields["respMsg"]
            value = number_in(raw)
            if value is not None:
                return Balance(value=value, raw=raw)
            error = ProtocolError(
                "balance answer has no number in respMsg",
                status_code=response.status_code,
                body=self._pwd.redact(decode(response.content)),
            )
            del raw
        del fields  # may hold the password (see _answer)
        raise error

    def _should_retry(self, exc: Exception, attempt: int, *, idempotent: bool) -> bool:
        if attempt >= self.retries:
            return False
        if isinstance(exc, GatewayUnreachable):
            return True
        return idempotent and isinstance(exc, OutcomeUnknown | ProtocolError)

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, 30.0)
