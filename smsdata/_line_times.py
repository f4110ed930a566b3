"""Report times in UTC: naive times in the gateway's zone, and the years a report time may fall in.

:func:`localize` reads naive local times (both of ingest's paths use it); a
report time outside 2000-2099 (:data:`EARLIEST_US` to :data:`LATEST_US`) is
impossible, not guessed at.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._renamed import renamed

# Years 2000-2099, in microseconds since the epoch.
EARLIEST_US = 946_684_800_000_000
LATEST_US = 4_102_444_800_000_000


@renamed(tz="source_tz")
def localize(local_us: np.ndarray, source_tz: str) -> np.ndarray:
    """UTC microseconds of naive local times in ``source_tz`` (ambiguous and missing times: the earlier).

    ``source_tz`` is the zone naive *input* times are read in, as in :func:`smsdata.report_lines.parse_chunk`
    (``tz`` elsewhere is the zone results are shown or cut in).

    Arrow converts each value through the zone's rules (about 35 ns a value). Offsets
    change only at whole minutes (true of every zone since 1970), so when the values
    span less than :data:`_GRID_MINUTES`, Arrow converts one value per minute of the
    span instead and each value takes its minute's offset; values in a minute where
    the offset changes (a DST gap or overlap) are converted one by one as before.
    """
    if not len(local_us):
        return local_us.copy()
    first = int(local_us.min()) // _MINUTE_US * _MINUTE_US
    minutes = (int(local_us.max()) - first) // _MINUTE_US + 1
    if minutes > _GRID_MINUTES or minutes * 8 > len(local_us):  # too wide, or too few values to gain
        return assume_zone(local_us, source_tz)
    grid = first + np.arange(minutes + 1, dtype=np.int64) * _MINUTE_US
    offsets = grid - assume_zone(grid, source_tz)
    minute = (local_us - first) // _MINUTE_US
    utc = local_us - offsets[minute]
    changing = np.flatnonzero(offsets[minute] != offsets[minute + 1])
    if len(changing):
        utc[changing] = assume_zone(local_us[changing], source_tz)
    return utc


_MINUTE_US = 60_000_000
_GRID_MINUTES = 2_000_000  # about 4 years


def assume_zone(local_us: np.ndarray, tz: str) -> np.ndarray:
    naive = pa.array(local_us, type=pa.timestamp("us"))
    aware = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return aware.cast(pa.int64()).to_numpy(zero_copy_only=False)
