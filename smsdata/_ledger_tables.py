"""The ledger's tables: the schema, the columns added since, the time format, the sends query.

Plain SQL text and helpers that :class:`~smsdata.ledger.Ledger` and a sending
run's batches (:mod:`smsdata._leases`) build on; nothing here opens a database.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

ANSWERED = "('accepted', 'rejected', 'unknown')"
"""The states of requests that went out and are settled (SQL): what the warehouse mirrors."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    segments    INTEGER NOT NULL,
    price       TEXT NOT NULL DEFAULT '1'
);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY,
    campaign    TEXT NOT NULL REFERENCES campaigns(name),
    seq         INTEGER NOT NULL,
    content     TEXT NOT NULL,
    mobiles     TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    segments    INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('planned', 'in_flight', 'accepted', 'rejected', 'unknown')),
    code        TEXT,
    message     TEXT,
    msgid       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     TEXT,
    finished_at TEXT,
    claimed_by  TEXT,
    UNIQUE (campaign, seq)
);
CREATE INDEX IF NOT EXISTS requests_state ON requests (campaign, state);
CREATE TABLE IF NOT EXISTS recipients (
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    row         TEXT,
    mobile      TEXT NOT NULL,
    carrier     TEXT
);
CREATE INDEX IF NOT EXISTS recipients_request ON recipients (request_id);
CREATE TABLE IF NOT EXISTS leases (
    campaign     TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    machine      TEXT NOT NULL,
    process      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (
    at          TEXT NOT NULL,
    value       TEXT NOT NULL,
    campaign    TEXT,
    note        TEXT
);
"""

# Customer attributes kept by plan_campaign(keep=[...]) are recipients' columns "attr:NAME".
ATTRIBUTE = "attr:"


def quote(name: str) -> str:
    """``name`` as an SQL identifier (double-quoted)."""
    return '"' + name.replace('"', '""') + '"'


# Columns added after the first release, for ledgers created before them.
ADDED_COLUMNS = (
    ("campaigns", "price", "TEXT NOT NULL DEFAULT '1'"),
    ("requests", "claimed_by", "TEXT"),
)


def utcnow() -> str:
    """Now, in UTC, as ISO 8601 text (the ledger's time format)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sends_sql(kept: list[str], *, content: bool) -> str:
    """The SELECT of one row per recipient, with the ``kept`` customer columns (and ``content`` or not)."""
    attributes = "".join(f", r.{quote(c)} AS {quote(c[len(ATTRIBUTE) :])}" for c in kept)
    text = " q.content," if content else ""
    return (
        f"SELECT q.campaign, q.id AS request_id, q.msgid, r.mobile,{text} q.segments, q.state, "  # noqa: S608
        f"q.code, q.sent_at, r.carrier, r.row, c.price{attributes} FROM recipients r "
        "JOIN requests q ON q.id = r.request_id JOIN campaigns c ON c.name = q.campaign"
    )


def typed_sends(frame: pd.DataFrame, kept: list[str]) -> pd.DataFrame:
    """Type the columns of a :func:`sends_sql` frame: times UTC, numbers numeric, kept columns text."""
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True, format="ISO8601")
    frame["segments"] = frame["segments"].astype("int64")
    frame["price"] = frame["price"].astype("float64")
    for column in kept:
        name = column[len(ATTRIBUTE) :]
        frame[name] = frame[name].astype("str").where(frame[name].notna(), pd.NA)
    return frame
