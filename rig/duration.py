"""The one grammar for durations, used by every option that takes one.

    90        seconds (a plain number, decimals allowed)
    90s 30m 2h          one unit
    1h30m 1h30m15s      several, largest first, each unit once
    1.5h 2m30.5s        decimals in any part

Spaces between parts are allowed ("1h 30m"); case is not significant.
"""

from __future__ import annotations

import re

from rig.errors import ConfigError

_NUMBER = r"\d+(?:\.\d+)?"
_PARTS = re.compile(
    rf"(?:(?P<h>{_NUMBER})h)?\s*(?:(?P<m>{_NUMBER})m)?\s*(?:(?P<s>{_NUMBER})s)?", re.IGNORECASE
)
EXAMPLES = "90, 90s, 30m, 1h30m, 1.5h"


def parse_duration(text: str, *, what: str = "duration", allow_zero: bool = False) -> float:
    """Seconds in `text`; ConfigError naming `what` and the grammar if it is not one."""
    t = text.strip()
    if re.fullmatch(_NUMBER, t):
        seconds = float(t)
    else:
        m = _PARTS.fullmatch(t)
        if not t or m is None or not any(m.groupdict().values()):
            raise ConfigError(f"malformed {what} {text!r}: use e.g. {EXAMPLES}")
        seconds = sum(
            float(m.group(unit) or 0) * scale for unit, scale in (("h", 3600), ("m", 60), ("s", 1))
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{what} {text!r} must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest text parse_duration reads back as `seconds` (whole seconds)."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return out or "0s"
