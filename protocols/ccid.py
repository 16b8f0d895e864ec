"""CCID messages (USB CCID rev 1.1 bulk messages) as dataclasses, with their 10-byte header codec.

Reference: docs/serial.md §2.2.3 (messages a serial reader answers, bStatus, T=1 parameter
block), §2.2.1 (sizes: dwMaxCCIDMessageLength 271). Shared by every CCID transport (GemCore serial framing in
``protocols.gemcore``; ACR1281S-style framing could reuse it). Sans-I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.errors import MalformedFrame
from protocols.pinpad import PinFormat, PinModify, PinPadError, PinVerify

HEADER_LEN = 10
MAX_MESSAGE = 271
MAX_DATA = MAX_MESSAGE - HEADER_LEN

# bStatus: b1..b0 ICC status, b7..b6 command status (§2.2.3)
ICC_ACTIVE, ICC_INACTIVE, ICC_ABSENT = 0, 1, 2
CMD_OK, CMD_FAILED, CMD_TIME_EXTENSION = 0x00, 0x40, 0x80

# bError values (CCID §6.2.6)
ERR_CMD_NOT_SUPPORTED = 0x00
ERR_BAD_SLOT = 0x05
ERR_CMD_ABORTED = 0xFF
ERR_ICC_MUTE = 0xFE
ERR_XFR_PARITY = 0xFD
ERR_XFR_OVERRUN = 0xFC
ERR_HW_ERROR = 0xFB
ERR_BAD_ATR_TS = 0xF8
ERR_BAD_ATR_TCK = 0xF7
ERR_PROTOCOL_NOT_SUPPORTED = 0xF6
ERR_CLASS_NOT_SUPPORTED = 0xF5
ERR_PROCEDURE_BYTE_CONFLICT = 0xF4
ERR_DEACTIVATED_PROTOCOL = 0xF3
ERR_BUSY_AUTO_SEQUENCE = 0xF2
ERR_PIN_TIMEOUT = 0xF0
ERR_PIN_CANCELLED = 0xEF
ERR_CMD_SLOT_BUSY = 0xE0


@dataclass(frozen=True)
class Message:
    """Common part of every CCID message: slot and sequence number; subclasses add their three specific header
    bytes (b7..b9) and their data."""

    TYPE: ClassVar[int] = -1
    slot: int = 0
    seq: int = 0

    def _specific(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def _data(self) -> bytes:
        return b""

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        return cls(slot, seq)

    def encode(self) -> bytes:
        data = self._data()
        return bytes([self.TYPE]) + len(data).to_bytes(4, "little") + bytes([self.slot, self.seq]) + \
            bytes(self._specific()) + data


# --- host -> reader ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IccPowerOn(Message):
    TYPE: ClassVar[int] = 0x62
    power_select: int = 0  # 0 automatic, 1 = 5 V, 2 = 3 V, 3 = 1.8 V

    def _specific(self) -> tuple[int, int, int]:
        return (self.power_select, 0, 0)

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        return cls(slot, seq, b7)


@dataclass(frozen=True)
class IccPowerOff(Message):
    TYPE: ClassVar[int] = 0x63


@dataclass(frozen=True)
class GetSlotStatus(Message):
    TYPE: ClassVar[int] = 0x65


@dataclass(frozen=True)
class XfrBlock(Message):
    TYPE: ClassVar[int] = 0x6F
    data: bytes = b""
    bwi: int = 0
    level: int = 0  # wLevelParameter

    def _specific(self) -> tuple[int, int, int]:
        return (self.bwi, self.level & 0xFF, self.level >> 8)

    def _data(self) -> bytes:
        return self.data

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        return cls(slot, seq, data, b7, b8 | b9 << 8)


@dataclass(frozen=True)
class GetParameters(Message):
    TYPE: ClassVar[int] = 0x6C


@dataclass(frozen=True)
class ResetParameters(Message):
    TYPE: ClassVar[int] = 0x6D


@dataclass(frozen=True)
class SetParameters(Message):
    TYPE: ClassVar[int] = 0x61
    protocol: int = 0
    params: bytes = b""

    def _specific(self) -> tuple[int, int, int]:
        return (self.protocol, 0, 0)

    def _data(self) -> bytes:
        return self.params

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        return cls(slot, seq, b7, data)


@dataclass(frozen=True)
class Escape(Message):
    TYPE: ClassVar[int] = 0x6B
    data: bytes = b""

    def _data(self) -> bytes:
        return self.data

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        return cls(slot, seq, data)


@dataclass(frozen=True)
class Secure(XfrBlock):
    """PC_to_RDR_Secure (CCID rev 1.1 §6.1.11): the header of an XfrBlock (bBWI, wLevelParameter), abData =
    bPINOperation ‖ the PIN structure as CCID lays it out (:func:`secure_data`, :func:`parse_secure`); answered
    by a DataBlock with the card's response, or a failure with bError ``ERR_PIN_TIMEOUT`` / ``ERR_PIN_CANCELLED``."""

    TYPE: ClassVar[int] = 0x69

    @property
    def pin_operation(self) -> int | None:
        return self.data[0] if self.data else None


