"""The gateway's answers: :func:`parse_answer` (lenient), :class:`SendResult` and :class:`Balance`.

Gateways answer in JSON, but not always valid JSON (the document's own success
example is malformed), in UTF-8 or GB18030: everything here reads what comes back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ProtocolError


@dataclass(frozen=True)
class SendResult:
    """An accepted send: ``msgid`` keys the delivery reports of every number in it.

    ``msgid`` is ``""`` if the gateway accepted without giving one (never seen,
    but the document does not promise it).
    """

    msgid: str
    code: int | str
    message: str


@dataclass(frozen=True)
class Balance:
    """The account balance: ``value`` parsed from ``respMsg``, ``raw`` as received."""

    value: Decimal
    raw: str


_FIELD_RE = re.compile(
    r'"(status|respCode|respMsg|msgid)"\s*:\s*'
    r'(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|null|true|false)',
    re.IGNORECASE,
)
_KEYS = {"status": "status", "respcode": "respCode", "respmsg": "respMsg", "msgid": "msgid"}
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def decode(content: bytes) -> str:
    """Decode an answer: UTF-8 (BOM or not), else GB18030 (Chinese gateways), else Latin-1."""
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(codec)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _normalise_code(value: Any) -> int | str:
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_answer(body: str, status_code: int | None = None) -> dict[str, Any]:
    """Parse a gateway answer into ``{status, respCode, respMsg, msgid}``, leniently.

    Strict JSON first; when that fails (the document's own success example
    ends ``"msgid":"123""}``) each known field is recovered on its own.
    ``respCode`` comes back as an ``int`` where numeric, else the raw string.

    Raises:
        ProtocolError: neither ``respCode`` nor ``status`` can be recovered.

    >>> parse_answer('{"status":"success","respCode":"0","respMsg":"ok", "msgid":"123""}')["msgid"]
    '123'
    """
    text = body.strip().lstrip("\ufeff")
    fields: dict[str, Any] = {}
    # The document's own success shape ("msgid":"123""}) is the common case: mend it first
    # rather than after a failed parse (an exception per answer).
    parsed = _loads(text[:-3] + '"}') if text.endswith('""}') else None
    if parsed is None:
        parsed = _loads(text)
    if isinstance(parsed, dict):
        fields = {_KEYS[k.lower()]: v for k, v in parsed.items() if k.lower() in _KEYS}
    else:
        for match in _FIELD_RE.finditer(text):
            key = _KEYS[match.group(1).lower()]
            if key in fields:
                continue
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            if raw is not None and match.group(2) is not None:
                try:
                    raw = json.loads(f'"{raw}"')  # undo \" and \uXXXX escapes
                except ValueError:
                    pass
            fields[key] = raw
    status = str(fields.get("status") or "").strip().lower()
    if fields.get("respCode") is None:
        if status == "success":
            fields["respCode"] = 0
        else:
            raise ProtocolError("not a gateway answer", status_code=status_code, body=body)
    fields["respCode"] = _normalise_code(fields["respCode"])
    fields["status"] = status
    fields["respMsg"] = "" if fields.get("respMsg") is None else str(fields["respMsg"])
    fields["msgid"] = "" if fields.get("msgid") is None else str(fields["msgid"]).strip()
    if fields["respCode"] == 0 and status == "error":
        raise ProtocolError("answer says both success (0) and error", status_code=status_code, body=body)
    return fields


def number_in(text: str) -> Decimal | None:
    """The first number in ``text`` (thousands separators allowed), or ``None``."""
    match = _NUMBER_RE.search(text.replace(",", ""))
    try:
        return Decimal(match.group(0)) if match else None
    except InvalidOperation:
        return None
