"""PIN pads (secure PIN entry): the PC/SC part 10 PIN_VERIFY_STRUCTURE / PIN_MODIFY_STRUCTURE, the rule that puts the
digits the holder types into the APDU template, the pad's keys, and the outcomes a pad reports.

Reference: docs/serial.md §5 (the GemPC PinPad libccid knows, what libccid sends and answers), PC/SC part 10 rev 2.02
§2.5.2–2.5.3 (the structures: every multi-byte field little-endian), USB CCID rev 1.1 §6.1.11 (the same fields in a
PC_to_RDR_Secure, laid out in ``protocols.ccid``), docs/design.md §3 PIN (this card's VERIFY and CHANGE PIN).

One implementation for both sides: the host builds the structures (``hardware/pcsc.py`` hands them to SCardControl,
``hardware/ccid_serial.py`` to the reader), the simulated pad parses them and builds the APDU from the keys it was
given (``firmware_sim/pinpad.py``). With a pad the PIN never reaches the host: the host sends a template with the PIN
left out and gets back the card's status word (or one of the pad's own, ``SW_PIN_TIMEOUT`` …).

The insertion rule, as the format bytes say (CCID §6.1.11.7; positions count from the start of the APDU's data field,
bits most significant first):

* the digits are formatted as ``bmFormatString`` b1–b0 says: binary (one digit per byte, or per nibble when the
  units are bits), packed BCD (two digits per byte), or ASCII;
* ``bmPINBlockString`` b3–b0 > 0: a block of that many bytes at the PIN position, already in the template (filled
  with the pad value the card wants, e.g. ``FF``), is overwritten by the digits, left- or right-justified; Lc stays;
* block size 0 (this project's choice for variable-length PINs, as OpenSC builds its templates: Lc 00 and no PIN
  bytes): the formatted PIN (BCD of an odd number of digits padded with ``F``) is inserted at the PIN position and
  the pad sets Lc to the new length of the data field;
* ``bmPINBlockString`` b7–b4 > 0: the number of digits is written in that many bits at the position
  ``bmPINLengthFormat`` gives;
* PIN MODIFY: the current PIN at ``bInsertionOffsetOld`` and the new one at ``bInsertionOffsetNew`` (bytes, added to
  the PIN position); both offsets refer to the template, so an inserted block never moves the other PIN's place.

For this card (docs/design.md §3 PIN): VERIFY ``00 20 00 00 Lc PIN`` and CHANGE PIN ``80 5E 01 00 Lc old ‖ FF ‖ new``,
packed BCD with ``F`` padding and Lc the number of PIN bytes: templates ``00 20 00 00 00`` and ``80 5E 01 00 01 FF``
(:func:`verify_request`, :func:`change_request`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

from protocols.errors import MalformedFrame

# --- PC/SC part 10 features (GET_FEATURE_REQUEST answers tag ‖ 04 ‖ control code, big-endian) ---------------------
FEATURE_VERIFY_PIN_START = 0x01
FEATURE_VERIFY_PIN_FINISH = 0x02
FEATURE_MODIFY_PIN_START = 0x03
FEATURE_MODIFY_PIN_FINISH = 0x04
FEATURE_GET_KEY_PRESSED = 0x05
FEATURE_VERIFY_PIN_DIRECT = 0x06
FEATURE_MODIFY_PIN_DIRECT = 0x07
FEATURE_MCT_READER_DIRECT = 0x08
FEATURE_MCT_UNIVERSAL = 0x09
FEATURE_IFD_PIN_PROPERTIES = 0x0A
FEATURE_ABORT = 0x0B
FEATURE_SET_SPE_MESSAGE = 0x0C
FEATURE_VERIFY_PIN_DIRECT_APP_ID = 0x0D
FEATURE_MODIFY_PIN_DIRECT_APP_ID = 0x0E
FEATURE_WRITE_DISPLAY = 0x0F
FEATURE_GET_KEY = 0x10
FEATURE_IFD_DISPLAY_PROPERTIES = 0x11
FEATURE_GET_TLV_PROPERTIES = 0x12
FEATURE_CCID_ESC_COMMAND = 0x13

FEATURE_NAMES = {v: k for k, v in globals().items() if k.startswith("FEATURE_") and isinstance(v, int)}

#: The control code of GET_FEATURE_REQUEST, before the platform's SCARD_CTL_CODE (pcsc-lite: 0x42000000 + code).
GET_FEATURE_REQUEST = 3400


def parse_features(data: bytes) -> dict[int, int]:
    """The TLV list GET_FEATURE_REQUEST answers: {feature tag: control code}. Malformed entries raise."""
    out: dict[int, int] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise MalformedFrame(f"feature list cut short at byte {i}")
        tag, n = data[i], data[i + 1]
        if n != 4 or i + 2 + n > len(data):
            raise MalformedFrame(f"feature {tag:02X}: length {n}, the list says 4-byte control codes")
        out[tag] = int.from_bytes(data[i + 2:i + 6], "big")
        i += 2 + n
    return out


def encode_features(features: dict[int, int]) -> bytes:
    return b"".join(bytes([tag, 4]) + code.to_bytes(4, "big") for tag, code in features.items())


# --- outcomes -----------------------------------------------------------------------------------------------------
# Status words a pad makes itself (PC/SC part 10 §2.5.2): they stand where the card's status word would.
SW_PIN_TIMEOUT = 0x6400       # no key in time
SW_PIN_CANCELLED = 0x6401     # the holder pressed Cancel
SW_PIN_MISMATCH = 0x6402      # MODIFY: the new PIN and its confirmation differ
SW_PIN_LENGTH = 0x6403        # fewer digits than the minimum (or more than the maximum)
SW_BAD_PARAMETER = 0x6B80     # the structure cannot be used
PAD_STATUS_WORDS = frozenset({SW_PIN_TIMEOUT, SW_PIN_CANCELLED, SW_PIN_MISMATCH, SW_PIN_LENGTH, SW_BAD_PARAMETER})

# bError of a failed PC_to_RDR_Secure (CCID rev 1.1 §6.2.6) and the status word PC/SC gives for each, as libccid's
# CCID_Receive fakes them (docs/serial.md §5).
CCID_PIN_TIMEOUT = 0xF0
CCID_PIN_CANCELLED = 0xEF
CCID_ERROR_STATUS = {CCID_PIN_TIMEOUT: SW_PIN_TIMEOUT, CCID_PIN_CANCELLED: SW_PIN_CANCELLED}

# bEntryValidationCondition bits, bConfirmPIN bits
VALIDATE_MAX_DIGITS = 0x01
VALIDATE_KEY = 0x02
VALIDATE_TIMEOUT = 0x04
CONFIRM_NEW = 0x01            # ask the new PIN twice
ENTER_CURRENT = 0x02          # ask the current PIN first

LANG_ZH_CN = 0x0804
LANG_EN_US = 0x0409
DEFAULT_TIMEOUT = 30          # bTimeOut 0 means "the pad's default": ours (choice)


class PinPadError(MalformedFrame):
    """A structure or template the pad cannot use (the pad answers ``SW_BAD_PARAMETER`` / a CCID parameter error)."""


# --- the format bytes ---------------------------------------------------------------------------------------------
class Encoding(IntEnum):
    BINARY = 0
    BCD = 1
    ASCII = 2


@dataclass(frozen=True)
class PinFormat:
    """bmFormatString, bmPINBlockString and bmPINLengthFormat (CCID §6.1.11.7) as fields."""

    encoding: Encoding = Encoding.BCD
    position: int = 0              # where the PIN goes, in ``units``, from the start of the data field
    units_bytes: bool = True       # bmFormatString b7: the position counts bytes (else bits)
    right_justify: bool = False    # bmFormatString b2
    block_size: int = 0            # bytes; 0: the PIN's own length, inserted, Lc set by the pad
    length_bits: int = 0           # bmPINBlockString b7-b4: the PIN length field's size in bits (0: none)
    length_position: int = 0       # bmPINLengthFormat b3-b0
    length_units_bytes: bool = False  # bmPINLengthFormat b4

    def __post_init__(self) -> None:
        for name, top in (("position", 15), ("block_size", 15), ("length_bits", 15), ("length_position", 15)):
            if not 0 <= getattr(self, name) <= top:
                raise PinPadError(f"PIN format: {name} {getattr(self, name)} does not fit in 4 bits")

    @property
    def format_string(self) -> int:
        return (self.units_bytes << 7) | (self.position << 3) | (self.right_justify << 2) | int(self.encoding)

    @property
    def block_string(self) -> int:
        return (self.length_bits << 4) | self.block_size

    @property
    def length_format(self) -> int:
        return (self.length_units_bytes << 4) | self.length_position

    @classmethod
    def from_bytes(cls, format_string: int, block_string: int, length_format: int) -> PinFormat:
        if format_string & 0x03 == 3:
            raise PinPadError(f"bmFormatString {format_string:02X}: PIN format 3 is reserved")
        return cls(Encoding(format_string & 0x03), (format_string >> 3) & 0x0F, bool(format_string & 0x80),
                   bool(format_string & 0x04), block_string & 0x0F, block_string >> 4, length_format & 0x0F,
                   bool(length_format & 0x10))

    @property
    def digit_bits(self) -> int:
        if self.encoding is Encoding.ASCII:
            return 8
        if self.encoding is Encoding.BCD:
            return 4
        return 8 if self.units_bytes else 4


def _extra_digit(min_digits: int, max_digits: int) -> int:
    if not 0 <= min_digits <= max_digits <= 0xFF:
        raise PinPadError(f"PIN size {min_digits}..{max_digits} is not a range")
    return (min_digits << 8) | max_digits


# --- the structures -----------------------------------------------------------------------------------------------
def _check_data_length(data: bytes, header: int, what: str) -> None:
    """A part 10 structure: ``header`` bytes ending with ulDataLength (4, little-endian), then abData, an APDU."""
    if len(data) < header + 4:
        raise PinPadError(f"{what} of {len(data)} bytes is shorter than {header} + an APDU")
    n = int.from_bytes(data[header - 4:header], "little")
    if header + n != len(data):
        raise PinPadError(f"ulDataLength {n} does not match the {len(data) - header} bytes of abData")


@dataclass(frozen=True)
class PinVerify:
    """PC/SC part 10 PIN_VERIFY_STRUCTURE (what FEATURE_VERIFY_PIN_DIRECT takes); ``template`` is abData, the APDU
    with the PIN left out."""

    template: bytes
    fmt: PinFormat = PinFormat()
    min_digits: int = 4
    max_digits: int = 12
    timeout: int = DEFAULT_TIMEOUT       # bTimeOut, seconds (0: the pad's default)
    timeout2: int = 0                    # bTimeOut2, seconds after the first key (not in CCID; libccid drops it)
    validation: int = VALIDATE_KEY       # bEntryValidationCondition
    messages: int = 1                    # bNumberMessage (the GemPC PinPad takes 01 only, docs/serial.md §5)
    lang_id: int = LANG_ZH_CN            # wLangId
    msg_index: int = 0                   # bMsgIndex
    teo_prologue: bytes = b"\x00\x00\x00"  # bTeoPrologue: the T=1 I-block prologue (set by a TPDU driver)

    HEADER = 19

    def __post_init__(self) -> None:
        _extra_digit(self.min_digits, self.max_digits)
        if len(self.template) < 4:
            raise PinPadError(f"the APDU template has {len(self.template)} bytes, fewer than a header")
        if len(self.teo_prologue) != 3:
            raise PinPadError("bTeoPrologue has 3 bytes")

    @property
    def prompts(self) -> tuple[str, ...]:
        return ("current",)

    def to_part10(self) -> bytes:
        return bytes([self.timeout, self.timeout2, self.fmt.format_string, self.fmt.block_string,
                      self.fmt.length_format]) + _extra_digit(self.min_digits, self.max_digits).to_bytes(2, "little") \
            + bytes([self.validation, self.messages]) + self.lang_id.to_bytes(2, "little") \
            + bytes([self.msg_index]) + self.teo_prologue + len(self.template).to_bytes(4, "little") + self.template

    @classmethod
    def from_part10(cls, data: bytes) -> PinVerify:
        _check_data_length(data, cls.HEADER, "PIN_VERIFY_STRUCTURE")
        extra = int.from_bytes(data[5:7], "little")
        return cls(bytes(data[19:]), PinFormat.from_bytes(data[2], data[3], data[4]), extra >> 8, extra & 0xFF,
                   data[0], data[1], data[7], data[8], int.from_bytes(data[9:11], "little"), data[11],
                   bytes(data[12:15]))


@dataclass(frozen=True)
class PinModify:
    """PC/SC part 10 PIN_MODIFY_STRUCTURE (FEATURE_MODIFY_PIN_DIRECT). ``confirm`` is bConfirmPIN: ``ENTER_CURRENT``
    asks the current PIN first, ``CONFIRM_NEW`` the new one twice."""

    template: bytes
    fmt: PinFormat = PinFormat()
    min_digits: int = 4
    max_digits: int = 12
    offset_old: int = 0                  # bInsertionOffsetOld, bytes
    offset_new: int = 0                  # bInsertionOffsetNew, bytes
    confirm: int = ENTER_CURRENT | CONFIRM_NEW
    timeout: int = DEFAULT_TIMEOUT
    timeout2: int = 0
    validation: int = VALIDATE_KEY
    messages: int = 3                    # bNumberMessage: one per prompt
    lang_id: int = LANG_ZH_CN
    msg_indexes: tuple[int, int, int] = (0, 1, 2)   # "enter PIN", "new PIN", "confirm PIN"
    teo_prologue: bytes = b"\x00\x00\x00"

    HEADER = 24

    def __post_init__(self) -> None:
        _extra_digit(self.min_digits, self.max_digits)
        if len(self.template) < 4:
            raise PinPadError(f"the APDU template has {len(self.template)} bytes, fewer than a header")
        if len(self.teo_prologue) != 3 or len(self.msg_indexes) != 3:
            raise PinPadError("bTeoPrologue has 3 bytes and there are 3 bMsgIndex fields")

    @property
    def prompts(self) -> tuple[str, ...]:
        return (("current",) if self.confirm & ENTER_CURRENT else ()) + ("new",) + \
            (("confirm",) if self.confirm & CONFIRM_NEW else ())

    def to_part10(self) -> bytes:
        return bytes([self.timeout, self.timeout2, self.fmt.format_string, self.fmt.block_string,
                      self.fmt.length_format, self.offset_old, self.offset_new]) \
            + _extra_digit(self.min_digits, self.max_digits).to_bytes(2, "little") \
            + bytes([self.confirm, self.validation, self.messages]) + self.lang_id.to_bytes(2, "little") \
            + bytes(self.msg_indexes) + self.teo_prologue + len(self.template).to_bytes(4, "little") + self.template

    @classmethod
    def from_part10(cls, data: bytes) -> PinModify:
        _check_data_length(data, cls.HEADER, "PIN_MODIFY_STRUCTURE")
        extra = int.from_bytes(data[7:9], "little")
        return cls(bytes(data[24:]), PinFormat.from_bytes(data[2], data[3], data[4]), extra >> 8, extra & 0xFF,
                   data[5], data[6], data[9], data[0], data[1], data[10], data[11],
                   int.from_bytes(data[12:14], "little"), (data[14], data[15], data[16]), bytes(data[17:20]))


PinRequest = PinVerify | PinModify


# --- putting the PIN into the template ----------------------------------------------------------------------------
def _split_apdu(template: bytes) -> tuple[bytes, bytearray, bytes]:
    """header, data field, trailing Le of a short APDU template (4 bytes: no data field yet)."""
    header = template[:4]
    if len(template) == 4:
        return header, bytearray(), b""
    lc = template[4]
    data = template[5:5 + lc]
    if len(data) != lc:
        raise PinPadError(f"the APDU template's Lc {lc} is longer than its {len(template) - 5} data bytes")
    rest = template[5 + lc:]
    if len(rest) > 1:
        raise PinPadError("the APDU template is not a short APDU")
    return header, bytearray(data), rest


def _digit_values(digits: str, fmt: PinFormat) -> list[int]:
    if not digits.isascii() or not digits.isdigit():
        raise PinPadError("a PIN holds the digits 0-9 only")
    if fmt.encoding is Encoding.ASCII:
        return [ord(d) for d in digits]
    return [int(d) for d in digits]


def _put_bits(data: bytearray, bit: int, width: int, value: int) -> None:
    """Write ``value`` in ``width`` bits at bit offset ``bit`` (most significant bit first)."""
    if bit + width > 8 * len(data):
        raise PinPadError(f"the PIN (or its length) at bit {bit} does not fit in the template's data field")
    for i in range(width):
        byte, shift = divmod(bit + i, 8)
        mask = 0x80 >> shift
        if value >> (width - 1 - i) & 1:
            data[byte] |= mask
        else:
            data[byte] &= ~mask & 0xFF


def _formatted(digits: str, fmt: PinFormat) -> bytes:
    """The PIN block of a block-size-0 format: packed, an odd BCD (or binary nibble) count padded with F."""
    values = _digit_values(digits, fmt)
    if fmt.digit_bits == 8:
        return bytes(values)
    nibbles = values + [0x0F] * (len(values) % 2)
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def _insert(data: bytearray, fmt: PinFormat, digits: str, offset: int) -> bytearray:
    unit = 8 if fmt.units_bytes else 1
    start = 8 * offset + fmt.position * unit
    if fmt.block_size:
        width = fmt.digit_bits
        block = 8 * fmt.block_size
        if start + block > 8 * len(data):
            raise PinPadError(f"the {fmt.block_size}-byte PIN block at bit {start} is not in the template")
        if len(digits) * width > block:
            raise PinPadError(f"{len(digits)} digits do not fit in a {fmt.block_size}-byte PIN block")
        bit = start + (block - len(digits) * width if fmt.right_justify else 0)
        for value in _digit_values(digits, fmt):
            _put_bits(data, bit, width, value)
            bit += width
    else:
        if start % 8:
            raise PinPadError("a PIN of its own length is inserted at a byte position")
        if start > 8 * len(data):
            raise PinPadError(f"PIN position {start // 8} is past the template's {len(data)} data bytes")
        data[start // 8:start // 8] = _formatted(digits, fmt)
    if fmt.length_bits:
        lunit = 8 if fmt.length_units_bytes else 1
        _put_bits(data, 8 * offset + fmt.length_position * lunit, fmt.length_bits, len(digits))
    return data


def _assemble(header: bytes, data: bytes, rest: bytes) -> bytes:
    if len(data) > 255:
        raise PinPadError("the APDU with the PIN does not fit a short APDU")
    return header + (bytes([len(data)]) + data if data else b"") + rest


def verify_apdu(request: PinVerify, digits: str) -> bytes:
    """The APDU a pad sends to the card for VERIFY: the template with ``digits`` put in as ``request.fmt`` says."""
    header, data, rest = _split_apdu(request.template)
    return _assemble(header, bytes(_insert(data, request.fmt, digits, 0)), rest)


def modify_apdu(request: PinModify, old: str | None, new: str) -> bytes:
    """The APDU for MODIFY: the current PIN (when the structure asks for it) and the new one put in at their offsets.
    With block size 0 the one at the higher offset goes in first, so the offsets keep referring to the template."""
    header, data, rest = _split_apdu(request.template)
    places = [(request.offset_new, new)]
    if request.confirm & ENTER_CURRENT:
        if old is None:
            raise PinPadError("this MODIFY asks for the current PIN")
        places.append((request.offset_old, old))
    for offset, digits in sorted(places, key=lambda p: p[0], reverse=True):
        data = _insert(data, request.fmt, digits, offset)
    return _assemble(header, bytes(data), rest)


# --- this card (docs/design.md §3 PIN) ----------------------------------------------------------------------------
CARD_FORMAT = PinFormat(Encoding.BCD, 0, units_bytes=True, block_size=0)


def verify_request(min_digits: int = 4, max_digits: int = 12, timeout: int = DEFAULT_TIMEOUT,
                   lang_id: int = LANG_ZH_CN) -> PinVerify:
    """VERIFY ``00 20 00 00 Lc PIN``: packed BCD, odd lengths padded with F, Lc = the PIN's bytes (set by the pad)."""
    return PinVerify(bytes.fromhex("0020000000"), CARD_FORMAT, min_digits, max_digits, timeout, lang_id=lang_id)


