"""The card identification code, EF05 record 1 (docs/design.md §3 "Card ID code", docs/sources.md §4.7):
region BCD (3) ‖ D1 56 00 00 05 ‖ 4 serial bytes (the ATR's last 4) ‖ a 4-byte MAC under the card's IRK over
the first 12 bytes (retail MAC on 3DES cards, CBC-MAC on SM4 cards, IV zero, padded 80 00..).

The MAC is recomputed here from the *issuer's root key*, diversified and MACed with the raw ciphers, not with
the card's key or the project's recipe, so a personalisation that writes zeros (or a MAC under another key)
fails. The host library has no check of its own; :func:`id_code_is_genuine` is the check a terminal holding
the issuer key does, and on SM4 cards a terminal can do it with nothing but its PSAM (the IRK at ``67 08``
enciphers one block, which is the whole MAC).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from firmware_sim.issuance.batch import BatchConfig, read_people, run_batch
from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_PEOPLE, demo_card, demo_psam
from firmware_sim.image import CardImage, load_card
from firmware_sim.issuance.personalise import new_card
from firmware_sim.psam import PsamOS
from protocols.crypto import Alg
from protocols.keys import IssuerKeys, test_issuer_keys
from protocols.profile import KEY_NAMES
from tests.card.conftest import PERSON, SSSE, Card

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

REGIONS = {"gen1": "440600", "gen2": "440100", "gen3": "440300"}
RID = bytes.fromhex("D156000005")


# --- the recipe written out with the raw ciphers (docs/design.md §3 "Key hierarchy", docs/sources.md §4.5, §4.7) --
def _ecb(alg: Alg, key: bytes, data: bytes) -> bytes:
    cipher: CipherAlgorithm
    if alg is Alg.SM4:
        cipher = algorithms.SM4(key)
    else:
        cipher = TripleDES({8: key * 3, 16: key + key[:8], 24: key}[len(key)])
    return Cipher(cipher, modes.ECB()).encryptor().update(data)


def _single_des(key8: bytes, data: bytes) -> bytes:
    return _ecb(Alg.DES3, key8, data)        # K ‖ K ‖ K is single DES


def _card_irk(alg: Alg, root: bytes, region: str, atr: bytes) -> bytes:
    """Root → province ("44" "0000sh") → city (region "sx") → card (the ATR's last 8 bytes); one level is
    3DES_K(f) ‖ 3DES_K(NOT f), or SM4_K(f ‖ NOT f)."""
    key = root
    for factor in ((region[:2] + "0000sh").encode(), (region + "sx").encode(), atr[-8:]):
        inverse = bytes(b ^ 0xFF for b in factor)
        key = _ecb(alg, key, factor) + _ecb(alg, key, inverse) if alg is Alg.DES3 else _ecb(alg, key, factor + inverse)
    return key


def _id_mac(alg: Alg, irk: bytes, head: bytes) -> bytes:
    """The left 4 bytes of the MAC of ``head`` ‖ 80 00..: SM4 CBC; 3DES retail MAC (single DES under the left
    half for every block but the last, 3DES for the last)."""
    block = 16 if alg is Alg.SM4 else 8
    data = head + b"\x80" + bytes(-(len(head) + 1) % block)
    chain = bytes(block)
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    for i, part in enumerate(blocks):
        mixed = bytes(a ^ b for a, b in zip(chain, part))
        last = i == len(blocks) - 1
        chain = _ecb(alg, irk, mixed) if alg is Alg.SM4 or last else _single_des(irk[:8], mixed)
    return chain[:4]


def expected_id_code(issuer: IssuerKeys, region: str, atr: bytes) -> bytes:
    head = bytes.fromhex(region) + RID + atr[-4:]
    return head + _id_mac(Alg(issuer.alg), _card_irk(Alg(issuer.alg), issuer.keys["IRK"], region, atr), head)


def id_code_is_genuine(issuer: IssuerKeys, code: bytes, atr: bytes) -> bool:
    """A terminal's check of a card ID code read from a card with this ATR: layout, serial and MAC."""
    if len(code) != 16 or code[3:8] != RID or code[8:12] != atr[-4:]:
        return False
    region = code[:3].hex()
    return region.isdigit() and expected_id_code(issuer, region, atr) == code


def read_id_code(cos: CardOS) -> bytes:
    card = Card(cos)
    card(SSSE)
    record, sw = card("00B2012C12")
    assert sw == 0x9000 and record[:2] == b"\x01\x10"
    return record[2:]


def random_issuer(alg: Alg, seed: int) -> IssuerKeys:
    """A key set of no test's defaults, so a MAC under the TEST ONLY keys would not pass for it."""
    length = 16
    keys = {name: bytes((seed + 7 * i + j) & 0xFF for j in range(length)) for i, name in enumerate(KEY_NAMES)}
    return IssuerKeys(f"issuer {seed}", alg, keys)


# --- personalisation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["gen1", "gen2", "gen3"])
@pytest.mark.parametrize("serial", [0x123456, 0xBF7C7A01, 0xFFFFFFFF])
def test_personalisation_writes_the_mac_of_the_issuers_irk(profile: str, serial: int) -> None:
    alg = Alg.SM4 if profile == "gen3" else Alg.DES3
    for issuer in (test_issuer_keys(alg), random_issuer(alg, serial & 0xFF)):
        region = REGIONS[profile]
        image = new_card(PERSON, profile=profile, region=region, serial=serial, issuer=issuer)
        code = read_id_code(CardOS(image))
        assert code[:12] == bytes.fromhex(region) + RID + serial.to_bytes(4, "big")
        assert code[12:] != bytes(4) and code[12:] != b"\xFF" * 4          # no placeholder
        assert code == expected_id_code(issuer, region, image.atr)
        assert id_code_is_genuine(issuer, code, image.atr)


def test_the_mac_differs_per_card_and_per_issuer() -> None:
    """Each card's MAC is its own (its IRK is diversified by its ATR): no constant a forger could copy."""
    issuer = test_issuer_keys(Alg.DES3)
    codes = [new_card(PERSON, region="440100", serial=s, issuer=issuer) for s in (1, 2, 3)]
    macs = {read_id_code(CardOS(img))[12:] for img in codes}
    assert len(macs) == 3
    other = new_card(PERSON, region="440100", serial=1, issuer=random_issuer(Alg.DES3, 99))
    assert read_id_code(CardOS(other))[12:] != read_id_code(CardOS(codes[0]))[12:]


@pytest.mark.parametrize("name", sorted(DEMO_PEOPLE))
def test_the_shipped_demo_cards_carry_genuine_id_codes(name: str) -> None:
    image = demo_card(name)
    issuer = test_issuer_keys(image.profile.alg)
    assert id_code_is_genuine(issuer, read_id_code(CardOS(image)), image.atr)


def test_batch_issuance_writes_the_mac_of_the_given_issuer(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("name,ssn,card_number,profile,region\n"
                      "李四,440106199001011235,A00000001,gen2,440100\n"
                      "王五,44030419920721452X,B00000002,gen3,440300\n", encoding="utf-8")
    issuers = [random_issuer(Alg.DES3, 5), random_issuer(Alg.SM4, 6)]
    result = run_batch(read_people(people), BatchConfig(tmp_path / "out", issuers={k.alg: k for k in issuers}))
    assert result.ok and result.issued == 2
    for number, issuer in (("A00000001", issuers[0]), ("B00000002", issuers[1])):
        image = load_card(tmp_path / "out" / f"{number}.json")
        code = read_id_code(CardOS(image))
        assert id_code_is_genuine(issuer, code, image.atr), number
        assert not id_code_is_genuine(test_issuer_keys(Alg(issuer.alg)), code, image.atr), number


# --- forged codes ----------------------------------------------------------------------------------------------
def _forge(image: CardImage, code: bytes) -> CardOS:
    image.dfs["SSSE"].records[0xEF05][0] = b"\x01\x10" + code
    return CardOS(image)


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_a_forged_id_code_is_told_from_the_genuine_one(profile: str) -> None:
    alg = Alg.SM4 if profile == "gen3" else Alg.DES3
    issuer = test_issuer_keys(alg)
    region = REGIONS[profile]
    genuine = new_card(PERSON, profile=profile, region=region, serial=0x5A17, issuer=issuer)
    real = read_id_code(CardOS(genuine))
    assert id_code_is_genuine(issuer, real, genuine.atr)
    donor = new_card(PERSON, profile=profile, region=region, serial=0x5A18, issuer=issuer)
    forgeries = {
        "zero MAC": real[:12] + bytes(4),
        "FF placeholder": real[:12] + b"\xFF" * 4,
        "one bit of the MAC": real[:12] + bytes([real[12] ^ 0x01]) + real[13:],
        "another card's code": read_id_code(CardOS(donor)),
        "another card's MAC": real[:12] + read_id_code(CardOS(donor))[12:],
        "another region": bytes.fromhex("440300" if profile == "gen2" else "440100") + real[3:],
        "MAC under another issuer": expected_id_code(random_issuer(alg, 1), region, genuine.atr),
    }
    for what, code in forgeries.items():
        image = new_card(PERSON, profile=profile, region=region, serial=0x5A17, issuer=issuer)
        assert not id_code_is_genuine(issuer, read_id_code(_forge(image, code)), image.atr), what


def test_a_terminal_checks_a_gen3_id_code_with_its_psam_alone() -> None:
    """SM4: 12 bytes ‖ 80 00.. is one block, so the MAC is the left 4 bytes of SM4_IRK(block). The PSAM holds
    the root IRK at ``67 08`` (3 levels, usage 7: encipher), diversifies it with card ‖ city ‖ province and
    enciphers the block (``80 FA 00``): the terminal never sees a key, and a forged code does not match."""
    image = demo_card("shenzhen-gen3")
    code = read_id_code(CardOS(image))
    psam = PsamOS(demo_psam("440300"))
    psam.power_on()

    def psam_mac(head: bytes, region: str) -> bytes:
        assert psam.process(bytes.fromhex("00A4040006D15600000591"))[-2:] == b"\x90\x00"
        factors = image.atr[-8:] + (region + "sx").encode() + (region[:2] + "0000sh").encode()
        assert psam.process(bytes.fromhex("BFDE670818") + factors)[-2:] == b"\x90\x00"
        rsp = psam.process(bytes.fromhex("80FA000010") + head + b"\x80" + bytes(3) + b"\x00")
        assert rsp[-2:] == b"\x90\x00" and len(rsp) == 18
        return rsp[:4]

    assert psam_mac(code[:12], code[:3].hex()) == code[12:]
    for forged in (code[:12] + bytes(4), code[:11] + bytes([code[11] ^ 1]) + code[12:]):
        assert psam_mac(forged[:12], forged[:3].hex()) != forged[12:]
