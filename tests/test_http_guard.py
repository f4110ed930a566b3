"""The guarded protocol's per-server state: nothing shared between servers of one process."""

from __future__ import annotations

import smsdata._http_guard as guard
from smsdata._http_guard import ConnectionLimits, guarded

LIMITS = ConnectionLimits(header_timeout=1, keep_alive_timeout=1, max_connections=2, max_header_bytes=1024)


def test_each_server_has_its_own_limits_counts_and_order_of_waits() -> None:
    first, second = guarded(LIMITS, None), guarded(LIMITS, None)
    assert first.counts is not second.counts
    assert [next(first.waits) for _ in range(3)] == [0, 1, 2]
    assert next(second.waits) == 0  # another server's connections do not move this one's order
    mutable = (list, dict, set)
    assert not [name for name, value in vars(guard).items() if isinstance(value, mutable) and not name.startswith("__")]
    assert not [name for name, value in vars(guard).items() if type(value).__name__ == "count"]