def change_request(min_digits: int = 4, max_digits: int = 12, timeout: int = DEFAULT_TIMEOUT,
                   lang_id: int = LANG_ZH_CN) -> PinModify:
    """CHANGE PIN ``80 5E 01 00 Lc old ‖ FF ‖ new``: the current PIN before the FF, the new one (asked twice) after."""
    return PinModify(bytes.fromhex("805E0100") + b"\x01\xFF", CARD_FORMAT, min_digits, max_digits, offset_old=0,
                     offset_new=1, timeout=timeout, lang_id=lang_id)


# --- keys and entry -----------------------------------------------------------------------------------------------
ENTER, CANCEL, CLEAR, BACKSPACE = "ENTER", "CANCEL", "CLEAR", "BACKSPACE"
DIGITS = tuple("0123456789")
KEYS = DIGITS + (ENTER, CANCEL, CLEAR, BACKSPACE)
_KEY_NAMES = {"ENTER": ENTER, "OK": ENTER, "确认": ENTER, "CANCEL": CANCEL, "ESC": CANCEL, "取消": CANCEL,
              "CLEAR": CLEAR, "CLR": CLEAR, "更正": CLEAR, "BACKSPACE": BACKSPACE, "BACK": BACKSPACE, "BS": BACKSPACE,
              "<": BACKSPACE}
