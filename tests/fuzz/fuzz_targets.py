"""Byte-level fuzz targets for coverage-guided fuzzing (atheris / libFuzzer), used by ``long_run.py``.

Each target takes one ``bytes`` input and raises only on a finding (a fuzzing invariant broken:
an exception other than the module's own error, an invalid SW, data with an error SW, a rejected command that
changed the card image, a malformed answer from the card or reader side). The same checks as ``tests/fuzz``.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the project root, for tests.*

from firmware_sim.card_os import CardOS  # noqa: E402
from firmware_sim.ccid_reader import CcidSerialFirmware
from firmware_sim.demo import demo_psam
from firmware_sim.image import CardImage, load_card
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import PsamImage
from protocols import atr as atr_mod
from protocols import ccid, gemcore, pps, t1
from protocols.apdu import CommandAPDU
from protocols.errors import BadCardImage, MalformedApdu, MalformedFrame, ProtocolError
from protocols.tlv import ber_find, simple_decode
from tests.fuzz.support import valid_sw
from tests.fuzz.test_card_os_fuzz import checked
from tests.fuzz.test_psam_fuzz import checked as psam_checked
from tests.support import cardkit as ck

_PSAM = demo_psam("440100").to_json()


@functools.lru_cache(maxsize=1)
def _scratch() -> Path:
    """A scratch folder in memory where possible, removed when the process ends."""
    path = Path(tempfile.mkdtemp(prefix="sscard-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    atexit.register(shutil.rmtree, path, True)
    return path


def chunks(data: bytes) -> Iterator[bytes]:
    """Split an input into length-prefixed pieces: ``len ‖ bytes`` repeated (len taken modulo what is left)."""
    i = 0
    while i < len(data):
        n = data[i] % (len(data) - i)
        yield data[i + 1:i + 1 + n]
        i += 1 + n


def card_os(data: bytes) -> None:
    """A gen2 or gen3 card (first byte) after SELECT SSSE, then each chunk as an APDU."""
    if not data:
        return
    counter = iter(range(1 << 30))
    cos = ck.card("gen3" if data[0] & 1 else "gen2", rng=lambda n: next(counter).to_bytes(n, "big"))
    checked(cos, ck.SELECT_SSSE)
    for apdu in chunks(data[1:]):
        checked(cos, apdu)


def psam(data: bytes) -> None:
    p = PsamOS(PsamImage.from_json(_PSAM))
    p.power_on()
    for apdu in chunks(data):
        psam_checked(p, apdu)


def image(data: bytes) -> None:
    """The bytes as an image file: BadCardImage or a card that answers a few commands."""
    f = _scratch() / "card.json"
    f.write_bytes(data)
    try:
        card = load_card(f)
    except BadCardImage:
        return
    assert CardImage.from_json(json.loads(json.dumps(card.to_json()))).to_json() == card.to_json()
    cos = CardOS(card)
    cos.power_on()
    for apdu in (ck.SELECT_SSSE, bytes.fromhex("00B2012C00"), bytes.fromhex("0088000010") + bytes(16),
                 ck.verify("123456")):
        assert valid_sw(int.from_bytes(cos.process(apdu)[-2:], "big"))


def codecs(data: bytes) -> None:
    try:
        cmd = CommandAPDU.parse(data)
        assert cmd.to_bytes() == data
    except MalformedApdu:
        pass
    for fn in (simple_decode, lambda d: ber_find(d, 0x9F0C), ccid.decode, pps.PPS.parse,
               lambda d: atr_mod.parse(d, strict=False), lambda d: t1.decode(d, bool(d and d[0] & 1))):
        try:
            fn(data)
        except MalformedFrame:
            pass


def t1_card(data: bytes) -> None:
    card = t1.T1Card(lambda a: a[::-1] + b"\x90\x00", ifsc=254, ifsd=32)
    for raw in chunks(data):
        t1.decode(card.receive(raw), False)


def t1_host(data: bytes) -> None:
    host = t1.T1Host(ifsc=32, ifsd=254)
    host.begin(bytes(range(40)))
    for raw in chunks(data):
        try:
            step = host.receive(raw or None)
        except ProtocolError:
            return
        if step.done:
            return


def reader(data: bytes) -> None:
    """The CCID-serial reader firmware with a card and a PSAM; chunks are GemCore frames around the bytes
    (odd first byte) or raw serial bytes."""
    fw = CcidSerialFirmware([Iso7816Card(ck.card(), LinkProfile.t1() if data[:1] == b"\x01" else LinkProfile()),
                             Iso7816Card(PsamOS(PsamImage.from_json(_PSAM)))])
    for piece in chunks(data[1:]):
        raw = gemcore.encode(piece) if piece[:1] and piece[0] & 1 else piece
        out = fw.receive(raw)
        dec = gemcore.Decoder(from_reader=True)
        for ev in dec.feed(out) + dec.flush():
            assert not isinstance(ev, gemcore.BadFrame), out.hex()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "card_os": card_os, "psam": psam, "image": image, "codecs": codecs, "t1_card": t1_card, "t1_host": t1_host,
    "reader": reader,
}


def _chunked(apdus: list[bytes]) -> bytes:
    """The input :func:`chunks` splits back into ``apdus`` (each under 256 bytes)."""
    out = b""
    for a in apdus:
        assert len(a) < 256
        out += bytes([len(a)]) + a
    return out


def _card_os_regression(name: str, profile: str) -> bytes | None:
    """A regression sequence of ``test_card_os_fuzz.REGRESSIONS`` as a ``card_os`` input: recorded on a card with
    the target's challenges, so its MACs and cryptograms are right when the target replays it."""
    from tests.fuzz.test_card_os_fuzz import REGRESSIONS
    counter = iter(range(1 << 30))
    cos = ck.card(profile, rng=lambda n: next(counter).to_bytes(n, "big"))
    checked(cos, ck.SELECT_SSSE)
    sent: list[bytes] = []

    def send(apdu: bytes) -> bytes:
        sent.append(apdu)
        return checked(cos, apdu)

    REGRESSIONS[name](send, cos)
    if any(len(a) >= 256 for a in sent):           # an extended APDU does not fit a one-byte chunk length
        return None
    return bytes([1 if profile == "gen3" else 0]) + _chunked(sent)


def seeds(name: str) -> list[bytes]:
    """A few valid inputs per target to start from, and the regression sequences of the rules."""
    if name == "image":
        return [json.dumps(ck.new_image(p).to_json(), ensure_ascii=False, indent=1).encode() for p in ("gen2", "gen3")]
    if name == "card_os":
        from tests.fuzz.test_card_os_fuzz import REGRESSIONS
        apdus = [ck.SELECT_SSSE, bytes.fromhex("00B2012C12"), ck.GET_CHALLENGE, ck.verify("123456"),
                 ck.change_pin("123456", "654321"), bytes.fromhex("0088000010") + bytes(16)]
        out = [b"\x00" + _chunked(apdus)]
        for reg in REGRESSIONS:
            for profile in ("gen2", "gen3"):
                seed = _card_os_regression(reg, profile)
                if seed is not None:
                    out.append(seed)
        return out
    if name == "psam":
        from tests.fuzz.test_psam_fuzz import REGRESSIONS as PSAM_REGRESSIONS
        p = PsamOS(PsamImage.from_json(_PSAM))
        return [bytes(range(64))] + [_chunked([apdu for apdu, _ in make(p)]) for make in PSAM_REGRESSIONS.values()]
    return [bytes(range(64))]


if __name__ == "__main__":   # a library for long_run.py
    print(f"fuzz targets for tests/fuzz/long_run.py: {', '.join(TARGETS)}")
