"""Compiled loops for the hot path of ingest: scanning canonical report lines, hashing and
deduplicating report keys.

numba compiles these to machine code on first use (cached on disk, so later processes
start at once) and they release the GIL, so ingest's worker threads run them in
parallel. Each is one pass over bytes that numpy would need a dozen passes and
temporaries for; this is what lets ingest keep pace with the clean CSV readers of
pyarrow, polars and DuckDB (bench/ingest.py).

The rules here are a subset of :mod:`smsdata.report_lines`' general path, which stays
the definition: every line these loops do not take whole goes there, and a test checks
that both agree on every line the scanner accepts.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["dedupe", "gather", "group_order", "key_hashes", "pack", "scan", "sort_order", "unpack"]

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")

_MSGID_BYTES = np.zeros(256, dtype=np.bool_)
_MSGID_BYTES[list(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.:-")] = True
# Statuses are upper-cased: lower-case letters are allowed and converted.
_STATUS_BYTES = np.zeros(256, dtype=np.bool_)
_STATUS_BYTES[list(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:_./-")] = True
_TIME_BYTES = np.zeros(256, dtype=np.bool_)
_TIME_BYTES[list(b"0123456789-/ T:")] = True
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_REPORT = np.frombuffer(b"Report=", dtype=np.uint8)
_MSGID_MAX, _STATUS_MAX, _MOBILE_LEN = 24, 16, 11
# A record is 8 little-endian 64-bit words (64 bytes); see smsdata._records for the layout.
WORDS = 8
MSGID_AT, STATUS_AT = 0, 32  # bytes, zero-padded to 24 and 16
MOBILE, TIME, RECEIVED = 3, 6, 7  # words
KEY_WORDS = 7  # msgid, mobile, status and time: the key
_US = 1_000_000
_EARLIEST_US, _LATEST_US = 946_684_800_000_000, 4_102_444_800_000_000  # 2000-01-01, 2100-01-01
# Where the receiver's "YYYY-MM-DDTHH:MM:SS.ffffffZ\t" stamp ends and the report begins.
_STAMP = 28
# Kinds of time in the scanner's output.
NAIVE, UTC = 1, 2


@numba.njit(inline="always", error_model="numpy")
def _number(buf, at, width):
    """The decimal number in ``buf[at:at+width]``, or -1 if a byte is not a digit."""
    value = 0
    for k in range(width):
        digit = np.int64(buf[at + k]) - 48
        if digit < 0 or digit > 9:
            return -1
        value = value * 10 + digit
    return value


@numba.njit(inline="always", error_model="numpy")
def _civil_us(year, month, day, hour, minute, second):
    """Microseconds since 1970 of a calendar time, or -1 if it does not exist (any part -1 included)."""
    if year < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23:
        return -1
    if minute < 0 or minute > 59 or second < 0 or second > 59:
        return -1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _MONTH_DAYS[month] or (month == 2 and day == 29 and not leap):
        return -1
    # Days from the civil date (H. Hinnant's algorithm, proleptic Gregorian).
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 * _US + second * _US


@numba.njit(inline="always", error_model="numpy")
def _calendar_us(buf, p, gap):
    """``YYYY?MM?DD?HH?MM?SS`` at ``p``, each part ``gap`` bytes after the last (1 between
    separators, 0 for the compact form; separators checked by the caller)."""
    return _civil_us(
        _number(buf, p, 4),
        _number(buf, p + 4 + gap, 2),
        _number(buf, p + 6 + 2 * gap, 2),
        _number(buf, p + 8 + 3 * gap, 2),
        _number(buf, p + 10 + 4 * gap, 2),
        _number(buf, p + 12 + 5 * gap, 2),
    )


@numba.njit(inline="always", error_model="numpy")
def _report_time(buf, t, q):
    """``(microseconds, kind)`` of the time in ``buf[t:q]``; kind 0 when it is not a scanner format."""
    width = q - t
    if width == 19:
        if (buf[t + 4] != 45 and buf[t + 4] != 47) or (buf[t + 7] != 45 and buf[t + 7] != 47):  # - or /
            return -1, 0
        if (buf[t + 10] != 32 and buf[t + 10] != 84) or buf[t + 13] != 58 or buf[t + 16] != 58:
            return -1, 0
        us = _calendar_us(buf, t, 1)
        return us, (NAIVE if us >= 0 else 0)
    if width == 14:
        us = _calendar_us(buf, t, 0)
        return us, (NAIVE if us >= 0 else 0)
    if width == 10 or width == 13:
        value = _number(buf, t, width)
        if value < 0:
            return -1, 0
        return value * (_US if width == 10 else 1_000), UTC
    return -1, 0


@numba.njit(inline="always", error_model="numpy")
def _stamp_us(buf, p):
    """The receiver's stamp at ``p`` (28 bytes are there), in UTC microseconds, or -1."""
    if buf[p + 4] != 45 or buf[p + 7] != 45 or buf[p + 10] != 84 or buf[p + 13] != 58 or buf[p + 16] != 58:
        return -1
    if buf[p + 19] != 46 or buf[p + 26] != 90 or buf[p + 27] != 9:
        return -1
    us = _calendar_us(buf, p, 1)
    fraction = _number(buf, p + 20, 6)
    if us < _EARLIEST_US or us >= _LATEST_US or fraction < 0:  # as the general parser: 2000-2099
        return -1
    return us + fraction


