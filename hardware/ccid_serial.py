"""Host driver for CCID-over-serial readers (GemCore / GemPC Twin framing) through pyserial: spec
``ccid-serial:DEVICE_OR_URL[,option=value…]``, one ``Reader``-shaped object per slot.

Reference: docs/serial.md §2.2 (framing, NAK, echo, Escape 02 and 01 01 01 at start-up,
8N2 115200, TPDU level: the host does PPS, T=0 TPDUs and T=1 blocks itself), §1.5 (PPS: fastest Fi/Di both
sides offer; reset and defaults when PPS fails), §1.7.4 (S(IFS) 254 after PPS), §3.2–§3.4 (pyserial on ptys:
parity N, set everything in the constructor, own timeout logic).

PIN pad (docs/serial.md §5): on a GemPC PinPad (``model=GemPCPinPad``) ``slot.pin_pad()`` sends PC_to_RDR_Secure
with a PC/SC part 10 structure (``protocols.pinpad``); the reader collects the PIN and answers with the card's
response, and a timeout or Cancel (bError F0 / EF) comes back as the status word libccid makes of it (6400 / 6401).
A one-slot pad takes its PSAM from a second reader: ``psam=URL[,psam_model=MODEL]`` (its last slot).

Link recovery: a frame with a bad LRC, or one cut short (no byte for ``gap_timeout``), is NAKed once the line is
quiet; a NAK from the reader makes us send our last frame again; a reply with a stale sequence number after our
NAK means the reader never got the command, which is then sent again (the simulated firmware answers a repeated
command from its cache, so nothing runs twice). After ``max_attempts`` the caller gets ``ReaderTimeout`` or
``ProtocolError`` — never a reply that did not pass the checks.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, ContextManager, Protocol

from protocols import atr as atr_mod
from protocols import ccid, gemcore, pps, t0, t1
from protocols import pinpad as pinpad_mod
from protocols.errors import MalformedFrame, NoCard, ProtocolError, ReaderError, ReaderTimeout

SPEC_PREFIX = "ccid-serial:"


class BytePipe(Protocol):
    """The byte transport under the link (a pyserial port, or a fault-injecting wrapper of one)."""

    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout: float) -> bytes: ...

    def close(self) -> None: ...


class PySerialPipe:
    """A pyserial port (device path, pty or URL such as ``socket://host:port``) as a ``BytePipe``. Opened 8N2
    with every option given to the constructor (§3.2: never change parity-related settings on a pty)."""

    def __init__(self, url: str, baud: int = 115200) -> None:
        import serial  # pyserial is a hardware-layer dependency only

        kwargs: dict[str, object] = dict(baudrate=baud, bytesize=8, parity="N", stopbits=2, timeout=0.0)
        if "://" not in url:
            kwargs["exclusive"] = True
        try:
            self._ser = serial.serial_for_url(url, **kwargs)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ReaderError(f"cannot open {url}: {exc}") from exc
        self._timeout = 0.0
        self._serial_exc = serial.SerialException

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except (self._serial_exc, OSError) as exc:
            raise ReaderError(f"serial write failed: {exc}") from exc

    def read(self, size: int, timeout: float) -> bytes:
        timeout = max(0.0, round(timeout, 4))
        try:
            if timeout != self._timeout:
                self._ser.timeout = timeout
                self._timeout = timeout
            first = self._ser.read(1)
            if not first:
                return b""
            waiting = self._ser.in_waiting
            return first + (self._ser.read(min(waiting, size - 1)) if waiting and size > 1 else b"")
        except (self._serial_exc, OSError) as exc:
            raise ReaderError(f"serial read failed: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ser.close()


# --- the framing link ---------------------------------------------------------------------------------------------
class CcidSerialLink:
    """CCID messages over a ``BytePipe`` with GemCore framing, sequence numbers, NAK and retransmission."""

    def __init__(self, pipe: BytePipe, *, echo: bool = False, response_timeout: float = 3.0,
                 gap_timeout: float = 0.05, max_attempts: int = 8) -> None:
        self.pipe = pipe
        self.echo = echo
        self.response_timeout = response_timeout
        self.gap_timeout = gap_timeout
        self.max_attempts = max_attempts
        self._decoder = gemcore.Decoder(from_reader=True)
        self._seq = 0
        self._lock = threading.RLock()
        self.slot_changes: list[int] = []
        self.trace: Callable[[str, object], None] | None = None   # ("tx"|"rx"|"event", bytes or event)
        self.stats = {"exchanges": 0, "naks_sent": 0, "naks_received": 0, "resends": 0, "stale": 0,
                      "bytes_out": 0, "bytes_in": 0}

    def close(self) -> None:
        self.pipe.close()

    def _write(self, data: bytes) -> None:
        if self.trace is not None:
            self.trace("tx", data)
        self.stats["bytes_out"] += len(data)
        self.pipe.write(data)

    def _drain_quiet(self) -> None:
        """Read and drop bytes until the line has been quiet for ``gap_timeout``."""
        while True:
            junk = self.pipe.read(4096, self.gap_timeout)
            if not junk:
                break
            if self.trace is not None:
                self.trace("drained", junk)
            self.stats["bytes_in"] += len(junk)
        self._decoder.reset()

    def exchange(self, msg: ccid.Message, *, extra_time: float = 0.0) -> ccid.Message:
        """Send one message and return the reader's checked reply (same slot and sequence number)."""
        with self._lock:
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFF
            msg = replace(msg, seq=seq)
            frame = gemcore.encode(msg.encode())
            self.stats["exchanges"] += 1
            return self._run(frame, msg, extra_time)

    def _send_command(self, frame: bytes) -> None:
        if self.echo:
            self._decoder.expect_echo(frame)
        self._write(frame)

    def _run(self, frame: bytes, msg: ccid.Message, extra_time: float) -> ccid.Message:
        attempts = 1
        self._send_command(frame)
        last_was_nak = False
        deadline = time.monotonic() + self.response_timeout + extra_time

        def retry(send_nak: bool, why: str) -> None:
            nonlocal attempts, last_was_nak, deadline
            attempts += 1
            if attempts > self.max_attempts:
                raise (ReaderTimeout if why == "timeout" else ProtocolError)(
                    f"serial reader: no good reply after {self.max_attempts} attempts ({why})")
            if send_nak:
                self.stats["naks_sent"] += 1
                self._write(gemcore.NAK_FRAME)
            else:
                self.stats["resends"] += 1
                self._send_command(frame)
            last_was_nak = send_nak
            deadline = time.monotonic() + self.response_timeout + extra_time

        while True:
            now = time.monotonic()
            wait = self.gap_timeout if self._decoder.pending else max(0.0, deadline - now)
            data = self.pipe.read(4096, wait)
            if not data:
                if self._decoder.pending:          # a frame stopped half-way
                    self._decoder.flush()
                    self._drain_quiet()
                    retry(True, "truncated frame")
                elif time.monotonic() >= deadline:
                    retry(True, "timeout")
                continue
            self.stats["bytes_in"] += len(data)
            if self.trace is not None:
                self.trace("rx", data)
            for ev in self._decoder.feed(data):
                if self.trace is not None:
                    self.trace("event", ev)
                if isinstance(ev, gemcore.TimeRequest):
                    deadline = time.monotonic() + self.response_timeout + extra_time
                elif isinstance(ev, gemcore.SlotChangeNotice):
                    self.slot_changes.append(ev.state)
                elif isinstance(ev, gemcore.Nak):   # the reader did not get what we sent last: send it again
                    self.stats["naks_received"] += 1
                    retry(last_was_nak, "NAK")
                elif isinstance(ev, gemcore.BadFrame):
                    self._drain_quiet()
                    retry(True, "bad frame")
                    break
                elif isinstance(ev, gemcore.Frame):
                    try:
                        reply = ccid.decode(ev.message)
                    except MalformedFrame:
                        self._drain_quiet()
                        retry(True, "bad message")
                        break
                    if reply.seq != msg.seq or reply.slot != msg.slot:
                        self.stats["stale"] += 1
                        if last_was_nak:   # the reader answered our NAK with an older reply: it lost the command
                            retry(False, "stale reply")
                        continue
                    if ccid.REPLY_TYPE.get(msg.TYPE) not in (None, reply.TYPE):
                        raise ProtocolError(f"reader answered message {msg.TYPE:02X} with {reply.TYPE:02X}")
                    if isinstance(reply, ccid.Reply) and reply.command_status == ccid.CMD_TIME_EXTENSION:
                        deadline = time.monotonic() + self.response_timeout + extra_time
                        continue
                    return reply


# --- slots ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReaderCaps:
    """What the host assumes of the reader (libccid hard-codes the same for serial readers)."""

    name: str = "GemCoreSIMPro"
    slots: int = 2
    clock_hz: float = 4_000_000.0
    max_rates: tuple[float, ...] = (500_000.0, 500_000.0)   # as libccid 1.5.2 treats both GemCoreSIMPro slots
    echo: bool = False
    max_ifsd: int = 254
    pin_support: int = 0             # bPINSupport: 01 verify, 02 modify
    all_msg_indexes: bool = False    # Gemalto pads read all three bMsgIndex of a modify (docs/serial.md §5)


READER_CAPS = {
    "gemcoresimpro": ReaderCaps(),
    "gempctwin": ReaderCaps("GemPCTwin", 1, max_rates=(344_086.0,), echo=True),
    "gempcpinpad": ReaderCaps("GemPCPinPad", 1, max_rates=(500_000.0,), echo=True, pin_support=0x03,
                              all_msg_indexes=True),
}


class CcidSerialSlot:
    """One slot of a CCID-serial reader, satisfying ``host.reader.Reader``. ``transmit`` maps the APDU to a T=0
    TPDU (61xx and 6Cxx come back to the caller untouched) or runs it through T=1."""

    def __init__(self, reader: CcidSerialReader, slot: int, name: str, caps: ReaderCaps, *,
                 protocol: int | None = None, pps_enabled: bool = True) -> None:
        self.reader = reader
        self.slot = slot
        self.name = name
        self.caps = caps
        self.preferred_protocol = protocol
        self.pps_enabled = pps_enabled
        self.atr: atr_mod.ATR | None = None
        self.protocol: int | None = None
        self.fidi = atr_mod.DEFAULT_FIDI
        self._t1: t1.T1Host | None = None

    # -- Reader protocol -------------------------------------------------------------------------------------------
    def connect(self) -> bytes:
        raw = self._power_on()
        try:
            self._negotiate()
        except ProtocolError:
            # §1.5: a failed PPS leaves the card unusable until a reset; then run with the defaults
            raw = self._power_on(cold=True)
            self._negotiate(use_pps=False)
        return raw

    def reset(self) -> bytes:
        return self.connect()

    @property
    def link(self) -> CcidSerialLink:
        return self.reader.open_link()

    def disconnect(self) -> None:
        was_connected = self.protocol is not None or self.atr is not None
        self.protocol = None
        self._t1 = None
        self.atr = None
        if was_connected and self.reader.is_open:
            with contextlib.suppress(ReaderError):
                self.link.exchange(ccid.IccPowerOff(self.slot))
        self.reader.release()

    def transaction(self) -> ContextManager[None]:
        return contextlib.nullcontext()

    def pin_pad(self) -> SerialPinPad | None:
        """The reader's PIN pad (``host.reader.PinPad``), or None when the model has none."""
        return SerialPinPad(self) if self.caps.pin_support else None

    def transmit(self, apdu: bytes) -> bytes:
        if self.protocol is None:
            raise NoCard(f"{self.name}: the card is not powered (connect first)")
        if self.protocol == 0:
            return self._xfr(t0.apdu_to_tpdu(apdu), mute_is_timeout=True)
        assert self._t1 is not None
        return self._t1_exchange(self._t1.begin(apdu))

    # -- internals ---------------------------------------------------------------------------------------------------
    def _check(self, reply: ccid.Message) -> ccid.Message:
        if isinstance(reply, ccid.Reply) and reply.failed:
            if reply.icc_status == ccid.ICC_ABSENT:
                self.protocol = None
                raise NoCard(f"{self.name}: no card")
            raise ReaderError(f"{self.name}: reader error {reply.error:02X} (status {reply.status:02X})")
        return reply

    def _power_on(self, cold: bool = False) -> bytes:
        if cold:
            self.link.exchange(ccid.IccPowerOff(self.slot))
        reply = self.link.exchange(ccid.IccPowerOn(self.slot))
        if isinstance(reply, ccid.DataBlock) and reply.failed:
            if reply.icc_status == ccid.ICC_ABSENT:
                raise NoCard(f"{self.name}: no card")
            raise ReaderTimeout(f"{self.name}: card does not answer to reset (error {reply.error:02X})")
        assert isinstance(reply, ccid.DataBlock)
        try:
            self.atr = atr_mod.parse(reply.data, strict=False)
        except MalformedFrame as exc:
            raise ProtocolError(f"{self.name}: bad ATR {reply.data.hex(' ')}: {exc}") from exc
        self.protocol, self._t1, self.fidi = None, None, atr_mod.DEFAULT_FIDI
        return reply.data

    def _negotiate(self, use_pps: bool = True) -> None:
        a = self.atr
        assert a is not None
        rate_ok = pps.reader_rate_check(self.caps.clock_hz, self.caps.max_rates[min(self.slot,
                                                                                     len(self.caps.max_rates) - 1)])
        if a.specific_mode:
            protocol = a.specific_protocol
            assert protocol is not None
            fidi = a.fidi if not a.implicit_parameters and rate_ok(a.fidi) else atr_mod.DEFAULT_FIDI
        else:
            want = self.preferred_protocol
            protocol = want if want is not None and want in a.protocols else a.default_protocol
            fidi = atr_mod.DEFAULT_FIDI
            request = pps.host_request(a, protocol, rate_ok) if use_pps and self.pps_enabled else None
            if request is not None:
                reply = self.link.exchange(ccid.XfrBlock(self.slot, 0, request.encode()))
                if isinstance(reply, ccid.DataBlock) and reply.failed:
                    raise ProtocolError(f"{self.name}: no PPS answer")
                assert isinstance(reply, ccid.DataBlock)
                settled = pps.check_response(request, reply.data)
                protocol, fidi = settled.protocol, settled.fidi
            elif protocol != a.default_protocol:
                protocol = a.default_protocol
        if protocol not in (0, 1):
            raise ProtocolError(f"{self.name}: T={protocol} is not supported")
        inverse = 1 if a.convention is atr_mod.Convention.INVERSE else 0
        guard = a.extra_guard_time
        if protocol == 0:
            params: ccid.T0Params | ccid.T1Params = ccid.T0Params(fidi, inverse << 1, guard, a.wi, 0)
        else:
            params = ccid.T1Params(fidi, 0x10 | (inverse << 1) | int(a.crc), guard, a.bwi_cwi, 0, a.ifsc, 0)
        self._check(self.link.exchange(ccid.SetParameters(self.slot, 0, protocol, params.encode())))
        self.protocol, self.fidi = protocol, fidi
        if protocol == 1:
            self._t1 = t1.T1Host(ifsc=a.ifsc, crc=a.crc)
            try:
                self._t1_exchange(self._t1.begin_ifs(self.caps.max_ifsd))
            except ProtocolError:
                self._t1.reset()   # keep IFSD 32, as CCID does when the card refuses S(IFS)

    def _bwt(self) -> float:
        a = self.atr
        bwi = a.bwi if a is not None else 4
        return atr_mod.bwt_seconds(bwi, self.fidi, self.caps.clock_hz)

    def _xfr(self, data: bytes, *, bwi: int = 0, mute_is_timeout: bool = False) -> bytes:
        reply = self._check_mute(self.link.exchange(ccid.XfrBlock(self.slot, 0, data, bwi),
                                                    extra_time=self._bwt() * max(1, bwi)), mute_is_timeout)
        assert isinstance(reply, ccid.DataBlock)
        return reply.data

    def _check_mute(self, reply: ccid.Message, mute_is_timeout: bool) -> ccid.Message:
        if isinstance(reply, ccid.DataBlock) and reply.failed and reply.icc_status != ccid.ICC_ABSENT:
            if reply.error == ccid.ERR_ICC_MUTE and mute_is_timeout:
                raise ReaderTimeout(f"{self.name}: card is mute")
            if reply.error in (ccid.ERR_ICC_MUTE, ccid.ERR_XFR_PARITY, ccid.ERR_XFR_OVERRUN):
                return reply
            raise ProtocolError(f"{self.name}: transfer failed, reader error {reply.error:02X}")
        return self._check(reply)

    def _t1_exchange(self, first: bytes) -> bytes:
        assert self._t1 is not None
        out, wtx = first, 1
        for _ in range(10_000):
            reply = self._check_mute(self.link.exchange(ccid.XfrBlock(self.slot, 0, out, wtx if wtx > 1 else 0),
                                                        extra_time=self._bwt() * wtx), False)
            assert isinstance(reply, ccid.DataBlock)
            step = self._t1.receive(None if reply.failed else reply.data)
            if step.done:
                return step.response or b""
            assert step.send is not None
            out, wtx = step.send, step.wtx
        raise ProtocolError(f"{self.name}: T=1 exchange does not end")


class SerialPinPad:
    """The PIN pad of a CCID-serial reader slot: one PC_to_RDR_Secure per verify or modify (CCID rev 1.1 §6.1.11).

    Returns the card's response APDU, or the status word a timeout (6400) or Cancel (6401) gives through PC/SC; on
    T=1 the reader sends the I-block with the prologue given here and hands back the card's block whole."""

    def __init__(self, slot: CcidSerialSlot) -> None:
        self.slot = slot
        self.name = f"{slot.name} PIN pad"

    def verify(self, request: pinpad_mod.PinVerify) -> bytes:
        return self._secure(request, 0x01)

    def modify(self, request: pinpad_mod.PinModify) -> bytes:
        return self._secure(request, 0x02)

    def _secure(self, request: pinpad_mod.PinRequest, need: int) -> bytes:
        s = self.slot
        if not s.caps.pin_support & need:
            raise ReaderError(f"{s.name}: the PIN pad cannot {'verify' if need == 1 else 'modify'} a PIN")
        if s.protocol is None:
            raise NoCard(f"{s.name}: the card is not powered (connect first)")
        host_t1 = s._t1 if s.protocol == 1 else None
        if host_t1 is not None:
            prologue = host_t1.begin(request.template)[:3]     # N(S) as if we sent the block ourselves
            request = replace(request, teo_prologue=prologue)
        data = ccid.secure_data(request, all_msg_indexes=s.caps.all_msg_indexes)
        wait = max(90.0, float((request.timeout or pinpad_mod.DEFAULT_TIMEOUT) + 10))   # as libccid waits
        reply = s.link.exchange(ccid.Secure(s.slot, 0, data), extra_time=wait)
        if isinstance(reply, ccid.DataBlock) and reply.failed and reply.error in pinpad_mod.CCID_ERROR_STATUS:
            if host_t1 is not None:
                host_t1.abandon()                              # no block went to the card
            return pinpad_mod.CCID_ERROR_STATUS[reply.error].to_bytes(2, "big")
        try:
            reply = s._check_mute(reply, host_t1 is None)
        except ReaderError:
            if host_t1 is not None:
                host_t1.abandon()
            raise
        assert isinstance(reply, ccid.DataBlock)
        if host_t1 is None:
            return reply.data
        if len(reply.data) == 2:          # the pad's own status word (a T=1 block has 4 bytes at least): none was sent
            host_t1.abandon()
            return reply.data
        return self._t1_rest(host_t1, None if reply.failed else reply.data)

    def _t1_rest(self, host_t1: t1.T1Host, block: bytes | None) -> bytes:
        """Finish the T=1 exchange the reader began: WTX and chained answers go on through XfrBlock; the I-block
        with the PIN cannot be sent again from here."""
        s = self.slot
        step = host_t1.receive(block)
        for _ in range(10_000):
            if step.done:
                return step.response or b""
            assert step.send is not None
            if t1.decode(step.send, host_t1.crc).kind is t1.Kind.I:
                host_t1.abandon()
                raise ProtocolError(f"{s.name}: the card asked for the PIN block again; enter the PIN again")
            reply = s._check_mute(s.link.exchange(ccid.XfrBlock(s.slot, 0, step.send, step.wtx if step.wtx > 1 else 0),
                                                  extra_time=s._bwt() * step.wtx), False)
            assert isinstance(reply, ccid.DataBlock)
            step = host_t1.receive(None if reply.failed else reply.data)
        raise ProtocolError(f"{s.name}: T=1 exchange does not end")


# --- the whole reader and the spec string -----------------------------------------------------------------------------------
SLOT_NAMES = ("card", "PSAM")


class CcidSerialReader:
    """An opened CCID-serial reader: ``slots[0]`` is the user card, ``slots[1]`` the PSAM (GemCore SIM Pro).

    The port is opened (and the reader checked with the firmware Escape) at construction; when every slot has
    been disconnected it is closed again, and reopened by the next ``connect`` (unless ``pipe`` was given)."""

    def __init__(self, url: str, *, model: str = "GemCoreSIMPro", baud: int = 115200, protocol: int | None = None,
                 pps_enabled: bool = True, response_timeout: float = 3.0, gap_timeout: float = 0.05,
                 max_attempts: int = 8, pipe: BytePipe | None = None, echo: bool | None = None) -> None:
        caps = READER_CAPS.get(model.lower())
        if caps is None:
            raise ReaderError(f"unknown serial reader model {model!r}; known: {', '.join(READER_CAPS)}")
        self.url = url
        self.caps = caps
        self._baud = baud
        self._pipe = pipe
        self._echo = caps.echo if echo is None else echo
        self._timeouts = (response_timeout, gap_timeout)
        self._max_attempts = max_attempts
        self._link: CcidSerialLink | None = None
        self._lock = threading.Lock()
        self.firmware = ""
        self.slots = [CcidSerialSlot(self, i, f"{caps.name} {url} slot {i} ({SLOT_NAMES[min(i, 1)]})", caps,
                                     protocol=protocol, pps_enabled=pps_enabled) for i in range(caps.slots)]
        self.open_link()

    @property
    def is_open(self) -> bool:
        return self._link is not None

    def open_link(self) -> CcidSerialLink:
        """The framing link, opening the port and greeting the reader first if needed (Escape 02, 01 01 01)."""
        with self._lock:
            if self._link is not None:
                return self._link
            pipe = self._pipe if self._pipe is not None else PySerialPipe(self.url, self._baud)
            link = CcidSerialLink(pipe, echo=self._echo, response_timeout=self._timeouts[0],
                                  gap_timeout=self._timeouts[1], max_attempts=self._max_attempts)
            try:
                fw = link.exchange(ccid.Escape(0, 0, b"\x02"))
                if not isinstance(fw, ccid.EscapeReply) or fw.failed:
                    raise ReaderError(f"{self.url}: no CCID-serial reader answers (firmware query failed)")
                self.firmware = fw.data.decode("latin-1")
                link.exchange(ccid.Escape(0, 0, b"\x01\x01\x01"))
            except ReaderError:
                link.close()
                raise
            self._link = link
            return link

    @property
    def link(self) -> CcidSerialLink:
        return self.open_link()

    def release(self) -> None:
        """Close the port once no slot is in use (a given ``pipe`` stays open)."""
        with self._lock:
            if self._pipe is not None or self._link is None:
                return
            if any(s.atr is not None for s in self.slots):
                return
            self._link.close()
            self._link = None

    @property
    def card(self) -> CcidSerialSlot:
        return self.slots[0]

    @property
    def psam(self) -> CcidSerialSlot | None:
        return self.slots[1] if len(self.slots) > 1 else None

    def close(self) -> None:
        for s in self.slots:
            if s.atr is not None:
                s.disconnect()
        with self._lock:
            if self._link is not None:
                self._link.close()
                self._link = None

    def __enter__(self) -> CcidSerialReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OPTION_TYPES: dict[str, Callable[[str], object]] = {
                 "baud": int, "protocol": int, "pps": lambda v: v not in ("0", "no", "off", "false"),
                 "model": str, "response_timeout": float, "gap_timeout": float,
                 "echo": lambda v: v not in ("0", "no", "off", "false"), "psam": str, "psam_model": str}


def parse_spec(spec: str) -> tuple[str, dict[str, object]]:
    """``ccid-serial:URL[,key=value…]`` -> (URL, options). Keys: baud, protocol (0/1), pps (on/off), model
    (GemCoreSIMPro, GemPCTwin, GemPCPinPad), response_timeout, gap_timeout, echo; psam (the URL of a second
    reader holding the PSAM) and psam_model (its model, GemCoreSIMPro by default)."""
    if spec.startswith(SPEC_PREFIX):
        spec = spec[len(SPEC_PREFIX):]
    url, *opts = spec.split(",")
    if not url:
        raise ValueError("ccid-serial: needs a device path or URL")
    options: dict[str, object] = {}
    for o in opts:
        key, _, value = o.partition("=")
        key = key.strip().lower()
        if key not in _OPTION_TYPES:
            raise ValueError(f"unknown ccid-serial option {key!r}")
        options["pps_enabled" if key == "pps" else key] = _option(key, value.strip())
    return url, options


_EXAMPLES = {"baud": "baud=9600", "protocol": "protocol=1", "response_timeout": "response_timeout=5",
             "gap_timeout": "gap_timeout=0.5"}


def _option(key: str, value: str) -> object:
    """One option's value, converted; ``ValueError`` naming the option and what it takes."""
    convert = _OPTION_TYPES[key]
    try:
        out = convert(value)
    except ValueError:
        kind = "a whole number" if convert is int else "a number"
        raise ValueError(f"ccid-serial option {key}={value!r} is not {kind} (e.g. {_EXAMPLES[key]})") from None
    if key == "baud" and isinstance(out, int) and out <= 0:
        raise ValueError(f"ccid-serial option baud={value!r}: the rate must be above 0 (e.g. baud=9600)")
    if key == "protocol" and out not in (0, 1):
        raise ValueError(f"ccid-serial option protocol={value!r}: 0 (T=0) or 1 (T=1)")
    return out


def open_reader(spec: str, **overrides: object) -> CcidSerialReader:
    """Open the reader a ``ccid-serial:`` spec names (the function the reader-spec parser in ``host`` calls)."""
    url, options = parse_spec(spec)
    options.update(overrides)
    options.pop("psam", None)
    options.pop("psam_model", None)
    return CcidSerialReader(url, **options)  # type: ignore[arg-type]  # _OPTION_TYPES converted each value


def open_readers(target: str) -> tuple[CcidSerialSlot, CcidSerialSlot | None]:
    """``host.spec`` entry point: the card slot and the PSAM slot of the reader at ``target``
    (``DEVICE_OR_URL[,option=value…]``): its second slot, or with ``psam=URL`` the last slot of that reader (a PIN
    pad has one slot, docs/serial.md §5), or None."""
    _, options = parse_spec(target)
    reader = open_reader(target)
    psam_url = options.get("psam")
    if not psam_url:
        return reader.card, reader.psam
    model = str(options.get("psam_model") or "GemCoreSIMPro")
    try:
        psam_reader = CcidSerialReader(str(psam_url), model=model)
    except BaseException:
        reader.close()
        raise
    return reader.card, psam_reader.slots[-1]
