"""A CCID-over-serial reader firmware (GemCore SIM Pro personality): slot 0 = user card, slot 1 = PSAM.

Reference: docs/serial.md §2.2 (GemCore framing, the messages libccidtwin sends and expects,
Escape 02 firmware and 01 01 01 card-movement mode, sizes, TPDU level), §2.2.3 (bStatus/bError), §1.6/§1.7
(the reader drives T=0 procedure bytes itself and passes T=1 blocks through), §4.1.

Sans-I/O: ``receive(serial bytes) -> serial bytes``; ``line_idle()`` when the host went quiet (a partial frame
is then NAKed). The link to each card is the ``Iso7816Card`` character engine; an optional line filter per
direction can damage card-line bytes (fault injection lives in ``hardware.line_faults``).

PIN pad (docs/serial.md §5, the GemPC PinPad personality): a PC_to_RDR_Secure starts a ``PinSession``
(``firmware_sim.pinpad``); ``receive`` then answers nothing (only the echo) until the session ends through
``press(key)`` or ``pin_time_out()``, which return the reply frame: the card's answer to the APDU the pad built, or a
failure with bError F0 (timeout) / EF (cancelled). The clock and the keys come from outside (``hardware/keypad.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from firmware_sim.iso7816_card import Iso7816Card, Phase
from firmware_sim.pinpad import PadResult, PinSession
from protocols import atr as atr_mod
from protocols import ccid, gemcore, pps, t0, t1
from protocols.pinpad import PinPadError
from protocols.errors import MalformedApdu, MalformedFrame, NoCard, ProtocolError

LineFilter = Callable[[bytes], bytes]

FIRMWARE = b"GemCoreSIMPro sscard-sim 1.0"


@dataclass(frozen=True)
class ReaderModel:
    """Fixed facts of the simulated reader (as libccid's serial descriptor states them for a GemCore SIM Pro)."""

    name: str = "GemCoreSIMPro"
    clock_hz: float = 4_000_000.0
    # per slot; libccid 1.5.2 offers the ISO rates up to 500 kbit/s on both slots of a GemCoreSIMPro (seen in
    # its find_baud_rate() log), so the PSAM slot accepts the same speeds
    max_rates: tuple[float, ...] = (500_000.0, 500_000.0)
    echo: bool = False
    firmware: bytes = FIRMWARE
    max_ifsd: int = 254
    pin_support: int = 0      # bPINSupport: 01 verify, 02 modify (a PIN pad)

    def rate_ok(self, slot: int) -> Callable[[int], bool]:
        return pps.reader_rate_check(self.clock_hz, self.max_rates[min(slot, len(self.max_rates) - 1)])


GEMCORE_SIM_PRO = ReaderModel()
GEMPC_TWIN = ReaderModel(name="GemPCTwin", max_rates=(344_086.0,), echo=True,
                         firmware=b"GemPC Twin sscard-sim 1.0")
# docs/serial.md §5: one slot, echo, the extended rates up to 500 kbit/s, PIN verify and modify
GEMPC_PINPAD = ReaderModel(name="GemPCPinPad", max_rates=(500_000.0,), echo=True,
                           firmware=b"GemPC PinPad sscard-sim 1.0", pin_support=0x03)

# bError for a PC_to_RDR_Secure the pad cannot use (CCID §6.2.6: the offset of the faulty field)
ERR_PIN_OPERATION = 10        # bPINOperation
ERR_PIN_STRUCTURE = 11        # the structure after it


@dataclass
class _Slot:
    card: Iso7816Card | None
    protocol: int = 0
    params: bytes = field(default_factory=lambda: ccid.T0Params().encode())
    to_card: LineFilter | None = None
    from_card: LineFilter | None = None


class CcidSerialFirmware:
    """The reader: GemCore framing in and out, CCID messages, T=0 at character level, T=1 pass-through."""

    def __init__(self, cards: Sequence[Iso7816Card | None], model: ReaderModel = GEMCORE_SIM_PRO, *,
                 time_requests: bool = False) -> None:
        self.model = model
        self.slots = [_Slot(c) for c in cards]
        self.time_requests = time_requests
        self._decoder = gemcore.Decoder(from_reader=False)
        self._last_command: bytes | None = None
        self._last_reply: bytes | None = None
        self._notify_sync = False
        self._pending_notices = bytearray()
        self.card_seconds = 0.0
        self.stats = {"frames": 0, "naks_sent": 0, "naks_received": 0, "replays": 0, "pps": 0, "lenient_tpdus": 0,
                      "pin_entries": 0}
        self.pin_session: PinSession | None = None
        self._pin_command: ccid.Secure | None = None
        self._pin_frame: bytes | None = None

    # -- card movement -------------------------------------------------------------------------------------
    def insert(self, slot: int, card: Iso7816Card) -> None:
        self.slots[slot].card = card
        self._notice()

    def remove(self, slot: int) -> None:
        s = self.slots[slot]
        if s.card is not None:
            s.card.deactivate()
        s.card = None
        self._notice()

    def _notice(self) -> None:
        if not self._notify_sync:
            return
        state = 0
        for i, s in enumerate(self.slots):
            state |= ((1 if s.card is not None else 0) | 2) << (2 * i)
        self._pending_notices += bytes([gemcore.NOTIFY_SLOT_CHANGE, state & 0xFF])

    def set_line_filters(self, slot: int, to_card: LineFilter | None, from_card: LineFilter | None) -> None:
        self.slots[slot].to_card, self.slots[slot].from_card = to_card, from_card

    def take_card_seconds(self) -> float:
        """Card-line time spent since the last call (characters × character duration at the slot's Fi/Di)."""
        t, self.card_seconds = self.card_seconds, 0.0
        return t

    # -- serial side -----------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for ev in self._decoder.feed(data):
            out += self._on_event(ev)
        return bytes(out)

    def line_idle(self) -> bytes:
        """The host stopped in the middle of a frame: drop it and NAK."""
        out = bytearray()
        for ev in self._decoder.flush():
            out += self._on_event(ev)
        return bytes(out)

    @property
    def partial(self) -> bool:
        return self._decoder.pending

    def _on_event(self, ev: gemcore.Event) -> bytes:
        if isinstance(ev, gemcore.BadFrame):
            self.stats["naks_sent"] += 1
            return gemcore.NAK_FRAME
        if isinstance(ev, gemcore.Nak):
            self.stats["naks_received"] += 1
            return self._last_reply or b""
        if not isinstance(ev, gemcore.Frame):
            return b""
        self.stats["frames"] += 1
        frame = gemcore.encode(ev.message)
        echo = frame if self.model.echo else b""
        if self.pin_session is not None and ev.message == self._pin_frame:
            return echo                  # the PIN entry this command started is still going on
        if ev.message == self._last_command and self._last_reply is not None:
            self.stats["replays"] += 1   # a retransmission of a command already executed: answer it again
            return echo + self._last_reply
        answer = self._handle(ccid.decode(ev.message))
        notices, self._pending_notices = bytes(self._pending_notices), bytearray()
        if answer is None:              # a PIN entry began: the reply comes with its end
            self._pin_frame = ev.message
            self._last_command, self._last_reply = ev.message, None
            return echo + notices
        reply = gemcore.encode(answer.encode())
        if echo and self.model.pin_support and ev.message[:1] == b"\x6B" and ev.message[10:11] == b"\xB2":
            # libccid reads the echo into the buffer meant for the answer; the display strings it loads into a GemPC
            # PinPad (165 bytes) do not fit the 20 bytes it keeps for that answer, so the echo stands in as a
            # second copy of the answer, which libccid discards the same way (docs/serial.md §5)
            echo = reply
        self._last_command, self._last_reply = ev.message, reply
        return echo + notices + reply

    # -- CCID messages ---------------------------------------------------------------------------------------
    def _handle(self, msg: ccid.Message) -> ccid.Message | None:
        if isinstance(msg, ccid.Unsupported):
            return self._failed(msg, ccid.ERR_CMD_NOT_SUPPORTED)
        if self.pin_session is not None:   # the reader is busy with the keypad (CCID §6.2.6 CMD_SLOT_BUSY)
            return self._failed(msg, ccid.ERR_CMD_SLOT_BUSY, self.slots[0] if self.slots else None)
        if isinstance(msg, ccid.Escape):
            return self._escape(msg)
        if msg.slot >= len(self.slots):
            return self._failed(msg, ccid.ERR_BAD_SLOT)
        slot = self.slots[msg.slot]
        if isinstance(msg, ccid.Secure):
            return self._secure(msg, slot)
        if isinstance(msg, ccid.IccPowerOn):
            return self._power_on(msg, slot)
        if isinstance(msg, ccid.IccPowerOff):
            if slot.card is not None:
                slot.card.deactivate()
            return ccid.SlotStatus(msg.slot, msg.seq, self._icc(slot), 0, 0)
        if isinstance(msg, ccid.GetSlotStatus):
            return ccid.SlotStatus(msg.slot, msg.seq, self._icc(slot), 0, 0)
        if isinstance(msg, ccid.XfrBlock):
            return self._xfr(msg, slot)
        if isinstance(msg, ccid.GetParameters):
            return ccid.Parameters(msg.slot, msg.seq, self._icc(slot), 0, slot.protocol, slot.params)
        if isinstance(msg, ccid.ResetParameters):
            slot.protocol, slot.params = 0, ccid.T0Params().encode()
            return ccid.Parameters(msg.slot, msg.seq, self._icc(slot), 0, slot.protocol, slot.params)
        if isinstance(msg, ccid.SetParameters):
            return self._set_parameters(msg, slot)
        return self._failed(msg, ccid.ERR_CMD_NOT_SUPPORTED)

    @staticmethod
    def _icc(slot: _Slot) -> int:
        if slot.card is None:
            return ccid.ICC_ABSENT
        return ccid.ICC_ACTIVE if slot.card.active else ccid.ICC_INACTIVE

    def _failed(self, msg: ccid.Message, error: int, slot: _Slot | None = None) -> ccid.Message:
        status = ccid.CMD_FAILED | (self._icc(slot) if slot is not None else 0)
        t = msg.msg_type if isinstance(msg, ccid.Unsupported) else msg.TYPE
        rt = ccid.REPLY_TYPE.get(t, 0x81)
        if rt == 0x80:
            return ccid.DataBlock(msg.slot, msg.seq, status, error)
        if rt == 0x82:
            return ccid.Parameters(msg.slot, msg.seq, status, error)
        if rt == 0x83:
            return ccid.EscapeReply(msg.slot, msg.seq, status, error)
        if rt == 0x84:
            return ccid.DataRateAndClock(msg.slot, msg.seq, status, error)
        return ccid.SlotStatus(msg.slot, msg.seq, status, error, 0)

    def _escape(self, msg: ccid.Escape) -> ccid.Message:
        d = msg.data
        if d == b"\x02":
            return ccid.EscapeReply(msg.slot, msg.seq, 0, 0, self.model.firmware)
        if d[:2] == b"\x01\x01" and len(d) == 3:   # card movement notification mode
            self._notify_sync = d[2] == 0x01
            return ccid.EscapeReply(msg.slot, msg.seq, 0, 0, b"")
        if d[:1] == b"\x01" and len(d) == 3:       # other reader settings (e.g. 01 10 20 serial speed)
            return ccid.EscapeReply(msg.slot, msg.seq, 0, 0, b"")
        if self.model.pin_support and d[:1] in (b"\xB2", b"\xB5"):
            # what libccid sends a GemPC PinPad when it opens it: B2 A0 00 4D 4C + the display strings (it gives up
            # the reader if this fails), B5 00 to switch the pad's own retry counter off (docs/serial.md §5)
            return ccid.EscapeReply(msg.slot, msg.seq, 0, 0, b"")
        return self._failed(msg, ccid.ERR_CMD_NOT_SUPPORTED)

    # -- card line -----------------------------------------------------------------------------------------------
    def _char_seconds(self, slot: _Slot, fidi: int | None = None) -> float:
        f = fidi if fidi is not None else slot.params[0]
        if not atr_mod.fidi_valid(f):
            f = atr_mod.DEFAULT_FIDI
        return atr_mod.character_etu(slot.protocol) * atr_mod.etu_seconds(f, self.model.clock_hz)

    def _to_card(self, slot: _Slot, data: bytes, fidi: int | None = None) -> bytes:
        assert slot.card is not None
        self.card_seconds += len(data) * self._char_seconds(slot, fidi)
        if slot.to_card is not None:
            data = slot.to_card(data)
        out = slot.card.feed(data) if data else b""
        return self._from_card(slot, out, fidi)

    def _from_card(self, slot: _Slot, out: bytes, fidi: int | None = None) -> bytes:
        if slot.from_card is not None and out:
            out = slot.from_card(out)
        self.card_seconds += len(out) * self._char_seconds(slot, fidi)
        return out

    def _power_on(self, msg: ccid.IccPowerOn, slot: _Slot) -> ccid.Message:
        if slot.card is None:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | ccid.ICC_ABSENT, ccid.ERR_ICC_MUTE)
        atr_bytes = slot.card.warm_reset() if slot.card.active else slot.card.cold_reset()
        slot.protocol, slot.params = 0, ccid.T0Params().encode()
        self.card_seconds += len(atr_bytes) * self._char_seconds(slot, atr_mod.DEFAULT_FIDI)
        return ccid.DataBlock(msg.slot, msg.seq, ccid.ICC_ACTIVE, 0, 0, atr_bytes)

    def _set_parameters(self, msg: ccid.SetParameters, slot: _Slot) -> ccid.Message:
        icc = self._icc(slot)
        try:
            params = ccid.decode_params(msg.protocol, msg.params)
        except MalformedFrame:
            return ccid.Parameters(msg.slot, msg.seq, ccid.CMD_FAILED | icc, 7, slot.protocol, slot.params)
        if not atr_mod.fidi_valid(params.fidi) or not self.model.rate_ok(msg.slot)(params.fidi):
            return ccid.Parameters(msg.slot, msg.seq, ccid.CMD_FAILED | icc, 10, slot.protocol, slot.params)
        slot.protocol, slot.params = msg.protocol, params.encode()
        return ccid.Parameters(msg.slot, msg.seq, icc, 0, slot.protocol, slot.params)

    def _xfr(self, msg: ccid.XfrBlock, slot: _Slot) -> ccid.Message:
        card = slot.card
        if card is None:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | ccid.ICC_ABSENT, ccid.ERR_ICC_MUTE)
        if not card.active:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | ccid.ICC_INACTIVE, ccid.ERR_ICC_MUTE)
        data = msg.data
        try:
            if card.phase in (Phase.AFTER_ATR, Phase.PPS) and data[:1] == b"\xFF":
                answer = self._pps(slot, data)
            elif slot.protocol == 1:
                answer = self._t1(slot, data)
            else:
                answer = self._t0(slot, data)
        except MalformedApdu:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED, 1)
        except NoCard:      # the card left the slot mid-command (fault injection): report it gone
            self.remove(msg.slot)
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | ccid.ICC_ABSENT, ccid.ERR_ICC_MUTE)
        except ProtocolError:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        if answer is None:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED, ccid.ERR_ICC_MUTE)
        return ccid.DataBlock(msg.slot, msg.seq, 0, 0, 0, answer)

    def _pps(self, slot: _Slot, request: bytes) -> bytes | None:
        self.stats["pps"] += 1
        out = self._to_card(slot, request, atr_mod.DEFAULT_FIDI)
        try:
            n = pps.pps_length(out)
        except MalformedFrame:
            return None
        if n is None or len(out) < n:
            return None
        return out[:n]

    def _t0(self, slot: _Slot, tpdu: bytes) -> bytes | None:
        assert slot.card is not None
        if len(tpdu) == 4 or (len(tpdu) > 5 and len(tpdu) == 6 + tpdu[4]):
            # A case 1 APDU without P3, or a case 4 APDU with its Le: what libccid passes through on T=0 when an
            # application sends APDUs. A real reader sends the extra Le after the data and the card ignores it;
            # we send P3 = 00 / drop Le, and count it (the host should have mapped the APDU to a TPDU).
            self.stats["lenient_tpdus"] += 1
            tpdu = tpdu + b"\x00" if len(tpdu) == 4 else tpdu[:-1]
        machine = t0.T0Reader(tpdu)
        out = self._to_card(slot, machine.start())
        for _ in range(2 * len(tpdu) + 600):
            if not out:
                return None   # the card stays silent: WT expires
            step = machine.feed(out)
            if step.done:
                return step.response
            out = self._to_card(slot, step.send) if step.send else b""
        raise ProtocolError("T=0 exchange does not end")

    def _t1(self, slot: _Slot, block: bytes) -> bytes | None:
        assert slot.card is not None
        crc = bool(ccid.T1Params.decode(slot.params).crc) if len(slot.params) == 7 else False
        out = self._to_card(slot, block)
        if not out:
            out = self._from_card(slot, slot.card.line_idle())  # the card's CWT ran out on a damaged block
        if not out:
            return None
        n = t1.block_length(out, crc)
        if n is None or len(out) < n:
            return None   # the reader waits for the rest of the block and times out
        return out[:n]

    # -- the PIN pad (docs/serial.md §5) --------------------------------------------------------------------------
    def _secure(self, msg: ccid.Secure, slot: _Slot) -> ccid.Message | None:
        if not self.model.pin_support:
            return self._failed(msg, ccid.ERR_CMD_NOT_SUPPORTED, slot)
        if slot.card is None or not slot.card.active:
            return self._failed(msg, ccid.ERR_ICC_MUTE, slot)
        op = msg.pin_operation
        if op is None or op > 1 or not self.model.pin_support & (1 << op):
            return self._failed(msg, ERR_PIN_OPERATION, slot)
        try:
            # Gemalto firmware reads all three bMsgIndex of a modify (libccid sends them so, docs/serial.md §5)
            request = ccid.parse_secure(msg.data, all_msg_indexes=True)
            session = PinSession(request)
        except PinPadError:
            return self._failed(msg, ERR_PIN_STRUCTURE, slot)
        self.stats["pin_entries"] += 1
        self.pin_session, self._pin_command = session, msg
        return None

    @property
    def pin_timeout(self) -> float | None:
        """Seconds the pad waits for the next key while a PIN entry goes on (None when none does)."""
        return self.pin_session.timeout if self.pin_session is not None else None

    def press(self, key: str) -> bytes:
        """A key on the pad: the reply frame once this key ends the PIN entry, else nothing. Keys pressed while no
        entry goes on are dropped, as a pad does."""
        if self.pin_session is None:
            return b""
        result = self.pin_session.press(key)
        return self._pin_done(result) if result is not None else b""

    def pin_time_out(self) -> bytes:
        """The pad's timer ran out: the reply frame (bError F0, or the APDU's answer when the structure validates
        on timeout)."""
        if self.pin_session is None:
            return b""
        result = self.pin_session.time_out()
        return self._pin_done(result) if result is not None else b""

    def cancel_pin_entry(self) -> bytes:
        """End a PIN entry as if Cancel had been pressed (a host that went away)."""
        return self.press("CANCEL")

    def _pin_done(self, result: PadResult) -> bytes:
        msg, session = self._pin_command, self.pin_session
        assert msg is not None and session is not None
        self.pin_session, self._pin_command, self._pin_frame = None, None, None
        slot = self.slots[msg.slot]
        reply: ccid.Message
        if result.error is not None:
            reply = self._failed(msg, result.error, slot)
        elif result.status is not None:
            reply = ccid.DataBlock(msg.slot, msg.seq, self._icc(slot), 0, 0, result.status.to_bytes(2, "big"))
        else:
            assert result.apdu is not None
            reply = self._send_pin_apdu(msg, slot, result.apdu, session.request.teo_prologue)
        frame = gemcore.encode(reply.encode())
        self._last_reply = frame
        return frame

    def _send_pin_apdu(self, msg: ccid.Secure, slot: _Slot, apdu: bytes, prologue: bytes) -> ccid.Message:
        """The APDU with the PIN to the card: a T=0 TPDU, or one T=1 I-block with the prologue the host gave
        (bTeoPrologue: NAD, PCB; LEN is the APDU's) whose answer block goes back whole, as CCID says."""
        card = slot.card
        if card is None or not card.active:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | self._icc(slot), ccid.ERR_ICC_MUTE)
        try:
            if slot.protocol == 1:
                crc = ccid.T1Params.decode(slot.params).crc if len(slot.params) == 7 else False
                body = bytes(prologue[:2]) + bytes([len(apdu)]) + apdu
                answer = self._t1(slot, body + t1.edc(body, crc))
            else:
                answer = self._t0(slot, apdu)
        except NoCard:
            self.remove(msg.slot)
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED | ccid.ICC_ABSENT, ccid.ERR_ICC_MUTE)
        except (ProtocolError, MalformedApdu):
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        if answer is None:
            return ccid.DataBlock(msg.slot, msg.seq, ccid.CMD_FAILED, ccid.ERR_ICC_MUTE)
        return ccid.DataBlock(msg.slot, msg.seq, 0, 0, 0, answer)