@numba.njit(inline="always", error_model="numpy")
def _field(buf, start, allowed, longest):
    """The length of a field of 1 to ``longest`` ``allowed`` bytes ending in a comma, or -1."""
    c = start
    while allowed[buf[c]]:
        c += 1
    if buf[c] != 44 or c == start or c - start > longest:
        return -1
    return c - start


@numba.njit(inline="always", error_model="numpy")
def _canonical(buf, b, record, words):
    """Parse a canonical report at ``b`` into a zeroed record (``record`` its bytes, ``words`` the
    same as int64); the offset of the line's ``\\n`` and the kind of its time, or ``(-1, 0)``
    if the line is not canonical (the record is then left as it was)."""
    for k in range(7):
        if buf[b + k] != _REPORT[k]:
            return -1, 0
    m = b + 7
    msgid_len = _field(buf, m, _MSGID_BYTES, _MSGID_MAX)
    if msgid_len < 0:
        return -1, 0
    mob = m + msgid_len + 1
    if buf[mob] != 49 or buf[mob + 1] < 51 or _number(buf, mob, _MOBILE_LEN) < 0 or buf[mob + _MOBILE_LEN] != 44:
        return -1, 0
    s = mob + _MOBILE_LEN + 1
    status_len = _field(buf, s, _STATUS_BYTES, _STATUS_MAX)
    if status_len < 0:
        return -1, 0
    t = s + status_len + 1
    q = t
    while _TIME_BYTES[buf[q]]:
        q += 1
    end = q + 1 if buf[q] == 13 else q
    if buf[end] != 10:
        return -1, 0
    when, kind = _report_time(buf, t, q)
    if not kind:
        return -1, 0
    for k in range(msgid_len):  # loops, not slices: no array views made per row
        record[MSGID_AT + k] = buf[m + k]
    for k in range(status_len):
        byte = buf[s + k]
        record[STATUS_AT + k] = byte - 32 if 97 <= byte <= 122 else byte
    words[MOBILE] = _number(buf, mob, _MOBILE_LEN)
    words[TIME] = when
    return end, kind


@_jit
def scan(buf):
    """Scan complete lines (``buf`` is uint8 and ends with ``\\n``) for canonical reports.

    A canonical line is, after an optional receiver stamp and before an optional
    ``\\r``: ``Report=`` + a msgid of 1-24 allowed bytes + a mobile of 11 digits
    starting ``1[3-9]`` + a status of 1-16 allowed bytes (upper-cased) + a time as
    ``YYYY-MM-DD HH:MM:SS`` (``/`` and ``T`` allowed), ``YYYYMMDDHHMMSS``, Unix
    seconds (10 digits) or milliseconds (13), each a real calendar time.

    Returns:
        ``starts`` (byte offset of every line), ``rest`` (indexes of the lines that are
        not canonical), the canonical lines' records (uint64, ``(n, WORDS)``) with the
        time as read, and its kind for each (:data:`NAIVE` local time, or :data:`UTC`).
    """
    count = 0
    for i in range(buf.size):
        if buf[i] == 10:
            count += 1
    starts = np.empty(count, np.int64)
    rest = np.empty(count, np.int64)
    records = np.zeros((count, WORDS), np.uint64)
    kinds = np.empty(count, np.int8)
    data = records.view(np.uint8)
    numbers = records.view(np.int64)
    good = 0
    bad = 0
    p = 0
    # Every check below fails on a line break (no rule allows byte 10), so a line is parsed
    # forward without finding its end first; only a line that fails is searched for it.
    for line in range(count):
        starts[line] = p
        stamp = _stamp_us(buf, p) if p + _STAMP <= buf.size else -1
        b = p + _STAMP if stamp >= 0 else p
        end, kind = _canonical(buf, b, data[good], numbers[good])
        if end >= 0:
            numbers[good, RECEIVED] = stamp
            kinds[good] = kind
            good += 1
        else:
            end = p
            while buf[end] != 10:
                end += 1
            rest[bad] = line
            bad += 1
        p = end + 1
    return starts, rest[:bad], records[:good], kinds[:good]


