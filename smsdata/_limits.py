"""The gateway's limits and the carriers' segment sizes, defined once.

gateway-api.txt: at most 5,000 numbers per request and 268 characters of
content (every character counts 1: a Chinese character, a letter, an emoji
alike). Carriers bill per segment: up to 70 characters is one segment; a
longer message is split into segments of 67 (the rest of each carries the
concatenation header).
"""

from __future__ import annotations

__all__ = ["MAX_CONTENT_CHARS", "MAX_MOBILES", "MULTI_SEGMENT", "SINGLE_SEGMENT"]

MAX_MOBILES = 5000
"""Numbers in one send request, at most."""
MAX_CONTENT_CHARS = 268
"""Characters of content in one send request, at most."""
SINGLE_SEGMENT = 70
"""Characters of a one-segment message, at most."""
MULTI_SEGMENT = 67
"""Characters of each segment of a longer message."""