@dataclass(frozen=True)
class Unsupported(Message):
    """Any other host message (IccClock 6E, T0APDU 6A, Mechanical 71, Abort 72, SetDataRate 73)."""

    msg_type: int = 0
    b7: int = 0
    b8: int = 0
    b9: int = 0
    data: bytes = b""

    def encode(self) -> bytes:
        return bytes([self.msg_type]) + len(self.data).to_bytes(4, "little") + \
            bytes([self.slot, self.seq, self.b7, self.b8, self.b9]) + self.data


# --- reader -> host -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply(Message):
    """A reader-to-host message: bStatus, bError, one more header byte (b9) and a payload. ``B9`` and ``PAYLOAD``
    name the fields a subclass carries there (CCID §6.2), so one codec serves every reply."""

    B9: ClassVar[str | None] = None
    PAYLOAD: ClassVar[str | None] = None
    status: int = 0
    error: int = 0

    @property
    def icc_status(self) -> int:
        return self.status & 0x03

    @property
    def command_status(self) -> int:
        return self.status & 0xC0

    @property
    def failed(self) -> bool:
        return self.command_status == CMD_FAILED

    def _specific(self) -> tuple[int, int, int]:
        return (self.status, self.error, getattr(self, self.B9) if self.B9 else 0)

    def _data(self) -> bytes:
        return getattr(self, self.PAYLOAD) if self.PAYLOAD else b""

    @classmethod
    def _from(cls, slot: int, seq: int, b7: int, b8: int, b9: int, data: bytes) -> Message:
        fields = {name: value for name, value in ((cls.B9, b9), (cls.PAYLOAD, data)) if name}
        return cls(slot, seq, b7, b8, **fields)


@dataclass(frozen=True)
class DataBlock(Reply):
    TYPE: ClassVar[int] = 0x80
    B9: ClassVar[str | None] = "chain"
    PAYLOAD: ClassVar[str | None] = "data"
    chain: int = 0
    data: bytes = b""


@dataclass(frozen=True)
class SlotStatus(Reply):
    TYPE: ClassVar[int] = 0x81
    B9: ClassVar[str | None] = "clock_status"
    clock_status: int = 0


@dataclass(frozen=True)
class Parameters(Reply):
    TYPE: ClassVar[int] = 0x82
    B9: ClassVar[str | None] = "protocol"
    PAYLOAD: ClassVar[str | None] = "params"
    protocol: int = 0
    params: bytes = b""


@dataclass(frozen=True)
class EscapeReply(Reply):
    TYPE: ClassVar[int] = 0x83
    PAYLOAD: ClassVar[str | None] = "data"
    data: bytes = b""


@dataclass(frozen=True)
class DataRateAndClock(Reply):
    TYPE: ClassVar[int] = 0x84
    PAYLOAD: ClassVar[str | None] = "data"
    data: bytes = b""


_TYPES: dict[int, type[Message]] = {c.TYPE: c for c in (
    IccPowerOn, IccPowerOff, GetSlotStatus, XfrBlock, GetParameters, ResetParameters, SetParameters, Escape,
    Secure, DataBlock, SlotStatus, Parameters, EscapeReply, DataRateAndClock)}

