"""The gen3 card's PKI application on the emulated card: what it answers, one negative test per rule, the private
key that never leaves it, and signatures a third-party SM2 implementation (snowland-smx, pure Python, written
independently of GmSSL) verifies (docs/design.md §3.4)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pysmx import SM2 as ThirdPartySM2

from firmware_sim.apps.pki import (ADF_NAME, CERT_FILE_SIZE, DDF_NAME, TEST_NOTE, PkiData, pin_key,
                                   public_key_file)
from firmware_sim.card_os import CardOS
from firmware_sim.image import CardImage, load_card, load_json
from protocols import crypto, sm2, x509
from protocols.errors import BadCardImage
from tests.card.conftest import SSSE, Card, make_image
from tests.support.cardkit import app_data

DDF = "00A404000C" + DDF_NAME.hex().upper()
ADF = "00A404000C" + ADF_NAME.hex().upper()
PAIR = "C0020012C2020013"
GENERATE = "8040000008" + PAIR
EXPORT_PAIR = "80C9820008" + PAIR
EXPORT = "80C9828042"

# [S6] (docs/sources.md §7): the terminal's own log of a real card. SM3 of the PIN 123456 as BCD, as the card's
# PIN DIGEST answered it; the challenge the card gave; the VERIFY block the terminal computed from them.
S6_PIN_DIGEST = "3DE741F445DD357BEA4E6C3FE6437036F62B5E3EC0F00D62796EDB4305ED627F"
S6_CHALLENGE = "178CEDCF32C5D7990216632170C7CD37"
S6_BLOCK = "358B51056B9B9EB2C96B20E7DB7A6B8F"


def _block(card: Card, pin: str = "123456", size: int = 16) -> str:
    """GET CHALLENGE and the VERIFY block for ``pin``: SM4_K(R ‖ 00…), K = SM3(PIN BCD)[:16]."""
    challenge, sw = card(f"00840000{size:02X}")
    assert sw == 0x9000 and len(challenge) == size
    return crypto.ecb_encrypt(crypto.Alg.SM4, pin_key(pin), challenge.ljust(16, b"\x00")).hex().upper()


def _verify(card: Card, pin: str = "123456", size: int = 16) -> int:
    return card.sw("0020018110" + _block(card, pin, size))


@pytest.fixture
def pki_path(tmp_path: Path) -> Path:
    """A fresh gen3 card image (its key made by the card at issuance, its certificate from the test CA)."""
    return make_image(tmp_path, "gen3")


@pytest.fixture
def pki(pki_path: Path) -> Card:
    """That card with the PKI ADF selected."""
    card = Card(CardOS.from_file(pki_path))
    assert card.sw(DDF) == 0x6116 and card.sw(ADF) == 0x6110
    return card


def _data(path: Path) -> PkiData:
    return app_data(load_card(path), "pki", PkiData)


def _blank_card(tmp_path: Path) -> tuple[Card, Path]:
    """A gen3 card whose PKI application has no key pair and no certificate yet (as before issuance)."""
    path = make_image(tmp_path, "gen3", pki=False)
    doc = load_json(path)
    doc["apps"]["pki"] = PkiData.new("123456").to_json()
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    card = Card(CardOS.from_file(path))
    card(DDF)
    card(ADF)
    return card, path


# --- selection ---------------------------------------------------------------------------------------------------
def test_select_answers_the_fci_a_real_card_gives(pki_path: Path) -> None:
    """[S6]'s log: ``6F14840C504B492EC9E7BBE1B1A3D5CF730492023330`` and ``6F0E840C53532E434552542E41444631``."""
    card = Card(CardOS.from_file(pki_path))
    assert DDF_NAME.hex().upper() == "504B492EC9E7BBE1B1A3D5CF"
    assert card(DDF + "00") == (bytes.fromhex("6F14840C504B492EC9E7BBE1B1A3D5CF730492023330"), 0x9000)
    assert card(ADF + "00") == (bytes.fromhex("6F0E840C53532E434552542E41444631"), 0x9000)


def test_the_adf_is_also_df01_under_the_ddf_and_files_are_selected_by_fid(pki_path: Path) -> None:
    card = Card(CardOS.from_file(pki_path))
    card(DDF)
    assert card.sw("00A40000020012") == 0x6A82          # the files are the ADF's, not the DDF's
    assert card("00A4000002DF0100") == (bytes.fromhex("6F0E840C") + ADF_NAME, 0x9000)    # [S8]'s way in
    assert card.sw("00A40000020012") == 0x9000 and card.sw("00A40200020018") == 0x9000
    assert card.sw("00A4000002EF05") == 0x6A82          # not a file of the ADF; the ADF stays selected
    assert card.sw("0084000010") == 0x9000
    assert card.sw("00A40000023F00") == 0x6112          # the MF: the card OS's again (its FCI, the bank's PSE)
    assert card.sw("0084000010") == 0x9000 and card.sw("8040000008" + PAIR) == 0x6985   # not selected


