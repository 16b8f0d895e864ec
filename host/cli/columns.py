"""Text in terminal columns: CJK characters take two (tables of ``read``, ``bank``, ``pki``, ``purse``, ``trace``
and ``shell``)."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """Left-justify by display width (CJK characters take two columns)."""
    return text + " " * max(0, width - display_width(text))


def label_table(rows: Sequence[tuple[str, str]]) -> str:
    """One line per ``(label, value)``, the values lined up two columns after the widest label (by display
    width)."""
    width = max(display_width(label) for label, _ in rows)
    return "\n".join(pad(label, width + 2) + value for label, value in rows)