#: The reply type each host message expects (CCID §6.1): used by readers for unsupported commands.
REPLY_TYPE = {0x62: 0x80, 0x63: 0x81, 0x65: 0x81, 0x6F: 0x80, 0x6C: 0x82, 0x6D: 0x82, 0x61: 0x82, 0x6B: 0x83,
              0x6E: 0x81, 0x6A: 0x81, 0x69: 0x80, 0x71: 0x81, 0x72: 0x81, 0x73: 0x84}


def message_length(prefix: bytes) -> int | None:
    """Total message length once the 5 first bytes (type, dwLength) are known."""
    if len(prefix) < 5:
        return None
    return HEADER_LEN + int.from_bytes(prefix[1:5], "little")


def decode(raw: bytes) -> Message:
    """Decode one whole CCID message; ``MalformedFrame`` if the length field disagrees with the bytes."""
    if len(raw) < HEADER_LEN:
        raise MalformedFrame(f"CCID message of {len(raw)} bytes is shorter than its header")
    n = int.from_bytes(raw[1:5], "little")
    if len(raw) != HEADER_LEN + n:
        raise MalformedFrame(f"CCID dwLength {n} does not match {len(raw) - HEADER_LEN} data bytes")
    t, slot, seq, b7, b8, b9 = raw[0], raw[5], raw[6], raw[7], raw[8], raw[9]
    data = bytes(raw[HEADER_LEN:])
    cls = _TYPES.get(t)
    if cls is None:
        return Unsupported(slot, seq, t, b7, b8, b9, data)
    return cls._from(slot, seq, b7, b8, b9, data)


# --- protocol data structures of Get/Set/ResetParameters ----------------------------------------------------
@dataclass(frozen=True)
class T0Params:
    """abProtocolDataStructure for T=0 (5 bytes)."""

    fidi: int = 0x11
    tcckst: int = 0x00        # b1 convention (1 = inverse)
    guard_time: int = 0x00    # TC1
    wi: int = 0x0A            # TC2
    clock_stop: int = 0x00

    def encode(self) -> bytes:
        return bytes([self.fidi, self.tcckst, self.guard_time, self.wi, self.clock_stop])

    @classmethod
    def decode(cls, data: bytes) -> T0Params:
        if len(data) != 5:
            raise MalformedFrame(f"T=0 parameters have 5 bytes, not {len(data)}")
        return cls(*data)


@dataclass(frozen=True)
class T1Params:
    """abProtocolDataStructure for T=1 (7 bytes). ``tcckst`` b1 = CRC, b2 = inverse convention, high nibble 1."""

    fidi: int = 0x11
    tcckst: int = 0x10
    guard_time: int = 0x00
    bwi_cwi: int = 0x4D
    clock_stop: int = 0x00
    ifsc: int = 0x20
    nad: int = 0x00

    @property
    def crc(self) -> bool:
        return bool(self.tcckst & 0x01)

    def encode(self) -> bytes:
        return bytes([self.fidi, self.tcckst, self.guard_time, self.bwi_cwi, self.clock_stop, self.ifsc, self.nad])

    @classmethod
    def decode(cls, data: bytes) -> T1Params:
        if len(data) != 7:
            raise MalformedFrame(f"T=1 parameters have 7 bytes, not {len(data)}")
        return cls(*data)


def decode_params(protocol: int, data: bytes) -> T0Params | T1Params:
    if protocol == 0:
        return T0Params.decode(data)
    if protocol == 1:
        return T1Params.decode(data)
    raise MalformedFrame(f"no parameter structure for protocol {protocol}")


@dataclass(frozen=True)
class SlotChange:
    """RDR_to_PC_NotifySlotChange bmSlotICCState: 2 bits per slot (present, changed)."""

    state: int = 0

    def present(self, slot: int) -> bool:
        return bool(self.state >> (2 * slot) & 1)

    def changed(self, slot: int) -> bool:
        return bool(self.state >> (2 * slot + 1) & 1)