@_jit
def key_hashes(records, seed=0):
    """A 64-bit hash of each record's key (msgid, mobile, status, time): uint64 per record.

    Equal keys have equal hashes; unequal keys rarely do, and every user of the hash
    compares the keys themselves before calling two records the same. Words are folded
    by multiplication, then the result is mixed once (splitmix64's finaliser). Stored
    hashes use seed 0; a hash table uses a secret seed, so that keys crafted to share a
    hash (possible with a known seed) cannot turn its look-ups quadratic.
    """
    out = np.empty(records.shape[0], np.uint64)
    start = np.uint64(0x243F6A8885A308D3) ^ np.uint64(seed)
    for i in range(records.shape[0]):
        h = start
        for w in range(KEY_WORDS):
            h = (h ^ records[i, w]) * np.uint64(0x9E3779B97F4A7C15)
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[i] = h ^ (h >> np.uint64(31))
    return out


@numba.njit(inline="always", error_model="numpy")
def _same_key(records, i, j):
    for w in range(KEY_WORDS):
        if records[i, w] != records[j, w]:
            return False
    return records[i, TIME] == records[j, TIME]


@_jit
def dedupe(records, hashes):
    """Which records are the first of their key, and the earliest received stamp of each key.

    Keys are compared exactly (the hash only finds candidates); the earliest stamp
    ignores the -1s (no stamp).

    Returns:
        ``first`` (indexes of the first record of each distinct key, in order) and
        ``earliest`` (its key's earliest received stamp, -1 if none had one).
    """
    n = records.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slots = np.full(size, -1, np.int64)
    owner = np.empty(n, np.int64)
    received = records[:, RECEIVED].view(np.int64)
    earliest = received.copy()
    for i in range(n):
        slot = hashes[i] & mask
        while True:
            j = slots[slot]
            if j < 0:
                slots[slot] = i
                owner[i] = i
                break
            if hashes[j] == hashes[i] and _same_key(records, i, j):
                owner[i] = j
                if received[i] >= 0 and (earliest[j] < 0 or received[i] < earliest[j]):
                    earliest[j] = received[i]
                break
            slot = (slot + np.uint64(1)) & mask
    first = np.flatnonzero(owner == np.arange(n))
    return first, earliest[first]


@_jit
def unpack(records, at, width):
    """A string slot of each record (``width`` bytes from byte ``at``, zero-padded) as Arrow
    string buffers: offsets (int32) and bytes."""
    data = records.view(np.uint8)
    n = records.shape[0]
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = 0
    out = np.empty(n * width, np.uint8)
    end = 0
    for i in range(n):
        for k in range(width):
            byte = data[i, at + k]
            if byte == 0:
                break
            out[end] = byte
            end += 1
        offsets[i + 1] = end
    return offsets, out[:end]


@_jit
def pack(records, at, offsets, data):
    """Write strings (Arrow buffers: ``offsets``, ``data``) into a zeroed slot of each record
    (the caller checks they fit and hold no zero byte)."""
    out = records.view(np.uint8)
    for i in range(records.shape[0]):
        start = offsets[i]
        for k in range(offsets[i + 1] - start):
            out[i, at + k] = data[start + k]


@_jit
def sort_order(keys):
    """The stable order that sorts uint64 ``keys`` (an LSD radix sort: linear in the rows).

    Only as many 16-bit passes as the largest key needs are made, so report times
    relative to their day (37 bits) take three.
    """
    n = keys.size
    order = np.arange(n)
    if n < 2:
        return order
    largest = keys.max()
    scratch = np.empty(n, np.int64)
    counts = np.empty(65_537, np.int64)
    shift = np.uint64(0)
    while shift < np.uint64(64) and (largest >> shift) > np.uint64(0):
        counts[:] = 0
        for i in range(n):
            counts[((keys[order[i]] >> shift) & np.uint64(0xFFFF)) + np.uint64(1)] += 1
        for d in range(1, 65_537):
            counts[d] += counts[d - 1]
        for i in range(n):
            digit = (keys[order[i]] >> shift) & np.uint64(0xFFFF)
            scratch[counts[digit]] = order[i]
            counts[digit] += 1
        order, scratch = scratch, order
        shift += np.uint64(16)
    return order


@_jit
def group_order(groups, count):
    """The stable order that sorts small non-negative ints ``groups`` (< ``count``), and where
    each group starts in it (``count + 1`` bounds): a counting sort."""
    bounds = np.zeros(count + 1, np.int64)
    for g in groups:
        bounds[g + 1] += 1
    for g in range(count):
        bounds[g + 1] += bounds[g]
    cursor = bounds[:-1].copy()
    order = np.empty(groups.size, np.int64)
    for i in range(groups.size):
        order[cursor[groups[i]]] = i
        cursor[groups[i]] += 1
    return order, bounds


@_jit
def gather(buf, starts, stops):
    """Bytes ``[starts[i], stops[i])`` of ``buf``, one after another (uint8)."""
    total = 0
    for i in range(starts.size):
        total += stops[i] - starts[i]
    out = np.empty(total, np.uint8)
    at = 0
    for i in range(starts.size):
        for k in range(starts[i], stops[i]):
            out[at] = buf[k]
            at += 1
    return out
