"""Durations as people type them: `90s`, `5m`, `1h30m`, `5 minutes`, `2 days`, `1 hour 30 min`.

The control API takes `{"seconds": n}` or the compact `{"duration": "1h30m"}` (contract:
Control API); the words are the command line's, so the CLI turns them into seconds here and
the API's grammar stays as the contract fixes it.
"""

from __future__ import annotations

import re

UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001,
    "millisecond": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}

_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?")
_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")


def _unit(word: str) -> float | None:
    if word in UNIT_SECONDS:
        return UNIT_SECONDS[word]
    # "minutes", "days", "secs", "hrs": the plural of a unit above.
    if word.endswith("s") and word[:-1] in UNIT_SECONDS and len(word) > 2:
        return UNIT_SECONDS[word[:-1]]
    return None


def parse_words(text: str) -> float:
    """Seconds in `text`: a plain number (seconds) or number-unit pairs, the unit joined to its
    number or not (`5m`, `5 m`, `5 minutes`, `1h30m`, `1 hour, 30 minutes`). ValueError
    naming the accepted forms on anything else."""
    lowered = text.strip().lower()
    if _NUMBER.fullmatch(lowered):
        return float(lowered)
    seconds = 0.0
    pos = 0
    while pos < len(lowered):
        match = _PART.match(lowered, pos)
        unit = None if match is None else _unit(match.group(2))
        if match is None or unit is None:
            raise ValueError(
                f"{text!r} is not a duration: use 90s, 5m, 1h30m, 2d, 5 minutes, 2 days "
                "or plain seconds."
            )
        seconds += float(match.group(1)) * unit
        pos = match.end()
    if pos == 0:
        raise ValueError("the duration is empty: use 90s, 5m, 1h30m, 2d or 5 minutes.")
    return seconds
