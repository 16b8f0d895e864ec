"""PC/SC readers through pyscard's low-level ``smartcard.scard`` API (docs/design.md §2; docs/peers.md §5.3).

Reader specs ``pcsc``, ``pcsc:N`` (index in pcscd's list) and ``pcsc:NAME`` (case-insensitive name
substring; an exact name wins) → ``open_reader(rest)`` → a ``PcscReader`` that satisfies
``host.reader.Reader`` structurally.

Robustness (the pyscard issue list, §5.3): every PC/SC result code maps to a typed error from
``protocols.errors``. A card that is gone gives ``NoCard``; a reader that vanished or a pcscd that
restarted gives ``ReaderError`` and drops the context and card handle, so the *next* call builds
them again instead of failing forever. An empty or one-byte answer (what vpcd returns when the
emulator hung up mid-exchange, pyscard #18) is checked against the reader state and becomes
``NoCard`` or ``ProtocolError``, never a crash. The protocol is what pcscd negotiates from the
card's ATR among T=0 and T=1 (vpcd always reports T=1 on the wire, the ATR still decides).

PIN pads (docs/serial.md §5): ``pin_pad()`` asks the reader driver for its PC/SC part 10 features with
SCardControl(CM_IOCTL_GET_FEATURE_REQUEST) and, when FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT are
offered, returns a ``PcscPinPad`` that hands the structures of ``protocols.pinpad`` to SCardControl; the answer is
the card's response or the pad's 6400 (timeout) / 6401 (cancelled) …, the PIN never passes through here.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from smartcard import scard

from protocols import pinpad as pinpad_mod
from protocols.errors import MalformedApdu, MalformedFrame, NoCard, ProtocolError, ReaderError, ReaderTimeout
from protocols.t0 import apdu_to_tpdu

DEFAULT_SOCKET = "/run/pcscd/pcscd.comm"   # pcsc-lite's, as Debian builds it
_PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_DISPOSITIONS = {
    "leave": scard.SCARD_LEAVE_CARD,
    "reset": scard.SCARD_RESET_CARD,
    "unpower": scard.SCARD_UNPOWER_CARD,
}

# Result codes by what they mean for the caller and for our cached handles.
_SERVICE_GONE = {  # context (and handle) are dead: rebuild both next time
    scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_F_COMM_ERROR, scard.SCARD_E_INVALID_HANDLE,
}
_READER_GONE = {  # the reader went away (unplugged, pcscd reconfigured)
    scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE,
}
_CARD_GONE = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD}
_CARD_RESET = {scard.SCARD_W_RESET_CARD, scard.SCARD_W_UNPOWERED_CARD}
_CARD_MUTE = {scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_PROTO_MISMATCH}


class CardReset(ReaderError):
    """Another application reset or powered down the card; its security state is gone.

    The connection is re-established on the next call; the interrupted flow must start over.
    """


class NoService(ReaderError):
    """No pcscd answers on the socket this process uses (``socket_path()``)."""


def socket_path() -> str:
    """The pcscd socket libpcsclite talks to: ``$PCSCLITE_CSOCK_NAME``, else pcsc-lite's default."""
    return os.environ.get("PCSCLITE_CSOCK_NAME") or DEFAULT_SOCKET