_WAIT = re.compile(r"(?:wait|sleep):(\d+(?:\.\d*)?)$", re.I)


@dataclass(frozen=True)
class Wait:
    """A pause in a key script (the holder hesitates), in seconds."""

    seconds: float


KeyEvent = str | Wait


def key_name(text: str) -> str:
    """A key by any of its names (``OK``, ``ESC``, ``BS`` …, or a digit); ``ValueError`` for anything else."""
    if text in DIGITS:
        return text
    key = _KEY_NAMES.get(text.upper()) or _KEY_NAMES.get(text)
    if key is None:
        raise ValueError(f"unknown key {text!r} (digits, OK/ENTER, CANCEL/ESC, CLEAR, BACKSPACE/BS, wait:SECONDS)")
    return key


def parse_keys(text: str) -> list[KeyEvent]:
    """A key script: tokens separated by blanks or commas; a run of digits is one key per digit; ``OK``/``ENTER``,
    ``CANCEL``/``ESC``, ``CLEAR``, ``BACKSPACE``/``BS``; ``wait:2.5`` pauses. ``#`` starts a comment to the end of
    the line. Example: ``123456 OK`` or ``12 wait:1 BS 23456 OK``."""
    events: list[KeyEvent] = []
    for line in text.splitlines():
        for token in re.split(r"[\s,]+", line.split("#", 1)[0]):
            if not token:
                continue
            m = _WAIT.match(token)
            if m:
                events.append(Wait(float(m.group(1))))
            elif token.isascii() and token.isdigit():
                events.extend(token)
            else:
                events.append(key_name(token))
    return events