def test_leaving_the_adf_forgets_the_pin(pki: Card) -> None:
    assert _verify(pki) == 0x9000 and pki.sw("00200181") == 0x9000
    pki(SSSE)
    assert pki.sw("002A9E9A20" + "00" * 32) == 0x6985     # the PKI application is not selected
    pki(DDF)
    pki(ADF)
    assert pki.sw("00200181") == 0x63C3 and pki.sw("002A9E9A20" + "00" * 32) == 0x6982


def test_a_gen2_card_has_no_pki_application(card2: Card) -> None:
    assert card2.sw(DDF) == 0x6A82 and card2.sw(ADF) == 0x6A82
    assert card2.sw(GENERATE) == 0x6985 and card2.sw("002A9E9A20" + "00" * 32) == 0x6985


# --- files -------------------------------------------------------------------------------------------------------
def test_public_key_file_is_ca40_and_the_key_and_the_certificate_file_holds_the_certificate(pki_path: Path,
                                                                                           pki: Card) -> None:
    data = _data(pki_path)
    pki("00A40000020012")
    assert pki("00B0000042") == (b"\xCA\x40" + data.sign_public_key, 0x9000)
    pki("00A40000020018")
    head, sw = pki("00B0000004")
    n = x509.certificate_length(head)
    cert = b""
    while len(cert) < n:
        chunk, sw = pki(f"00B0{len(cert):04X}{min(0xE0, n - len(cert)):02X}")
        assert sw == 0x9000
        cert += chunk
    assert cert == data.sign_certificate and x509.parse(cert).public_key == data.sign_public_key
    assert pki(f"00B0{CERT_FILE_SIZE - 2:04X}02") == (b"\x00\x00", 0x9000)      # padding after the DER
    assert pki(f"00B0{CERT_FILE_SIZE - 2:04X}10") == (b"\x00\x00", 0x6282)      # Le past the end
    assert pki.sw(f"00B0{CERT_FILE_SIZE:04X}01") == 0x6B00
    pki("00A40000020019")
    assert pki("00B0000010") == (bytes(16), 0x9000)                              # no encryption certificate


def test_read_binary_refusals(pki: Card) -> None:
    assert pki.sw("00B0000010") == 0x6986                 # no current file
    assert pki.sw("00B0920010") == 0x6A82                 # the files have no short identifiers
    pki("00A40000020012")
    assert pki.sw("00B00000") == 0x6700                   # no Le
    assert pki.sw("00B000000100") == 0x6700               # data


def test_the_private_key_never_leaves_the_card(pki_path: Path, pki: Card) -> None:
    """No command answers it: READ BINARY of 0013 (and 0015) is 6982 at any offset even after the PIN, and no
    answer of a whole session holds its bytes (or a long part of them)."""
    private = _data(pki_path).sign_private_key
    answers = []
    assert _verify(pki) == 0x9000
    for fid in ("0013", "0015"):
        pki("00A4000002" + fid)
        for offset in (0, 1, 16, 31):
            data, sw = pki(f"00B0{offset:04X}20")
            assert sw == 0x6982 and data == b""
    for apdu in ("00A40000020012", "00B0000042", EXPORT_PAIR, EXPORT, "80C9820008C0020014C2020015",
                 "002A9E9A20" + "00" * 32 + "00", "00A40000020018", "00B00000E0", "00B000E0E0", "00B001C0E0"):
        answers.append(pki(apdu)[0])
    blob = b"".join(answers)
    assert all(private[i:i + 8] not in blob for i in range(0, 25))


# --- the user PIN --------------------------------------------------------------------------------------------------
def test_pin_block_known_answer_from_a_real_terminal(pki_path: Path) -> None:
    """[S6]: K = SM3(12 34 56)[:16], the card's challenge, and the VERIFY block the terminal sent."""
    assert crypto.sm3(bytes.fromhex("123456")).hex().upper() == S6_PIN_DIGEST
    assert pin_key("123456").hex().upper() == S6_PIN_DIGEST[:32]
    card = Card(CardOS.from_file(pki_path, rng=lambda n: bytes.fromhex(S6_CHALLENGE)[:n]))
    card(DDF)
    card(ADF)
    assert card("80C4010305C10312345600") == (bytes.fromhex(S6_PIN_DIGEST), 0x9000)   # PIN DIGEST, as [S6] asks
    assert card("0084000010") == (bytes.fromhex(S6_CHALLENGE), 0x9000)
    assert card.sw("0020018110" + S6_BLOCK) == 0x9000