def _message(hr: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(hr).rstrip('.')} ({hr & 0xFFFFFFFF:#010x})"
    except Exception:
        return f"PC/SC error {hr & 0xFFFFFFFF:#010x}"


def _establish() -> int:
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED):
        raise NoService(f"cannot reach pcscd at {socket_path()} ({_message(hr)}): is it running? Start one with "
                        "`sscard pcscd` or the system's: `sudo service pcscd start` (systemd: "
                        "`sudo systemctl start pcscd.socket`)")
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot reach pcscd: {_message(hr)}")
    return ctx


def _release(ctx: int) -> None:
    with contextlib.suppress(Exception):
        scard.SCardReleaseContext(ctx)


def _list(ctx: int) -> list[str]:
    hr, readers = scard.SCardListReaders(ctx, [])
    if hr in (scard.SCARD_E_NO_READERS_AVAILABLE,):
        return []
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot list PC/SC readers: {_message(hr)}")
    return list(readers)


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows, in its order (the ``N`` of ``pcsc:N``)."""
    ctx = _establish()
    try:
        return _list(ctx)
    finally:
        _release(ctx)


@dataclass(frozen=True)
class ReaderState:
    """What pcscd knows of one reader without connecting to it (what ``pcsc_scan`` shows)."""

    name: str
    present: bool
    atr: bytes                  # the card's ATR as pcscd read it at insertion; empty without a card
    flags: tuple[str, ...]      # "mute", "in use", "exclusive", "unavailable"


_STATE_FLAGS = ((scard.SCARD_STATE_MUTE, "mute"), (scard.SCARD_STATE_INUSE, "in use"),
                (scard.SCARD_STATE_EXCLUSIVE, "exclusive"), (scard.SCARD_STATE_UNAVAILABLE, "unavailable"))


def reader_states() -> list[ReaderState]:
    """Every reader pcscd knows, in its order, with card present or absent and the ATR, in one status query
    (SCardGetStatusChange from SCARD_STATE_UNAWARE, which answers at once); no card is connected or reset."""
    ctx = _establish()
    try:
        names = _list(ctx)
        if not names:
            return []
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names])
        if hr != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot read the PC/SC readers' states: {_message(hr)}")
        out = []
        for name, event, atr in states:
            present = bool(event & scard.SCARD_STATE_PRESENT)
            flags = tuple(text for bit, text in _STATE_FLAGS if event & bit)
            out.append(ReaderState(name, present, bytes(atr) if present else b"", flags))
        return out
    finally:
        _release(ctx)


def select_reader(readers: list[str], selector: str) -> str:
    """Pick a reader: ``""`` the first, digits an index, else an exact name or a name substring."""
    if not readers:
        raise ReaderError("no PC/SC reader connected")
    if not selector:
        return readers[0]
    if selector.isdigit():
        index = int(selector)
        if index >= len(readers):
            raise ReaderError(f"no PC/SC reader #{index}; readers: {readers}")
        return readers[index]
    if selector in readers:
        return selector
    matches = [r for r in readers if selector.casefold() in r.casefold()]
    if not matches:
        raise ReaderError(f"no PC/SC reader matches {selector!r}; readers: {readers}")
    return matches[0]


def psam_reader_name(readers: list[str], card_reader: str) -> str | None:
    """Where the PSAM is, given the card's reader: another slot of the same reader first (pcsc-lite
    names slots ``"NAME NN SS"``: vpcd's "… 00 01", SAM slots of two-slot readers), else the next
    reader in pcscd's order; None if the card's reader is the only one."""
    others = [r for r in readers if r != card_reader]
    if not others:
        return None
    stem = card_reader.rsplit(" ", 1)[0]
    same_reader = [r for r in others if r.rsplit(" ", 1)[0] == stem]
    if same_reader:
        return same_reader[0]
    if card_reader in readers:
        after = readers[readers.index(card_reader) + 1 :]
        if after:
            return after[0]
    return others[0]


class PcscReader:
    """One PC/SC reader slot. Thread-safe; ``transaction()`` also excludes other threads."""

    def __init__(
        self,
        selector: str = "",
        *,
        exclusive: bool = False,
        disposition: str = "unpower",
        removal_settle: float = 1.0,
    ) -> None:
        self.selector = selector
        self.share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        self.disposition = _DISPOSITIONS[disposition]
        self.removal_settle = removal_settle  # how long pcscd may take to notice a removal
        self.name = selector if selector and not selector.isdigit() else f"pcsc:{selector}"  # until resolved
        self.atr = b""
        self.protocol = 0  # SCARD_PROTOCOL_T0 or _T1 once connected
        self.resets_seen = 0  # resets by other applications recovered at transaction start
        self._lock = threading.RLock()
        self._ctx: int | None = None
        self._card: int | None = None
        self._depth = 0  # nesting of transaction()
        self._lost: type[ReaderError] | None = None  # the card session died inside the current transaction
        self._features: tuple[str, dict[int, int]] | None = None

    # -- Reader protocol ------------------------------------------------------------------------
    def connect(self) -> bytes:
        """Connect to the card (pcscd powers it on first use) and return its ATR."""
        with self._lock:
            self._ensure_card()
            return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return data ‖ SW1 SW2."""
        with self._lock:
            card = self._ensure_card()
            if self.protocol == scard.SCARD_PROTOCOL_T0 and len(apdu) > 5:
                # T=0 readers take TPDUs: a case-4 APDU goes without its Le and the data comes back
                # through 61xx + GET RESPONSE (ISO 7816-3 §12.2.4; the engine fetches it).
                try:
                    apdu = apdu_to_tpdu(apdu)
                except MalformedApdu:
                    pass   # extended or odd INS: let pcscd refuse it
            try:
                hr, response = scard.SCardTransmit(card, self.protocol, list(apdu))
            except (TypeError, ValueError, SystemError) as exc:  # pyscard refused the buffer
                raise ProtocolError(f"pyscard could not transmit {len(apdu)} bytes: {exc}") from exc
            if hr != scard.SCARD_S_SUCCESS:
                self._raise(hr, "transmit")
            if len(response) < 2:
                self._raise_mute(f"{len(response)}-byte response without a status word")
            return bytes(response)

    def reset(self) -> bytes:
        """Warm-reset the card (SCardReconnect with SCARD_RESET_CARD) and return its ATR."""
        with self._lock:
            card = self._ensure_card()
            hr, protocol = scard.SCardReconnect(card, self.share, _PROTOCOLS, scard.SCARD_RESET_CARD)
            if hr != scard.SCARD_S_SUCCESS:
                self._raise(hr, "reset")
            self.protocol = protocol
            self._read_status()
            return self.atr

    def disconnect(self) -> None:
        """Release the card (default: power it down, wiping its security state) and the context."""
        with self._lock:
            self._drop(self.disposition)
            if self._ctx is not None:
                _release(self._ctx)
                self._ctx = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Exclusive access for a multi-command flow (SCardBeginTransaction … EndTransaction).

        Re-entrant. A card reset by another application *between* flows is acknowledged here and
        the flow proceeds (``resets_seen`` counts it); a removed card raises ``NoCard``. If the card
        session dies *inside* the transaction, every later call in it fails the same way: a flow
        never continues silently on a fresh session; the next transaction reconnects.
        """
        with self._lock:
            if self._depth == 0:
                self._begin()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._lost = None
                    if self._card is not None:
                        with contextlib.suppress(Exception):
                            scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)

    # -- PIN pad (PC/SC part 10) --------------------------------------------------------------------
    def features(self) -> dict[int, int]:
        """The reader driver's part 10 features, {FEATURE_… tag: control code} (asked once per reader name)."""
        with self._lock:
            card = self._ensure_card()
            if self._features is not None and self._features[0] == self.name:
                return self._features[1]
            hr, answer = scard.SCardControl(card, scard.SCARD_CTL_CODE(pinpad_mod.GET_FEATURE_REQUEST), [])
            if hr != scard.SCARD_S_SUCCESS:
                if hr in _CARD_GONE | _CARD_RESET | _SERVICE_GONE | _READER_GONE:
                    self._raise(hr, "get features")
                found: dict[int, int] = {}       # a driver without part 10 (vpcd) refuses the control code
            else:
                try:
                    found = pinpad_mod.parse_features(bytes(answer))
                except MalformedFrame as exc:
                    raise ProtocolError(f"{self.name}: the driver's feature list: {exc}") from exc
            self._features = (self.name, found)
            return found

    def pin_pad(self) -> PcscPinPad | None:
        """The reader's PIN pad when its driver offers FEATURE_VERIFY_PIN_DIRECT, else None."""
        found = self.features()
        verify = found.get(pinpad_mod.FEATURE_VERIFY_PIN_DIRECT)
        if verify is None:
            return None
        return PcscPinPad(self, verify, found.get(pinpad_mod.FEATURE_MODIFY_PIN_DIRECT))

    def control(self, code: int, data: bytes) -> bytes:
        """SCardControl on the card's connection (a PIN entry holds it until the holder is done)."""
        with self._lock:
            card = self._ensure_card()
            try:
                hr, answer = scard.SCardControl(card, code, list(data))
            except (TypeError, ValueError, SystemError) as exc:
                raise ProtocolError(f"pyscard could not send control code {code:#x}: {exc}") from exc
            if hr != scard.SCARD_S_SUCCESS:
                self._raise(hr, f"control {code:#x}")
            return bytes(answer)

    # -- extras ----------------------------------------------------------------------------------
    def wait_for_card(self, timeout: float, present: bool = True) -> bool:
        """Block up to ``timeout`` s until a card is in the reader (or, ``present=False``, until it
        is out); True when that state is reached. For "insert your card" / "take your card" steps."""
        deadline = time.monotonic() + timeout
        with self._lock:
            ctx = self._context()
            try:
                name = self._resolve(ctx)
            except ReaderError:
                self._forget_context()
                raise
            state = scard.SCARD_STATE_UNAWARE
            while True:
                left = max(0, int((deadline - time.monotonic()) * 1000))
                hr, states = scard.SCardGetStatusChange(ctx, left if state else 0, [(name, state)])
                if hr == scard.SCARD_E_TIMEOUT:
                    return False
                if hr != scard.SCARD_S_SUCCESS:
                    self._raise(hr, "wait for card")
                state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                usable = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
                if usable == present:
                    return True
                if time.monotonic() >= deadline:
                    return False

    def close(self) -> None:
        self.disconnect()

    def __enter__(self) -> PcscReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # -- internals -------------------------------------------------------------------------------
    def _context(self) -> int:
        if self._ctx is None:
            self._ctx = _establish()
        return self._ctx

    def _resolve(self, ctx: int) -> str:
        """The reader name: the one resolved before if pcscd still lists it, else resolve again."""
        readers = _list(ctx)
        if self.name not in readers:
            self.name = select_reader(readers, self.selector)
        return self.name

    def _ensure_card(self) -> int:
        if self._card is not None:
            return self._card
        if self._lost is not None:
            raise self._lost(f"{self.name}: the card session was lost earlier in this transaction")
        ctx = self._context()
        try:
            name = self._resolve(ctx)
        except ReaderError:
            self._forget_context()  # maybe pcscd restarted under us: rebuild next time
            raise
        hr, card, protocol = scard.SCardConnect(ctx, name, self.share, _PROTOCOLS)
        if hr != scard.SCARD_S_SUCCESS:
            self._raise(hr, f"connect to {name!r}")
        self._card, self.protocol = card, protocol
        self._read_status()
        return card

    def _read_status(self) -> None:
        assert self._card is not None
        hr, _reader, _state, protocol, atr = scard.SCardStatus(self._card)
        if hr != scard.SCARD_S_SUCCESS:
            self._raise(hr, "status")
        self.protocol = protocol or self.protocol
        self.atr = bytes(atr)

    def _begin(self) -> None:
        for attempt in (1, 2):
            card = self._ensure_card()
            hr = scard.SCardBeginTransaction(card)
            if hr == scard.SCARD_S_SUCCESS:
                return
            if attempt == 1 and hr in _CARD_RESET | {scard.SCARD_W_REMOVED_CARD}:
                if hr in _CARD_RESET:
                    self.resets_seen += 1
                self._drop(scard.SCARD_LEAVE_CARD)  # acknowledge and reconnect once
                continue
            self._raise(hr, "begin transaction")

    def _drop(self, disposition: int) -> None:
        card, self._card = self._card, None
        if card is not None:
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(card, disposition)

    def _forget_context(self) -> None:
        self._drop(scard.SCARD_LEAVE_CARD)
        if self._ctx is not None:
            _release(self._ctx)
            self._ctx = None

    def _raise(self, hr: int, what: str) -> None:
        """Map a PC/SC result code to a typed error, dropping whatever it invalidated."""
        text = f"{self.name}: {what}: {_message(hr)}"
        if hr in _CARD_GONE:
            self._session_lost(NoCard, text)
        if hr in _CARD_RESET:
            self._session_lost(CardReset, text)
        if hr in _SERVICE_GONE or hr in _READER_GONE:
            self._forget_context()
            self._session_lost(ReaderError, text)
        if hr == scard.SCARD_E_TIMEOUT:
            raise ReaderTimeout(text)
        if hr in _CARD_MUTE:
            self._raise_mute(_message(hr))
        raise ReaderError(text)

    def _raise_mute(self, what: str) -> None:
        """The card gave no usable answer: NoCard if it turns out to be gone, else ProtocolError."""
        if self._card_left():
            self._session_lost(NoCard, f"{self.name}: card removed ({what})")
        raise ProtocolError(f"{self.name}: {what}")

    def _session_lost(self, error: type[ReaderError], text: str) -> NoReturn:
        self._drop(scard.SCARD_LEAVE_CARD)
        if self._depth:
            self._lost = error
        raise error(text)

    def _card_left(self) -> bool:
        """Ask pcscd whether the card is gone, giving its presence polling ``removal_settle`` s."""
        if self._ctx is None:
            return False
        state = scard.SCARD_STATE_UNAWARE
        deadline = time.monotonic() + self.removal_settle
        while True:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            hr, states = scard.SCardGetStatusChange(self._ctx, left if state else 0, [(self.name, state)])
            if hr == scard.SCARD_E_TIMEOUT:
                return False
            if hr != scard.SCARD_S_SUCCESS:
                return hr not in _SERVICE_GONE  # reader gone counts as card gone; pcscd gone is reported elsewhere
            event = states[0][1]
            if event & (scard.SCARD_STATE_EMPTY | scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_UNKNOWN):
                return True
            if state and (event >> 16) != (state >> 16) and event & scard.SCARD_STATE_CHANGED:
                return True  # removed and inserted again meanwhile: not the card we talked to
            state = event & ~scard.SCARD_STATE_CHANGED
            if time.monotonic() >= deadline:
                return False


class PcscPinPad:
    """A PC/SC reader's PIN pad: FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT through SCardControl."""

    def __init__(self, reader: PcscReader, verify_code: int, modify_code: int | None) -> None:
        self.reader = reader
        self.name = f"{reader.name} PIN pad"
        self.verify_code = verify_code
        self.modify_code = modify_code

    def verify(self, request: pinpad_mod.PinVerify) -> bytes:
        return self._answer(self.reader.control(self.verify_code, request.to_part10()))

    def modify(self, request: pinpad_mod.PinModify) -> bytes:
        if self.modify_code is None:
            raise ReaderError(f"{self.reader.name}: the PIN pad cannot change a PIN (no FEATURE_MODIFY_PIN_DIRECT)")
        return self._answer(self.reader.control(self.modify_code, request.to_part10()))

    def _answer(self, answer: bytes) -> bytes:
        if len(answer) < 2:
            raise ProtocolError(f"{self.reader.name}: PIN pad answer of {len(answer)} bytes has no status word")
        return answer


def open_psam_reader(card_reader: PcscReader) -> PcscReader | None:
    """The PSAM's reader for a card reader opened with ``open_reader`` (see ``psam_reader_name``)."""
    name = psam_reader_name(list_readers(), card_reader.name)
    return PcscReader(name) if name is not None else None


def open_reader(spec_rest: str) -> PcscReader:
    """The ``pcsc`` reader spec: ``""`` (first reader), ``"N"`` (index) or ``"NAME"`` (substring).

    Resolves the name now so a wrong spec fails early with ``ReaderError`` listing the readers.
    """
    reader = PcscReader(spec_rest)
    with reader._lock:
        ctx = reader._context()
        try:
            reader._resolve(ctx)
        except ReaderError:
            reader.disconnect()
            raise
    return reader
