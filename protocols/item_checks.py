"""The checks a value must pass before it is written to a card item: its format, then the item's rule.

Every way of writing an item goes through :func:`check_value` (``Item.check`` in ``protocols.profile``, where
each item names its rule): ``sscard write``, ``sscard card new`` and ``card batch`` (personalisation) and the
standard interface's iWriteCard. So a value one of them accepts, the others accept too.

The format check follows the item's encoding (docs/sources.md §2.5): ``an`` text must be GBK without NUL or
control characters and fit the item's bytes; ``cn`` holds ASCII decimal digits, at most two per byte; ``b``
holds hex digits for exactly the item's bytes. A rule then says what the value means:

* ``DATE``: a real calendar date, YYYYMMDD (docs/sources.md §2.5); ``YEAR_MONTH``: a month, YYYYMM (the 3-byte
  ``cn`` items of DF03 whose sample values are months, docs/sources.md §2.3);
* ``ID_NUMBER``: a citizen ID number, GB 11643-1999 公民身份号码: 17 digits (6 address, 8 birth date, 3 sequence)
  and a check character, ISO 7064:1983 MOD 11-2 over the 17 digits (clause 8.2; 10 is written ``X``);
* ``SEX``, ``ETHNICITY``, ``NATIONALITY``, ``POLITICAL_STATUS``: a code of the table in ``protocols.holder_codes``;
* ``REGION``: a six-digit region code whose first two digits are a province-level code of GB/T 2260;
* ``CARD_NUMBER``: 9 upper-case letters or digits (docs/sources.md §2.2, EF05 tag 07);
* ``NAME``: text that is not empty; ``DIGITS``, ``PHONE``, ``VERSION``: the characters those hold.

An empty value means an unset item and passes every rule but ``ID_NUMBER``, ``NAME`` and ``CARD_NUMBER``.
Errors are :class:`ItemValueError` (a ``ValueError``) whose ``kind`` says what is wrong: ``charset``,
``length`` or ``value``; the standard interface maps these to -41, -42 and -23. Messages name the item and the
position of what is wrong, never the value: values are names, ID numbers and dates of birth.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from protocols import holder_codes
from protocols.codecs import Fmt, check_date
from protocols.regions import is_province

CHARSET, LENGTH, VALUE = "charset", "length", "value"


class ItemValueError(ValueError):
    """A value an item cannot take. ``item`` names the item, ``kind`` is ``charset``, ``length`` or ``value``."""

    def __init__(self, item: str, problem: str, kind: str = VALUE) -> None:
        super().__init__(f"{item}: {problem}" if item else problem)
        self.item, self.problem, self.kind = item, problem, kind


class _Bad(Exception):
    """A rule's finding, before the item's name is put in front of it."""

    def __init__(self, problem: str, kind: str = VALUE) -> None:
        super().__init__(problem)
        self.problem, self.kind = problem, kind


@dataclass(frozen=True, slots=True)
class Rule:
    """What an item's value means: ``check`` raises on a value the item cannot hold; ``hint`` says what it
    takes (shown by ``sscard write --help``)."""

    name: str
    hint: str
    check: Callable[[str], None]
    required: bool = False       # the empty value (an unset item) is refused too


def _ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _first_bad(value: str, ok: Callable[[str], bool]) -> int:
    return next(i for i, c in enumerate(value, 1) if not ok(c))


def _digits_only(value: str, what: str = "a digit") -> None:
    if not _ascii_digits(value):
        raise _Bad(f"character {_first_bad(value, _ascii_digits)} is not {what}", CHARSET)


# --- rules -----------------------------------------------------------------------------------------------
def _date(value: str) -> None:
    try:
        check_date(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _year_month(value: str) -> None:
    _digits_only(value)
    if len(value) != 6:
        raise _Bad(f"{len(value)} digits; a month is YYYYMM (6 digits)")
    if not 1 <= int(value[4:]) <= 12 or value[:4] == "0000":
        raise _Bad("not a real month (YYYYMM)")


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)   # 2^(17-i) mod 11, ISO 7064 MOD 11-2
_CHECK = "10X98765432"                                              # check character by weighted sum mod 11


def id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character of 17 digits (ISO 7064:1983 MOD 11-2; 10 is ``X``)."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def check_id_number(value: str) -> None:
    """A citizen ID number of GB 11643-1999: 18 characters, 17 digits then a digit or ``X``, a real birth date in
    characters 7–14, and the right check character. ``ValueError`` naming what is wrong, never the value."""
    if len(value) != 18:
        raise ValueError(f"{len(value)} characters; a citizen ID number (GB 11643-1999) has 18")
    if not _ascii_digits(value[:17]):
        raise ValueError(f"character {_first_bad(value[:17], _ascii_digits)} is not a digit "
                         "(a citizen ID number is 17 digits and a check digit or X)")
    if not (_ascii_digits(value[17]) or value[17] == "X"):
        raise ValueError("character 18 is not a digit or an upper-case X (the check character)")
    try:
        check_date(value[6:14])
    except ValueError:
        raise ValueError("characters 7-14 are not a real birth date (YYYYMMDD)") from None
    if id_check_character(value[:17]) != value[17]:
        raise ValueError("the check character does not match (GB 11643-1999, ISO 7064 MOD 11-2): "
                         "a digit is mistyped")


def _id_number(value: str) -> None:
    try:
        check_id_number(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _code(table: str, codes: Collection[str], show: bool = True) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in codes:
            listed = f" ({', '.join(sorted(codes))})" if show else ""
            raise _Bad(f"not a code of {table}{listed}")
    return check


def _ethnicity(value: str) -> None:
    if value not in holder_codes.ETHNICITY:
        raise _Bad("not a code of GB/T 3304-1991 (two digits, 01 to 56; 97 other, 98 of foreign origin)")


def _region(value: str) -> None:
    _digits_only(value)
    if len(value) != 6:
        raise _Bad(f"{len(value)} digits; a region code (GB/T 2260) has 6")
    if not is_province(value[:2]):
        raise _Bad("digits 1-2 are not a province-level code of GB/T 2260")


def _card_number(value: str) -> None:
    def ok(c: str) -> bool:
        return c.isascii() and (c.isdigit() or c.isupper())
    if len(value) != 9:
        raise _Bad(f"{len(value)} characters; a card number has 9")
    if not all(ok(c) for c in value):
        raise _Bad(f"character {_first_bad(value, ok)} is not an upper-case letter or digit", CHARSET)


def _name(value: str) -> None:
    if not value.strip():
        raise _Bad("is empty")
    if value != value.strip():
        raise _Bad("starts or ends with a space")


def _phone(value: str) -> None:
    def ok(c: str) -> bool:
        return _ascii_digits(c) or c == "-"
    if not all(ok(c) for c in value):
        raise _Bad(f"character {_first_bad(value, ok)} is not a digit or '-'", CHARSET)
    if value and not (_ascii_digits(value[0]) and _ascii_digits(value[-1])):
        raise _Bad("a phone number starts and ends with a digit")


def _version(value: str) -> None:
    if not (len(value) in (3, 4) and value[1] == "." and _ascii_digits(value[0] + value[2:])):
        raise _Bad("not a version such as 2.00 or 3.00")


DATE = Rule("date", "YYYYMMDD, a real date", _date)
YEAR_MONTH = Rule("year_month", "YYYYMM, a real month", _year_month)
ID_NUMBER = Rule("id_number", "18-character citizen ID number with its check character (GB 11643-1999)",
                 _id_number, required=True)
SEX_CODE = Rule("sex", "GB/T 2261.1 code: 0, 1 (male), 2 (female), 9", _code("GB/T 2261.1-2003", holder_codes.SEX))
ETHNICITY_CODE = Rule("ethnicity", "GB/T 3304 code 01-56 (01 Han), 97, 98", _ethnicity)
NATIONALITY_CODE = Rule("nationality", "GB/T 2659 three-letter code (CHN)",
                        _code("GB/T 2659.1 (ISO 3166-1 alpha-3, e.g. CHN)", holder_codes.nationality_codes(),
                              show=False))
POLITICAL = Rule("political_status", "GB/T 4762 code 01-13 (13 群众)",
                 _code("GB/T 4762-1984", holder_codes.POLITICAL_STATUS))
REGION = Rule("region", "6-digit region code (GB/T 2260)", _region)
CARD_NUMBER = Rule("card_number", "9 upper-case letters or digits", _card_number, required=True)
NAME = Rule("name", "GBK text", _name, required=True)
DIGITS = Rule("digits", "digits", _digits_only)
PHONE = Rule("phone", "digits and '-'", _phone)
VERSION = Rule("version", "2.00, 3.00 …", _version)


# --- the check -------------------------------------------------------------------------------------------
def _check_format(fmt: Fmt, length: int, value: str) -> None:
    if fmt is Fmt.AN:
        if "\x00" in value:
            raise _Bad(f"character {value.index(chr(0)) + 1} is NUL", CHARSET)
        control = next((i for i, c in enumerate(value, 1) if ord(c) < 0x20 or ord(c) == 0x7F), 0)
        if control:
            raise _Bad(f"character {control} is a control character", CHARSET)
        try:
            raw = value.encode("gbk")
        except UnicodeEncodeError as exc:
            raise _Bad(f"character {exc.start + 1} cannot be encoded in GBK", CHARSET) from None
        if len(raw) > length:
            raise _Bad(f"{len(raw)} bytes in GBK, the item holds {length}", LENGTH)
    elif fmt is Fmt.CN:
        if value:
            _digits_only(value)
        if len(value) > 2 * length:
            raise _Bad(f"{len(value)} digits, the item holds {2 * length}", LENGTH)
    else:
        bad = next((i for i, c in enumerate(value, 1) if c not in "0123456789abcdefABCDEF"), 0)
        if bad:
            raise _Bad(f"character {bad} is not a hex digit", CHARSET)
        if len(value) != 2 * length:
            raise _Bad(f"{len(value) / 2:g} bytes, the item holds {length} ({2 * length} hex digits)", LENGTH)


def check_format(item: str, fmt: Fmt, length: int, value: str) -> None:
    """The value fits the item's encoding (characters and length); ``ItemValueError`` naming ``item`` if not."""
    try:
        _check_format(fmt, length, value)
    except _Bad as bad:
        raise ItemValueError(item, bad.problem, bad.kind) from None


def check_value(item: str, fmt: Fmt, length: int, rule: Rule | None, value: str) -> None:
    """The value fits the item's encoding and means what its rule says; ``ItemValueError`` naming ``item``."""
    check_format(item, fmt, length, value)
    if rule is None or (not value and not rule.required):
        return
    try:
        if not value:
            raise _Bad("is empty (this item is required)")
        rule.check(value)
    except _Bad as bad:
        raise ItemValueError(item, bad.problem, bad.kind) from None
