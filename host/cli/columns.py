"""Text in terminal columns: CJK characters take two (tables of ``read``, ``trace`` and ``shell``)."""
from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """Left-justify by display width (CJK characters take two columns)."""
    return text + " " * max(0, width - display_width(text))
