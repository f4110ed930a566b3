"""Fault-injection points: a test makes a process interrupt or kill itself at an exact moment.

Timing a kill with a sleep depends on the machine; a named point does not.
``SMSDATA_FAULTS`` lists ``point:N=ACTION`` items, comma-separated: the Nth
time the process passes ``point``, it does ACTION: ``SIGINT`` (what Ctrl-C
sends), ``SIGKILL`` / ``SIGTERM`` (any signal name), ``print`` (a line
``smsdata-fault: point N`` on stderr, for a test to wait on), or
``wait:PATH`` (print that line, then hold still until the file PATH exists:
the test acts while this process is at the point, then lets it go on).

Points: ``claimed`` (a request committed in flight), ``written`` (its first
byte about to go on the wire), ``answered`` (its answer read, outcome not yet
recorded); in ingest, ``staged`` (a chunk's rows staged, nothing committed),
``committed`` (a run's offsets committed, its files not yet published) and
``published`` (one more of a committed run's files moved into place); in sync,
``synced_day``; in the receiver, ``appended`` (a batch of bodies written to the
day's log, not yet synced nor answered). Unset, a point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

__all__ = ["reached"]

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def _parse(spec: str) -> dict[str, tuple[int, str]]:
    faults = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        where, _, action = item.partition("=")
        point, _, count = where.partition(":")
        faults[point] = (int(count or 1), action or "SIGINT")
    return faults


_FAULTS = _parse(os.environ.get("SMSDATA_FAULTS", ""))


def reached(point: str) -> None:
    """Pass fault point ``point``; act if ``SMSDATA_FAULTS`` says so for this pass."""
    if point not in _FAULTS:
        return
    with _lock:
        _counts[point] += 1
        count = _counts[point]
    target, action = _FAULTS[point]
    if count != target:
        return
    if action == "print" or action.startswith("wait:"):
        print(f"smsdata-fault: {point} {count}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 60
        while action.startswith("wait:") and not Path(action[5:]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        signal.raise_signal(getattr(signal, action))