def test_the_eight_byte_challenge_form_works_too(pki: Card) -> None:
    """[S8] takes an 8-byte challenge and enciphers R ‖ 00×8."""
    assert _verify(pki, size=8) == 0x9000


def test_wrong_pins_are_counted_then_the_pin_is_blocked(pki_path: Path, pki: Card) -> None:
    assert pki.sw("00200181") == 0x63C3
    assert _verify(pki, "111111") == 0x63C2 and _data(pki_path).pin_tries_left == 2    # written at once
    assert _verify(pki, "222222") == 0x63C1
    assert _verify(pki, "123456") == 0x9000 and _data(pki_path).pin_tries_left == 3    # a right PIN resets
    assert [_verify(pki, "000000") for _ in range(3)] == [0x63C2, 0x63C1, 0x6983]
    assert _verify(pki, "123456") == 0x6983 and pki.sw("00200181") == 0x6983           # blocked for good
    assert pki.sw("002A9E9A20" + "00" * 32) == 0x6982
    reopened = Card(CardOS.from_file(pki_path))                                          # survives a restart
    reopened(DDF)
    reopened(ADF)
    assert reopened.sw("00200181") == 0x6983


def test_verify_needs_a_fresh_challenge_and_costs_no_try_without_one(pki_path: Path, pki: Card) -> None:
    block = _block(pki)
    assert pki.sw("0020018110" + block) == 0x9000
    assert pki.sw("0020018110" + block) == 0x6984          # the challenge served one command
    block = _block(pki)
    pki("00A40000020012")                                  # any command in between uses it up
    assert pki.sw("0020018110" + block) == 0x6984
    assert _data(pki_path).pin_tries_left == 3


def test_verify_refusals(pki: Card) -> None:
    assert pki.sw("0020018108" + "00" * 8) == 0x6700       # not 16 bytes
    assert pki.sw("0020008110" + "00" * 16) == 0x6A86      # P1 not 01
    assert pki.sw("0020010010" + "00" * 16) == 0x6A88      # the administrator PIN is not held
    pki(DDF)
    assert pki.sw("0020018110" + "00" * 16) == 0x6985      # outside the ADF


def test_pin_digest_refusals(pki: Card) -> None:
    assert pki.sw("80C4010205C10312345600") == 0x6A86
    assert pki.sw("80C4010305C20312345600") == 0x6A80      # not tag C1
    assert pki.sw("80C4010305C10412345600") == 0x6700      # C1's length is not Lc − 2


# --- keys and signatures -------------------------------------------------------------------------------------------
def test_signature_verifies_with_a_third_party_sm2(pki_path: Path, pki: Card) -> None:
    """PSO: COMPUTE DIGITAL SIGNATURE of e = SM3(Z ‖ M) after the PIN: r ‖ s, which snowland-smx (pure Python,
    independent of GmSSL) verifies over M with Z of the default ID, as the certificate's key."""
    public = _data(pki_path).sign_public_key
    message = "社会保障卡 PKI 签名".encode()
    assert _verify(pki) == 0x9000
    signature, sw = pki("002A9E9A20" + sm2.message_digest(public, message).hex() + "00")
    assert sw == 0x9000 and len(signature) == 64
    assert ThirdPartySM2.Verify(signature, message, public, 64, uid=sm2.DEFAULT_ID)
    assert not ThirdPartySM2.Verify(signature, message + b"!", public, 64, uid=sm2.DEFAULT_ID)
    assert ThirdPartySM2.get_za(sm2.DEFAULT_ID, public) == sm2.z_value(public).hex()
    again, _ = pki("002A9E9A20" + sm2.message_digest(public, message).hex() + "00")
    assert again != signature                                     # a fresh k each time (GM/T 0003.2 §6.1 A3)
    assert pki("002A9E9A20" + "00" * 32)[1] == 0x6140              # without Le: offered with 61xx


def test_sign_refusals(pki: Card, tmp_path: Path) -> None:
    digest = "00" * 32
    assert pki.sw("002A9E9A20" + digest) == 0x6982                # no PIN
    assert _verify(pki) == 0x9000
    assert pki.sw("002A9E9A1F" + "00" * 31) == 0x6700             # not 32 bytes
    assert pki.sw("002A9E9A21" + "00" * 33) == 0x6700
    assert pki.sw("002A9E9B20" + digest) == 0x6A86                # another PSO
    assert pki.sw("802A9E9A20" + digest) == 0x6E00                # CLA
    pki(DDF)
    assert pki.sw("002A9E9A20" + digest) == 0x6985                # outside the ADF
    blank, _ = _blank_card(tmp_path)
    assert _verify(blank) == 0x9000 and blank.sw("002A9E9A20" + digest) == 0x6A88     # no key yet


