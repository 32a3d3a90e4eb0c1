"""What text the service accepts: what every output can carry.

XML 1.0 (the processing reports, a CV's PDF metadata) cannot carry C0 control characters
other than tab, line feed and carriage return, nor U+FFFE and U+FFFF; no encoding carries a
lone surrogate; PostgreSQL text cannot hold U+0000.  Input holding one is refused where it
enters (the API's request guard, the CSV imports), not where it would break an output.
"""

from __future__ import annotations

import re

#: Characters no stored text may hold (NUL included).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def forbidden_character(text: str) -> str | None:
    """The first forbidden character of ``text`` as ``U+XXXX``, or None."""
    found = FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