@dataclass
class DigitEntry:
    """One PIN typed on the pad, key by key (sans-I/O: the caller says when the time is up).

    ``press`` returns None while the entry goes on, else ``"done"`` (enough digits and OK, or the maximum reached
    when that validates), ``"cancelled"`` or ``"length"`` (OK with fewer digits than the minimum). Digits past the
    maximum are ignored, as pads do; CLEAR empties the entry, BACKSPACE takes the last digit back."""

    min_digits: int
    max_digits: int
    validation: int = VALIDATE_KEY
    digits: list[str] = field(default_factory=list)

    def press(self, key: str) -> str | None:
        if key in DIGITS:
            if len(self.digits) < self.max_digits:
                self.digits.append(key)
            if self.validation & VALIDATE_MAX_DIGITS and len(self.digits) == self.max_digits:
                return "done"
            return None
        if key == CLEAR:
            self.digits.clear()
            return None
        if key == BACKSPACE:
            if self.digits:
                self.digits.pop()
            return None
        if key == CANCEL:
            return "cancelled"
        if key == ENTER:
            return "done" if len(self.digits) >= self.min_digits else "length"
        raise ValueError(f"unknown key {key!r}")

    def time_out(self) -> str:
        """The time is up: ``"done"`` when the structure validates on timeout and enough digits are in, else
        ``"timeout"``."""
        if self.validation & VALIDATE_TIMEOUT and len(self.digits) >= self.min_digits:
            return "done"
        return "timeout"

    def take(self) -> str:
        """The digits typed (and forget them)."""
        pin = "".join(self.digits)
        self.digits.clear()
        return pin
