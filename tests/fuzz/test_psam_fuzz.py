"""Fuzzing the PSAM: valid, mutated and random commands in sequence. The PSAM always answers
with a valid SW, never hands out data with an error, and never changes its image (it has nothing to write)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from firmware_sim.demo import demo_psam
from firmware_sim.psam import APPS, PsamOS
from protocols.apdu import CommandAPDU
from protocols.errors import MalformedApdu
from protocols.profile import PSAM_DDF_NAME, PSAM_KEYS
from tests.fuzz.support import budget, valid_sw
from tests.fuzz.test_card_os_fuzz import mutate


def checked(psam: PsamOS, apdu: bytes) -> bytes:
    before = psam.image.to_json()
    rsp = psam.process(apdu)
    assert isinstance(rsp, bytes) and len(rsp) >= 2
    sw = int.from_bytes(rsp[-2:], "big")
    assert valid_sw(sw), f"{apdu.hex()} -> {rsp.hex()}"
    try:
        CommandAPDU.parse(apdu)
    except MalformedApdu:
        assert rsp == b"\x67\x00"
    if sw != 0x9000:
        assert rsp == rsp[-2:], f"{apdu.hex()} -> data with {sw:04X}"
    assert psam.image.to_json() == before
    return rsp


def valid(psam: PsamOS, data: st.DataObject) -> bytes:
    kind = data.draw(st.integers(0, 6))
    if kind == 0:
        name = data.draw(st.sampled_from([PSAM_DDF_NAME, *APPS]))
        return bytes((0x00, 0xA4, 0x04, 0x00, len(name))) + name
    if kind == 1:
        fid = data.draw(st.sampled_from([0x3F00, 0xDF01, 0xDF02, 0xEF16]))
        return bytes((0x00, 0xA4, data.draw(st.sampled_from([0, 2])), 0x00, 0x02)) + fid.to_bytes(2, "big")
    if kind == 2:
        return bytes((0x00, 0xB0, 0x96, data.draw(st.integers(0, 7)), data.draw(st.integers(0, 8))))
    if kind == 3:
        spec = data.draw(st.sampled_from(PSAM_KEYS))
        levels = data.draw(st.integers(0, 3))
        n = 8 * levels + data.draw(st.sampled_from([0, 8, 3]))
        body = data.draw(st.binary(min_size=n, max_size=n))
        return bytes((0x80, 0x1A, (levels << 5) | spec.key_type, spec.index, len(body))) + body if body else \
            bytes((0x80, 0x1A, (levels << 5) | spec.key_type, spec.index))
    if kind == 4:
        p1 = data.draw(st.sampled_from([0x00, 0x05, 0x01]))
        body = data.draw(st.binary(min_size=1, max_size=64))
        le = data.draw(st.sampled_from([b"", b"\x00", b"\x04", b"\x08"]))
        return bytes((0x80, 0xFA, p1, 0x00, len(body))) + body + le
    if kind == 5:
        return bytes((0x00, 0xC0, 0x00, 0x00, data.draw(st.integers(0, 255))))
    return data.draw(st.binary(max_size=40))


@budget(200)
@given(st.data())
def test_psam_sequences(data: st.DataObject) -> None:
    psam = PsamOS(demo_psam("440100"))
    psam.power_on()
    for _ in range(data.draw(st.integers(1, 20), label="steps")):
        apdu = valid(psam, data)
        if data.draw(st.booleans()):
            apdu = mutate(apdu, data)
        checked(psam, apdu)
