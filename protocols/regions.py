"""Region codes (行政区划代码, GB/T 2260): the card's issuing region, birthplace and other region items by name.

The table (``protocols/data/gbt2260.tsv``) holds every county-level-and-up code of the Ministry of Civil Affairs'
lists since 1981, retired codes included: a birthplace is the code of the place when the holder was born, and
the ID number keeps it after the place is merged or renamed. The file's header and docs/sources.md §11 give its
source and date; ``scripts/make_code_tables.py`` regenerates it.

The lists leave out the grouping codes GB/T 2260 also has and cards may carry: ``XXYY01`` (a city's 市辖区, its
districts together), ``XX0100``/``XX0200`` of the four municipalities (市辖区, 县) and ``XX9000`` (a province's
directly administered county-level divisions). They are named here by their parent. Any other code not in the
table is unknown: ``lookup`` answers None and the caller shows the code as it is.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

MUNICIPALITIES = frozenset({"11", "12", "31", "50"})   # 北京, 天津, 上海, 重庆


@dataclass(frozen=True, slots=True)
class Region:
    """A region code's full name ('广东省广州市天河区') and, for a code no longer in use, the year it was retired."""

    code: str
    name: str
    retired: int | None = None


@functools.cache
def _table() -> dict[str, tuple[str, int | None]]:
    text = resources.files("protocols").joinpath("data/gbt2260.tsv").read_text(encoding="utf-8")
    table: dict[str, tuple[str, int | None]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, name, retired = line.split("\t")
            table[code] = (name, int(retired) if retired else None)
    return table


def lookup(code: str) -> Region | None:
    """The region a 6-digit code names, or None for a code the lists never had (and anything not 6 digits)."""
    code = code.strip()
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    table = _table()
    if code in table:
        name, retired = table[code]
        return Region(code, name, retired)
    province, prefecture = code[:2] + "0000", code[:4] + "00"
    if code.endswith("01") and prefecture in table:                    # 市辖区 of a city
        name, retired = table[prefecture]
        return Region(code, name + "市辖区", retired)
    if code[:2] in MUNICIPALITIES and code[2:] in ("0100", "0200") and province in table:
        return Region(code, table[province][0])
    if code[2:] == "9000" and province in table:                        # 省直辖县级行政区划
        return Region(code, table[province][0] + "省直辖县级行政区划")
    return None


def region_name(code: str) -> str:
    """'440100' -> '广东省广州市'; a code the table does not know comes back as it is."""
    region = lookup(code)
    return region.name if region else code


def is_province(prefix: str) -> bool:
    """Whether two digits are a province-level code of GB/T 2260 (the first two digits of every region code
    and of a citizen ID number's address code, GB 11643-1999 clause 6.1)."""
    return len(prefix) == 2 and prefix.isascii() and prefix.isdigit() and prefix + "0000" in _table()