def test_key_generation_on_the_card_then_export(tmp_path: Path) -> None:
    card, path = _blank_card(tmp_path)
    card("00A40000020012")
    assert card("00B0000042") == (bytes(0x42), 0x9000)          # all 00 before: what [S6]'s terminal checks
    assert card.sw(GENERATE) == 0x6982                          # the PIN first
    assert _verify(card) == 0x9000
    assert card(GENERATE) == (b"", 0x9000)
    data = _data(path)
    assert data.sign_public_key and data.sign_private_key and data.note == TEST_NOTE     # written at once
    assert card(EXPORT_PAIR) == (b"", 0x9000)
    assert card(EXPORT) == (public_key_file(data.sign_public_key), 0x9000)
    assert card("80C9828000")[0] == public_key_file(data.sign_public_key)     # Le 00, as [S6] sends it
    assert card.sw("80C9828010") == 0x6C42
    card("00A40000020012")
    assert card("00B0000042")[0] == b"\xCA\x40" + data.sign_public_key
    assert card.sw(GENERATE) == 0x6985                          # once: the certificate names this key


def test_key_generation_and_export_refusals(tmp_path: Path) -> None:
    card, _ = _blank_card(tmp_path)
    assert _verify(card) == 0x9000
    assert card.sw("8040000007C0020012C20200") == 0x6700
    assert card.sw("8040000008C1020012C2020013") == 0x6A80     # not C0 … C2 …
    assert card.sw("8040000008C0020016C2020017") == 0x6A88     # no such pair
    assert card.sw("8040000008C0020014C2020015") == 0x6985     # the encryption pair comes from the CA
    assert card.sw("8040010008" + PAIR) == 0x6A86
    assert card.sw(EXPORT) == 0x6985                            # 82 00 first
    assert card.sw(EXPORT_PAIR) == 0x9000 and card.sw(EXPORT) == 0x6A88      # no key yet
    assert card.sw("80C9830008" + PAIR) == 0x6A86 and card.sw("80C9820007C0020012C20200") == 0x6700
    assert card.sw("80C982800142") == 0x6700                    # data with P2 80
    assert card.sw("80C9820008C0020014C2020015") == 0x9000 and card.sw(EXPORT) == 0x6A88   # empty pair


# --- the image section ---------------------------------------------------------------------------------------------
def _doc(path: Path) -> dict:
    return load_json(path)


def _bad(doc: dict, match: str) -> None:
    private = doc["apps"]["pki"].get("sign_private_key", "")
    with pytest.raises(BadCardImage, match=match) as info:
        CardImage.from_json(doc)
    if isinstance(private, str) and len(private) > 8:
        assert private not in str(info.value)                    # a key is never in a message


def test_section_round_trips_and_says_test_only(pki_path: Path) -> None:
    doc = _doc(pki_path)
    assert list(doc["apps"]) == ["bank", "pki"] and doc["apps"]["pki"]["note"].startswith("TEST ONLY")
    assert CardImage.from_json(doc).to_json() == doc


def test_section_rules(pki_path: Path) -> None:
    base = _doc(pki_path)
    other_private, other_public = sm2.generate_keypair()
    cases = [
        ("note", "a real key", r"apps\.pki\.note: must start with TEST ONLY"),
        ("pin_key", "00" * 8, r"apps\.pki\.pin_key: expected 16 bytes"),
        ("pin_tries_left", 4, r"apps\.pki\.pin_tries_left: not in 0\.\.pin_max_tries"),
        ("pin_max_tries", 16, r"apps\.pki\.pin_max_tries: not in 1\.\.15"),
        ("sign_private_key", "", r"apps\.pki\.sign_private_key: a key pair has both halves"),
        ("sign_private_key", other_private.hex(), r"apps\.pki\.sign_private_key: not the private half"),
        ("sign_public_key", "01" * 64, r"apps\.pki\.sign_public_key: not a point of the SM2 curve"),
        ("sign_certificate", "3003020101", r"apps\.pki\.sign_certificate: not an SM2 certificate"),
        ("sign_private_key", "zz", r"apps\.pki\.sign_private_key: not hexadecimal"),
    ]
    for field, value, match in cases:
        doc = copy.deepcopy(base)
        doc["apps"]["pki"][field] = value
        _bad(doc, match)
    doc = copy.deepcopy(base)
    doc["apps"]["pki"]["sign_public_key"] = other_public.hex()
    doc["apps"]["pki"]["sign_private_key"] = other_private.hex()
    _bad(doc, r"apps\.pki\.sign_certificate: certifies another key")
    doc = copy.deepcopy(base)
    doc["apps"]["pki"]["admin_pin"] = "12345678"
    _bad(doc, r"apps\.pki: unknown field\(s\) admin_pin")
    doc = copy.deepcopy(base)
    del doc["apps"]["pki"]["pin_key"]
    _bad(doc, r"apps\.pki: missing field\(s\) pin_key")
