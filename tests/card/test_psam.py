"""The PSAM emulator: file system, 80 1A / 80 FA, GET RESPONSE, and no key ever leaves (notes §5)."""
from __future__ import annotations

from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from protocols import crypto
from protocols.crypto import Alg
from protocols.keys import test_issuer_keys


def run(psam: PsamOS, hex_: str) -> tuple[bytes, int]:
    rsp = psam.process(bytes.fromhex(hex_))
    return rsp[:-2], int.from_bytes(rsp[-2:], "big")


def test_terminal_number_from_ef16() -> None:
    psam = PsamOS(demo_psam("440100"))
    psam.power_on()
    assert run(psam, "00B0960006") == (bytes.fromhex("440100000001"), 0x9000)
    assert run(psam, "00B0960003") == (bytes.fromhex("440100"), 0x9000)
    assert run(psam, "00B0950006")[1] == 0x6A82


def test_diversify_and_compute_match_the_card_keys() -> None:
    psam = PsamOS(demo_psam("440100"))
    card = demo_card("guangzhou-gen2")
    factor = crypto.card_factor(card.atr)
    assert run(psam, "801A270A08" + factor.hex())[1] == 0x6985          # no application selected
    assert run(psam, "00A4040006D15600000590")[1] == 0x9000
    assert run(psam, "801A270A08" + factor.hex())[1] == 0x9000          # 1 level, type 7, RK
    data, sw = run(psam, "80FA000008" + "00" * 8)
    assert sw == 0x6108
    enc, sw = run(psam, "00C0000008")
    rk = card.dfs["SSSE"].keys[0x0A].value
    assert sw == 0x9000 and enc == crypto.ecb_encrypt(Alg.DES3, rk, bytes(8))
    iv, msg = bytes(range(8)), b"\x84\x1E\x00\x00\x04"
    _, sw = run(psam, "80FA05000D" + iv.hex() + msg.hex())
    mac, _ = run(psam, "00C0000004")
    assert mac == crypto.mac(Alg.DES3, rk, msg, iv)


def test_process_factor_gives_the_authentication_cryptogram() -> None:
    psam = PsamOS(demo_psam("440300"))
    card = demo_card("shenzhen-gen3")
    run(psam, "00A4040006D15600000591")                                 # SM4 application
    factor, vector, r = crypto.card_factor(card.atr), bytes(range(8)), bytes(range(8, 16))
    assert run(psam, "801A270110" + (factor + vector).hex())[1] == 0x9000
    run(psam, "80FA000010" + r.hex() + "00" * 8)
    out, _ = run(psam, "00C0000010")
    irk = card.dfs["SSSE"].keys[0x01].value
    assert out[:8] == crypto.auth_cryptogram(Alg.SM4, irk, r, vector)


def test_errors() -> None:
    psam = PsamOS(demo_psam())
    run(psam, "00A4040006D15600000590")
    assert run(psam, "801A277708" + "00" * 8)[1] == 0x9403             # no key at index 77
    assert run(psam, "801A470A08" + "00" * 8)[1] == 0x6700             # 2 levels need 16 or 24 bytes
    assert run(psam, "80FA000008" + "00" * 8)[1] == 0x6985             # no key initialised
    assert run(psam, "801A270A08" + "00" * 8)[1] == 0x9000
    assert run(psam, "80FA000007" + "00" * 7)[1] == 0x6700             # not a block multiple
    assert run(psam, "80FA090008" + "00" * 8)[1] == 0x6A86
    assert run(psam, "00C0000008")[1] == 0x6985                          # nothing pending
    assert run(psam, "00A4040006D15600000599")[1] == 0x6A82
    assert run(psam, "00EE000000")[1] == 0x6D00


def test_psam_keys_are_city_keys_of_the_issuer() -> None:
    img = demo_psam("440100")
    city = test_issuer_keys(Alg.DES3).city_keys("440100")
    rk = next(k for k in img.keys if k.alg is Alg.DES3 and k.name == "RK")
    assert rk.value == city["RK"]


def test_no_psam_command_returns_key_material() -> None:
    img = demo_psam("440100")
    keys = [k.value for k in img.keys]
    psam = PsamOS(img)
    psam.power_on()
    seen = b""
    for select in ("00A4040006D15600000590", "00A4040006D15600000591"):
        run(psam, select)
        for ins in range(256):
            for cla in (0x00, 0x80):
                for p1, p2, data in ((0x00, 0x00, b""), (0x96, 0x00, b""), (0x27, 0x0A, bytes(8)), (0x05, 0x00, bytes(24))):
                    apdu = bytes((cla, ins, p1, p2, len(data))) + data if data else bytes((cla, ins, p1, p2, 0x00))
                    rsp = psam.process(apdu)
                    seen += rsp
                    if rsp[-2] == 0x61:
                        seen += psam.process(bytes((0x00, 0xC0, 0x00, 0x00, rsp[-1])))
    for k in keys:
        assert k[:8] not in seen and k[8:] not in seen
