"""Fixtures for the serial-reader tests: the simulated GemCore SIM Pro served on a real pty.

``serial_bench(...)`` starts a firmware (card in slot 0, PSAM in slot 1) on a pty or TCP and stops it after the
test. ``ScriptDevice`` is a deterministic APDU device whose answers depend only on the command, so a run through
any link can be checked against calling it directly; it counts executions to catch commands run twice.
Every test gets a watchdog: a hang dumps all stacks and ends the run instead of blocking CI.
"""
from __future__ import annotations

import faulthandler
import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.ccid_reader import GEMCORE_SIM_PRO, CcidSerialFirmware, ReaderModel
from firmware_sim.device import Device, MinimalDevice
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from hardware.serial_serve import FirmwareServer

WATCHDOG = 90.0
H = bytes.fromhex
SCRIPT_ATR = H("3B6D0000") + H("00814E43238697159900BF7C7A")


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


class ScriptDevice(MinimalDevice):
    """Answers of realistic size that depend only on the command:

    SELECT (A4) → a 28-byte FCI derived from the name; READ RECORD (B2) → record P1 of 8..67 bytes, 6Cxx when
    Le is neither exact nor 00; GET CHALLENGE (84) → Le bytes; VERIFY (20) → 9000 for 123456, else 63C2;
    ECHO (80 E0) → the data reversed (case 4, up to 255 bytes: T=1 chaining); anything else 6D00."""

    def __init__(self, atr: bytes = SCRIPT_ATR) -> None:
        super().__init__(atr)
        self.executions: Counter[bytes] = Counter()
        self.lock = threading.Lock()

    @staticmethod
    def record(n: int) -> bytes:
        size = 8 + (n * 13) % 60
        return hashlib.sha256(bytes([n])).digest()[:1] * 2 + bytes((n + i) & 0xFF for i in range(size - 2))

    def process(self, apdu: bytes) -> bytes:
        with self.lock:
            self.executions[apdu] += 1
        return self.answer(apdu)

    @classmethod
    def final(cls, apdu: bytes) -> bytes:
        """What a host engine ends with: 6Cxx retried once with the exact Le (61xx never comes from here)."""
        rsp = cls.answer(apdu)
        if len(rsp) == 2 and rsp[0] == 0x6C:
            rsp = cls.answer(apdu[:-1] + rsp[1:])
        return rsp

    @classmethod
    def answer(cls, apdu: bytes) -> bytes:
        ins = apdu[1]
        body = apdu[4:]
        le = None
        if len(body) == 1:
            le = body[0] or 256
        elif body and len(body) == body[0] + 2:
            le = body[-1] or 256
        data = body[1:1 + body[0]] if len(body) > 1 else b""
        if ins == 0xA4:
            return hashlib.sha256(data).digest()[:26] + b"\x6F\x0A" + b"\x90\x00"
        if ins == 0xB2:
            rec = cls.record(apdu[2])
            if le is None or le == 256 or le == len(rec):
                return rec + b"\x90\x00"
            return bytes([0x6C, len(rec)])
        if ins == 0x84:
            return hashlib.sha256(apdu).digest()[:le or 8] + b"\x90\x00"
        if ins == 0x20:
            return b"\x90\x00" if data == H("123456") else b"\x63\xC2"
        if ins == 0xE0:
            return data[::-1] + b"\x90\x00"
        return b"\x6D\x00"


@dataclass
class SerialBench:
    server: FirmwareServer
    firmware: CcidSerialFirmware
    cards: list[Iso7816Card | None]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def spec(self) -> str:
        return f"ccid-serial:{self.server.url}"


BenchFactory = Callable[..., SerialBench]


@pytest.fixture
def serial_bench(tmp_path: Path) -> Iterator[BenchFactory]:
    """``serial_bench(card=…, psam=…, card_profile=…, psam_profile=…, model=…, tcp=False, link=False, **server_kw)``."""
    started: list[FirmwareServer] = []

    def make(card: Device | None = None, psam: Device | None = None, *, card_profile: LinkProfile | None = None,
             psam_profile: LinkProfile | None = None, model: ReaderModel = GEMCORE_SIM_PRO, tcp: bool = False,
             link: bool = False, no_psam: bool = False, **server_kw: object) -> SerialBench:
        devs: list[Device | None] = [card if card is not None else ScriptDevice(),
                                     None if no_psam else (psam if psam is not None else ScriptDevice())]
        profiles = [card_profile, psam_profile]
        cards = [Iso7816Card(d, p) if d is not None else None for d, p in zip(devs, profiles)]
        fw = CcidSerialFirmware(cards[:1] if model.name == "GemPCTwin" else cards, model)
        server = FirmwareServer(fw, **server_kw)  # type: ignore[arg-type]  # server_kw holds FirmwareServer's keyword options
        started.append(server)
        if tcp:
            server.serve_tcp()
        else:
            server.serve_pty(str(tmp_path / f"ttySIM{len(started)}") if link else None)
        return SerialBench(server, fw, cards)

    yield make
    for s in started:
        s.close()


def card_image(tmp_path: Path, profile: str = "gen2") -> Path:
    """A fresh personalised card image (the lead's helper from the card tests)."""
    from tests.card.conftest import make_image
    return make_image(tmp_path, profile)
