"""Fuzzing the PSAM: valid, mutated and random commands in sequence. The PSAM always answers
with a valid SW, never hands out data with an error, and never changes its image (it has nothing to write)."""
from __future__ import annotations

import pytest
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
    if kind == 3:                                    # 80 1A / BF DE: mostly at a key's own address
        spec = data.draw(st.sampled_from(PSAM_KEYS))
        levels = data.draw(st.sampled_from([spec.psam.levels] * 3 + [0, 1, 2, 3]))
        usage = data.draw(st.sampled_from([spec.psam.usage] * 3 + [6, 7, 8]))
        n = 8 * levels + data.draw(st.sampled_from([0, 8, 8, 3]))
        body = data.draw(st.binary(min_size=n, max_size=n))
        cla, ins = data.draw(st.sampled_from([(0x80, 0x1A), (0xBF, 0xDE)]))
        head = bytes((cla, ins, (levels << 5) | usage, spec.psam.p2))
        return head + bytes((len(body),)) + body if body else head
    if kind == 4:                                    # 80 FA: whole blocks mostly, IV in front for a MAC
        p1 = data.draw(st.sampled_from([0x00, 0x05, 0x01]))
        blocks = data.draw(st.integers(1, 4))
        size = data.draw(st.sampled_from([8 * blocks, 16 * blocks, 8 * blocks + 3]))
        body = data.draw(st.binary(min_size=size, max_size=size))
        le = data.draw(st.sampled_from([b"", b"\x00", b"\x04", b"\x08"]))
        return bytes((0x80, 0xFA, p1, 0x00, len(body))) + body + le
    if kind == 5:
        return bytes((0x00, 0xC0, 0x00, 0x00, data.draw(st.integers(0, 255))))
    return data.draw(st.binary(max_size=40))


def _usage_7_key_asked_to_mac(psam: PsamOS) -> list[tuple[bytes, int]]:
    """RK (``47 0A``, usage 7: encipher only) initialised, then ``80 FA 05``: 6985."""
    return [(bytes.fromhex("00A4040006D15600000590"), 0x9000),
            (bytes.fromhex("BFDE470A10") + bytes(range(16)), 0x9000),
            (bytes.fromhex("80FA050010") + bytes(16), 0x6985),
            (bytes.fromhex("00C0000008"), 0x6985)]


def _usage_7_key_asked_to_mac_sm4(psam: PsamOS) -> list[tuple[bytes, int]]:
    return [(bytes.fromhex("00A4040006D15600000591"), 0x9000),
            (bytes.fromhex("801A470A18") + bytes(range(24)), 0x9000),     # with a process factor
            (bytes.fromhex("80FA050020") + bytes(32), 0x6985)]


#: Short sequences for PSAM rules, with the SW each command must get; also seeds of ``fuzz_targets``.
REGRESSIONS = {"usage_7_key_asked_to_mac": _usage_7_key_asked_to_mac,
               "usage_7_key_asked_to_mac_sm4": _usage_7_key_asked_to_mac_sm4}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression_sequences(name: str) -> None:
    psam = PsamOS(demo_psam("440100"))
    psam.power_on()
    for apdu, expected in REGRESSIONS[name](psam):
        rsp = checked(psam, apdu)
        assert int.from_bytes(rsp[-2:], "big") == expected, apdu.hex()


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


def test_regression_seeds_replay_on_the_fuzz_target() -> None:
    from tests.fuzz import fuzz_targets
    seeds = fuzz_targets.seeds("psam")
    assert len(seeds) == 1 + 2                               # the byte ramp, then the two regression sequences
    for seed, make in zip(seeds[1:], REGRESSIONS.values()):
        psam = PsamOS(demo_psam("440100"))
        psam.power_on()
        answers = [int.from_bytes(checked(psam, apdu)[-2:], "big") for apdu in fuzz_targets.chunks(seed)]
        assert answers == [sw for _, sw in make(psam)]
        fuzz_targets.psam(seed)