# --- PC_to_RDR_Secure: the PIN structures as CCID lays them out (§6.1.11.7, §6.1.11.8) ------------------------------
PIN_VERIFY, PIN_MODIFY = 0x00, 0x01   # bPINOperation (02 transfer PIN, 03 wait ICC response, 04 cancel … unused)


def secure_data(request: PinVerify | PinModify, *, all_msg_indexes: bool = False) -> bytes:
    """abData of a PC_to_RDR_Secure for a PC/SC part 10 structure, as libccid builds it: bPINOperation, then the
    structure without bTimeOut2 and ulDataLength; in a MODIFY bMsgIndex2 only when bNumberMessage is not 0 and
    bMsgIndex3 only when it is 3, unless ``all_msg_indexes`` (Gemalto firmware, the GemPC PinPad among them, wants
    all three whatever bNumberMessage says: docs/serial.md §5)."""
    fmt = request.fmt
    extra = ((request.min_digits << 8) | request.max_digits).to_bytes(2, "little")
    lang = request.lang_id.to_bytes(2, "little")
    if isinstance(request, PinVerify):
        return bytes([PIN_VERIFY, request.timeout, fmt.format_string, fmt.block_string, fmt.length_format]) + extra \
            + bytes([request.validation, request.messages]) + lang + bytes([request.msg_index]) \
            + request.teo_prologue + request.template
    indexes = list(request.msg_indexes[:1])
    if all_msg_indexes or request.messages != 0:
        indexes.append(request.msg_indexes[1])
    if all_msg_indexes or request.messages == 3:
        indexes.append(request.msg_indexes[2])
    return bytes([PIN_MODIFY, request.timeout, fmt.format_string, fmt.block_string, fmt.length_format,
                  request.offset_old, request.offset_new]) + extra \
        + bytes([request.confirm, request.validation, request.messages]) + lang + bytes(indexes) \
        + request.teo_prologue + request.template


def parse_secure(data: bytes, *, all_msg_indexes: bool = False) -> PinVerify | PinModify:
    """The structure in a PC_to_RDR_Secure's abData (the reader's side of :func:`secure_data`). ``PinPadError``
    (a ``MalformedFrame``) when it is cut short or asks for an operation other than verify (00) or modify (01)."""
    if not data:
        raise PinPadError("PC_to_RDR_Secure without bPINOperation")
    op = data[0]
    try:
        if op == PIN_VERIFY:
            if len(data) < 15 + 4:
                raise PinPadError(f"PIN verify data of {len(data)} bytes is shorter than 15 + an APDU header")
            extra = int.from_bytes(data[5:7], "little")
            return PinVerify(bytes(data[15:]), PinFormat.from_bytes(data[2], data[3], data[4]), extra >> 8,
                             extra & 0xFF, data[1], 0, data[7], data[8], int.from_bytes(data[9:11], "little"),
                             data[11], bytes(data[12:15]))
        if op == PIN_MODIFY:
            if len(data) < 16:
                raise PinPadError(f"PIN modify data of {len(data)} bytes is cut short")
            messages = data[11]
            n_indexes = 3 if all_msg_indexes else 1 + (messages != 0) + (messages == 3)
            start = 14 + n_indexes
            if len(data) < start + 3 + 4:
                raise PinPadError(f"PIN modify data of {len(data)} bytes is shorter than its fields + an APDU header")
            indexes = list(data[14:start]) + [0] * (3 - n_indexes)
            extra = int.from_bytes(data[7:9], "little")
            return PinModify(bytes(data[start + 3:]), PinFormat.from_bytes(data[2], data[3], data[4]), extra >> 8,
                             extra & 0xFF, data[5], data[6], data[9], data[1], 0, data[10], messages,
                             int.from_bytes(data[12:14], "little"), (indexes[0], indexes[1], indexes[2]),
                             bytes(data[start:start + 3]))
    except ValueError as exc:    # an Encoding out of range, a bad size range
        raise PinPadError(str(exc)) from None
    raise PinPadError(f"bPINOperation {op:02X} is not supported (00 verify, 01 modify)")
