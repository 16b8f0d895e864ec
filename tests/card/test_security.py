"""Security rules of the card OS, each with a negative test (docs/design.md §3)."""
from __future__ import annotations

from pathlib import Path

import dataclasses
import os

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from firmware_sim.card_os import CardOS
from firmware_sim.image import ACTIVE, BLOCKED, atomic_write, dumps, load_card
from protocols import crypto
from protocols.crypto import Alg
from protocols.profile import GEN2, KeyUse
from tests.card.authn import external_auth, maced, pin_admin
from tests.card.conftest import SSSE, Card, make_image
from tests.support import cardkit as ck

VERIFY_RIGHT = "0020000003123456"
VERIFY_WRONG = "0020000003999999"
DF01, DF04 = "00A4040006D15600000500", "00A4040006D15600000503"


def path_of(card: Card) -> Path:
    assert card.os.store.path is not None
    return Path(card.os.store.path)


@pytest.fixture(params=["gen1", "gen2", "gen3"])
def every_card(request: pytest.FixtureRequest, tmp_path: Path) -> Card:
    return Card(CardOS.from_file(make_image(tmp_path, request.param)))


def block_pin(card: Card) -> None:
    card(SSSE)
    for _ in range(3):
        card(VERIFY_WRONG)
    assert card.sw("0020000000") == 0x6983


# --- PIN ---------------------------------------------------------------------------------------------
def test_wrong_pins_count_down_then_block(any_card: Card) -> None:
    any_card(SSSE)
    assert any_card.sw(VERIFY_WRONG) == 0x63C2
    assert any_card.sw(VERIFY_WRONG) == 0x63C1
    assert any_card.sw(VERIFY_WRONG) == 0x6983
    assert any_card.sw(VERIFY_RIGHT) == 0x6983          # blocked: even the right PIN is refused
    assert any_card.sw("0020000000") == 0x6983


def test_right_pin_resets_the_counter(card2: Card) -> None:
    card2(SSSE)
    card2(VERIFY_WRONG)
    card2(VERIFY_WRONG)
    assert card2.sw(VERIFY_RIGHT) == 0x9000
    assert card2.sw("0020000000") == 0x9000             # verified in this session
    assert card2.sw(VERIFY_WRONG) == 0x63C2             # three tries again


def test_pin_count_survives_power_cycle_and_restart(tmp_path: Path) -> None:
    path = make_image(tmp_path)
    card = Card(CardOS.from_file(path))
    card(SSSE)
    assert card.sw(VERIFY_WRONG) == 0x63C2
    card.os.power_off()
    card.os.power_on()
    card(SSSE)
    assert card.sw("0020000000") == 0x63C2              # counter kept over a power cycle
    assert card.sw(VERIFY_WRONG) == 0x63C1
    restarted = Card(CardOS.from_file(path))           # a new emulator process reads the image
    restarted(SSSE)
    assert restarted.sw(VERIFY_WRONG) == 0x6983
    assert load_card(path).pin_tries_left == 0


def test_pin_try_is_durable_before_the_answer(tmp_path: Path) -> None:
    """The counter is written before the PIN is compared: a store that dies on the first write loses no try."""
    path = make_image(tmp_path)
    card = Card(CardOS.from_file(path))
    card(SSSE)
    saved: list[int] = []
    real_save = card.os.store.save

    def spy(doc: dict) -> None:
        saved.append(doc["pin"]["tries_left"])
        real_save(doc)
    card.os.store.save = spy  # type: ignore[method-assign]  # a spy around the store's save
    assert card.sw(VERIFY_RIGHT) == 0x9000
    assert saved == [2, 3]                              # decrement durably, then restore


def test_verification_is_lost_on_reset_and_df_change(card2: Card) -> None:
    card2(SSSE)
    card2(VERIFY_RIGHT)
    card2.os.reset()
    card2(SSSE)
    assert card2.sw("0020000000") == 0x63C3
    card2(VERIFY_RIGHT)
    card2("00A4040006D15600000503")
    assert card2.sw("0020000000") == 0x63C3


def test_change_pin(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("805E010007123456FF654321") == 0x9000
    assert card2.sw("0020000000") == 0x9000             # the old PIN was checked: the session is verified
    assert card2.sw(VERIFY_RIGHT) == 0x63C2
    assert card2.sw("0020000003654321") == 0x9000
    assert card2.sw("805E010007111111FF222222") == 0x63C2  # wrong old PIN counts
    assert card2.sw("805E010003654321") == 0x6A80          # no FF separator
    assert card2.sw("805E010006654321FF12AB") == 0x6A80    # new PIN is not BCD
    assert card2.sw("805E0100076543211FAB") == 0x6700      # Lc 7, 5 bytes follow
    assert card2.sw("005E010007123456FF654321") == 0x6E00  # wrong CLA


def test_verify_checks_p1_p2_and_the_pin_length_before_counting_a_try(card2: Card) -> None:
    """VERIFY takes P1 P2 = 00 00 and a PIN of 2 to 6 bytes; anything else is refused without a try counted."""
    card2(SSSE)
    assert card2.sw("0020010003123456") == 0x6A86        # P1 01, the right PIN
    assert card2.sw("0020000103123456") == 0x6A86        # P2 01, the right PIN
    assert card2.sw("002000000112") == 0x6700            # 1 byte
    assert card2.sw("002000000712345600000000") == 0x6700  # 7 bytes
    assert card2.sw("0020000000") == 0x63C3 and card2.os.image.pin_tries_left == 3
    assert card2.sw("00200000021234") == 0x63C2          # 2 bytes: compared, wrong, counted
    assert card2.sw("0020000006123456000000") == 0x63C1  # 6 bytes: compared, wrong, counted
    assert card2.sw(VERIFY_RIGHT) == 0x9000


def test_change_pin_checks_p1_p2_and_the_old_pin_length_before_counting_a_try(card2: Card) -> None:
    """CHANGE PIN takes P1 P2 = 01 00 and an old PIN of 2 to 6 bytes before the FF; anything else changes
    nothing and costs no try."""
    card2(SSSE)
    assert card2.sw("805E010107123456FF654321") == 0x6A86      # P2 01, the right old PIN
    assert card2.sw("805E000007123456FF654321") == 0x6A86      # P1 00, the right old PIN
    assert card2.sw("805E01000512FF654321") == 0x6A80          # old PIN of 1 byte
    assert card2.sw("805E01000B12345600000000FF654321") == 0x6A80  # old PIN of 7 bytes
    assert card2.os.image.pin == "123456" and card2.os.image.pin_tries_left == 3
    assert card2.sw("805E0100061234FF654321") == 0x63C2        # 2 bytes: compared, wrong, counted
    assert card2.sw("805E01000A123456000000FF654321") == 0x63C1  # 6 bytes: compared, wrong, counted
    assert card2.os.image.pin == "123456"


def test_change_pin_splits_at_the_first_ff(card2: Card) -> None:
    """``old ‖ FF ‖ new``: the first FF byte ends the old PIN; the new one may end in F padding (1234 as 12 34 FF)."""
    card2(SSSE)
    assert card2.sw("805E010007123456FF1234FF") == 0x9000
    assert card2.os.image.pin == "1234"
    assert card2.sw("00200000021234") == 0x9000


def test_another_card_in_the_image_file_ends_the_verified_state(tmp_path: Path) -> None:
    """Another process rewrites the image file: the same card keeps this session's PIN state; a card of another
    profile put in its place starts with none (no DF selected, nothing verified)."""
    path = make_image(tmp_path, "gen2")
    card = Card(CardOS.from_file(path))
    card(SSSE)
    assert card.sw(VERIFY_RIGHT) == 0x9000
    same = load_card(path)
    same.note = "rewritten by another process"
    atomic_write(path, dumps(same.to_json()))
    assert card.sw("0020000000") == 0x9000
    assert card.os.image.note == "rewritten by another process"    # the file was taken up again
    os.replace(make_image(tmp_path, "gen3"), path)
    assert card.sw("0020000000") == 0x6985
    assert card.os.profile.name == "gen3"
    card(SSSE)
    assert card.sw("0020000000") == 0x63C3


def test_a_pending_response_does_not_outlive_a_reset(card2: Card) -> None:
    """Data a PIN-protected read offered for GET RESPONSE is gone after a reset: the next session cannot fetch
    it without the PIN."""
    card2("00A4040006D15600000502")                                 # DF03: EF19 needs the PIN
    assert card2.sw(VERIFY_RIGHT) == 0x9000
    records = b"".join(card2.os.image.dfs["DF03"].records[0xEF19])
    assert len(records) < 256
    assert card2("00B201CD") == (b"", 0x6100 | len(records))        # all records from 1, no Le: 61xx
    assert card2(f"00C00000{len(records):02X}") == (records, 0x9000)
    assert card2("00B201CD") == (b"", 0x6100 | len(records))
    card2.os.reset()
    assert card2("00C0000000") == (b"", 0x6985)


def test_pin_reload_needs_external_auth_with_key_06_on_every_profile(every_card: Card) -> None:
    """RELOAD ``84 24 00 01 Lc E(LV new PIN) ‖ MAC`` only after EXTERNAL AUTHENTICATE with key 06 [WAPP
    ResetPassWord], on gen1, gen2 and gen3 alike; a good STK MAC alone is not enough."""
    card = every_card
    block_pin(card)
    reload = bytes.fromhex("84240001")
    assert card.raw(maced(card, reload, pin="888888"))[1] == 0x6982          # STK MAC, no key 06
    assert external_auth(card, "UK", 0x04) == 0x9000                          # another key does not do
    assert card.raw(maced(card, reload, pin="888888"))[1] == 0x6982
    assert card.sw("0020000000") == 0x6983 and card.os.image.pin == "123456"
    pin_admin(card)
    assert card.raw(maced(card, reload, pin="888888", bad=True))[1] == 0x6988
    assert card.os.image.pin == "123456" and card.os.image.pin_tries_left == 0
    assert card.raw(maced(card, reload, pin="888888"))[1] == 0x9000
    assert load_card(path_of(card)).pin == "888888"
    assert card.sw("0020000000") == 0x63C3                                     # tries back to 3
    assert card.sw(VERIFY_RIGHT) == 0x63C2                                     # the old PIN is gone
    assert card.sw("0020000003888888") == 0x9000


def test_pin_reload_under_the_wrong_key_is_refused(card2: Card) -> None:
    card2(SSSE)
    pin_admin(card2)
    apdu = maced(card2, bytes.fromhex("84240001"), key_name="RLK", pin="888888")   # MAC'd under key 06 itself
    assert card2.raw(apdu)[1] == 0x6988                                            # only STK MACs
    assert card2.os.image.pin == "123456"


def test_pin_unblock_needs_external_auth_with_key_06(every_card: Card) -> None:
    """UNBLOCK ``84 24 00 00 04 MAC`` [WAPP PerPINUnLock]: without key 06 → 6982 whatever the MAC; with key 06
    and a bad MAC → 6988; with a good MAC → 9000 and three tries again, the PIN unchanged."""
    card = every_card
    block_pin(card)
    unblock = bytes.fromhex("84240000")
    assert card.raw(maced(card, unblock))[1] == 0x6982                      # a good STK MAC, no key 06
    assert external_auth(card, "RK", 0x0A) == 0x9000                        # another key does not do
    assert card.raw(maced(card, unblock))[1] == 0x6982
    assert card.os.image.pin_tries_left == 0
    assert external_auth(card, "RLK", 0x06, tamper=True) == 0x63C2           # a failed key 06 grants nothing
    assert card.raw(maced(card, unblock))[1] == 0x6982
    pin_admin(card)
    assert card.raw(maced(card, unblock, bad=True))[1] == 0x6988
    assert card.os.image.pin_tries_left == 0 and load_card(path_of(card)).pin_tries_left == 0
    assert card.raw(maced(card, unblock))[1] == 0x9000
    assert load_card(path_of(card)).pin_tries_left == 3
    assert card.sw("0020000000") == 0x63C3
    assert card.sw(VERIFY_RIGHT) == 0x9000                                   # the same PIN as before


def test_pin_unblock_and_reload_take_p1_00_p2_00_or_01_in_ssse_only(card2: Card) -> None:
    """After key 06, with a good MAC: P1 other than 00 or P2 other than 00/01 is 6A86, and in another DF than
    SSSE 6985; the PIN stays blocked."""
    block_pin(card2)
    pin_admin(card2)
    for header in ("84240100", "84240002"):
        assert card2.raw(maced(card2, bytes.fromhex(header)))[1] == 0x6A86
    assert card2.os.image.pin_tries_left == 0
    card2(DF01)
    assert card2.raw(maced(card2, bytes.fromhex("84240000"), key_name="DF01.STK", df="DF01"))[1] == 0x6985
    assert card2.os.image.pin_tries_left == 0


def test_pin_reload_of_a_field_that_holds_no_pin_changes_nothing(card2: Card) -> None:
    """RELOAD whose MAC is good but whose enciphered field is no PIN (not BCD, too short, not enciphered at all)
    is 6A80: the PIN, its counter and the image file stay as they were."""
    block_pin(card2)
    pin_admin(card2)
    before = path_of(card2).read_bytes()
    header = bytes.fromhex("84240001")
    for value in (b"\x12\x3A\xBC", b"\x12"):
        challenge, _ = card2("0084000008")
        body = crypto.sm_encipher(card2.os.alg, card2.key("STK"), challenge, value)
        assert card2.raw(maced(card2, header, body, challenge=challenge))[1] == 0x6A80
    assert card2.raw(maced(card2, header, bytes(range(8))))[1] == 0x6A80
    assert card2.os.image.pin == "123456" and card2.os.image.pin_tries_left == 0
    assert path_of(card2).read_bytes() == before


def test_pin_unblock_carries_no_pin(card2: Card) -> None:
    """Even after key 06, an UNBLOCK carrying a PIN (the old PUK form) is refused: no PIN travels."""
    block_pin(card2)
    pin_admin(card2)
    apdu = maced(card2, bytes.fromhex("84240000"), pin="123456")
    assert card2.raw(apdu)[1] == 0x6700
    assert card2.os.image.pin_tries_left == 0


@pytest.mark.parametrize("wrong", [3, 1])
def test_pin_unblock_without_key_06_reveals_nothing(card2: Card, wrong: int) -> None:
    """Ten UNBLOCK attempts without key 06 — MAC'd or not, bare or carrying a right or wrong PIN, on a blocked
    or a partly used PIN — all answer the same SW and change nothing: PIN, tries and the image file's bytes."""
    card2(SSSE)
    for _ in range(wrong):
        card2(VERIFY_WRONG)
    path = path_of(card2)
    before_file, before_image = path.read_bytes(), card2.os.image.to_json()
    unblock = bytes.fromhex("84240000")
    attempts = [
        maced(card2, unblock),                                     # the real form, good STK MAC
        maced(card2, unblock, bad=True),                           # a bad MAC
        maced(card2, unblock, pin="123456"),                       # the holder's PIN
        maced(card2, unblock, pin="000000"),                       # a wrong PIN
        maced(card2, unblock, pin="123457"),
        maced(card2, unblock, pin="123456", bad=True),
        maced(card2, unblock, key_name="RLK", pin="123456"),       # under key 06 itself
        bytes.fromhex("8424000004") + bytes(4),                    # no challenge at all
        bytes.fromhex("8424000003123456"),                         # a bare PIN
        bytes.fromhex("842400000712345600000000"),
    ]
    answers = {card2.raw(apdu)[1] for apdu in attempts}
    assert answers == {0x6982}
    assert path.read_bytes() == before_file
    assert card2.os.image.to_json() == before_image
    assert card2.os.image.pin == "123456" and card2.os.image.pin_tries_left == 3 - wrong


# --- challenges, MACs, authentication ---------------------------------------------------------------
def test_missing_mac_is_6987_and_wrong_mac_6988(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("841E000000") == 0x6987
    card2("0084000008")
    assert card2.sw("841E00000201 02") == 0x6987
    card2("0084000008")
    assert card2.sw("04D6880003010203") == 0x6987       # a secured update too short to hold a MAC
    assert card2.raw(maced(card2, bytes.fromhex("841E0000"), b"", bad=True))[1] == 0x6988
    assert card2.sw(SSSE + "00") == 0x9000              # still active


def test_a_challenge_serves_one_command(card2: Card) -> None:
    card2(SSSE)
    challenge, _ = card2("0084000008")
    card2("00B2012C00")                                 # any command consumes it
    apdu = maced(card2, bytes.fromhex("841E0000"), b"", challenge=challenge)
    assert card2.raw(apdu)[1] == 0x6984                 # MAC over an old challenge: no challenge now


def test_mac_over_an_old_challenge_is_refused(card2: Card) -> None:
    card2(SSSE)
    old, _ = card2("0084000008")
    card2("0084000008")                                 # a newer challenge replaces it
    apdu = maced(card2, bytes.fromhex("841E0000"), b"", challenge=old)
    assert card2.raw(apdu)[1] == 0x6988


def test_replayed_external_authentication_is_refused(card2: Card) -> None:
    card2(SSSE)
    challenge, _ = card2("0084000008")
    vector = bytes(8)
    crypt = crypto.external_auth_cryptogram(card2.os.alg, card2.key("UK"), challenge, vector)
    apdu = bytes.fromhex("0082000410") + crypt + vector
    assert card2.raw(apdu)[1] == 0x9000
    assert card2.raw(apdu)[1] == 0x6984                 # no challenge: replay refused
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 3    # ... without costing a try
    card2("0084000008")
    assert card2.raw(apdu)[1] == 0x63C2                 # a new challenge: the old cryptogram is wrong


@pytest.mark.parametrize("length", [4, 16])
def test_external_auth_after_a_challenge_not_of_8_bytes_is_6984_and_costs_no_try(card2: Card, card3: Card,
                                                                                 length: int) -> None:
    """The process key takes an 8-byte challenge: after a 4- or 16-byte one EXTERNAL AUTHENTICATE is 6984,
    checked before the try is counted — in memory and in the saved image."""
    for card in (card2, card3):
        card(SSSE)
        challenge, sw = card(f"00840000{length:02X}")
        assert sw == 0x9000 and len(challenge) == length
        vector = bytes(range(8))
        crypt = crypto.external_auth_cryptogram(card.os.alg, card.key("UK"), (challenge + bytes(8))[:8], vector)
        assert card.raw(bytes.fromhex("0082000410") + crypt + vector)[1] == 0x6984
        assert card.os.image.dfs["SSSE"].keys[0x04].tries_left == 3
        assert load_card(path_of(card)).dfs["SSSE"].keys[0x04].tries_left == 3
        assert card.sw("00DC072C0B07095A3132333435363738") == 0x6982      # and it granted nothing
        assert external_auth(card, "UK", 0x04, tamper=True) == 0x63C2      # a real failure does count


def test_external_auth_of_the_wrong_length_is_6700_and_costs_no_try(card2: Card) -> None:
    card2(SSSE)
    for data in (bytes(8), bytes(17), bytes(15)):
        card2("0084000008")
        assert card2.raw(bytes((0x00, 0x82, 0x00, 0x04, len(data))) + data)[1] == 0x6700
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 3
    assert load_card(path_of(card2)).dfs["SSSE"].keys[0x04].tries_left == 3


@pytest.mark.parametrize("length", [4, 16])
def test_maced_command_after_a_challenge_not_of_8_bytes_is_6984(card2: Card, length: int) -> None:
    card2(SSSE)
    challenge, sw = card2(f"00840000{length:02X}")
    assert sw == 0x9000 and len(challenge) == length
    apdu = maced(card2, bytes.fromhex("841E0000"), challenge=(challenge + bytes(8))[:8])
    assert card2.raw(apdu)[1] == 0x6984
    assert card2.os.image.dfs["SSSE"].status == "active"


def test_maced_command_with_more_than_255_data_bytes_is_6700(card2: Card) -> None:
    """The MAC covers a one-byte Lc: an extended-length secured command is refused with 6700 and writes nothing."""
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04) == 0x9000                        # EF08's update key: only Lc is wrong
    before = card2.os.image.to_json()
    challenge, _ = card2("0084000008")
    body = bytes(range(256))
    header = bytes.fromhex("04D68800") + bytes.fromhex("000104")
    mac = crypto.sm_mac(card2.os.alg, card2.key("STK"), challenge, header + body)
    assert card2.raw(header + body + mac)[1] == 0x6700
    assert card2.os.image.to_json() == before
    # the same write with a short Lc goes through: the 6700 is the length rule
    assert card2.raw(maced(card2, bytes.fromhex("04D68800"), body[:200]))[1] == 0x9000
    assert card2.os.image.dfs["SSSE"].binaries[0xEF08][:200] == body[:200]


def test_a_secured_command_carries_at_most_255_data_bytes(card2: Card) -> None:
    """The MAC covers a one-byte Lc: 255 data bytes (251 ‖ MAC) are checked and written; 256 are 6700, with
    nothing written."""
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04) == 0x9000
    body = bytes(range(251))
    assert card2.raw(maced(card2, bytes.fromhex("04D68800"), body))[1] == 0x9000
    assert card2.os.image.dfs["SSSE"].binaries[0xEF08][:251] == body
    before = card2.os.image.to_json()
    card2("0084000008")
    assert card2.raw(bytes.fromhex("04D68800" + "000100") + bytes(256))[1] == 0x6700
    assert card2.os.image.to_json() == before


def _without_df04_mac_key() -> Card:
    """gen2, but DF04 has no MAC key (a profile made here: every shipped DF has one)."""
    df04 = GEN2.df("DF04")
    keys = tuple(k for k in df04.keys if k.use is not KeyUse.MAC)
    dfs = tuple(dataclasses.replace(d, keys=keys) if d is df04 else d for d in GEN2.dfs)
    image = ck.new_image("gen2")
    image.profile = dataclasses.replace(GEN2, name="gen2-no-df04-stk", dfs=dfs)
    return Card(CardOS(image))


def test_a_df_without_a_mac_key_refuses_every_secured_command() -> None:
    card = _without_df04_mac_key()
    card(DF04)
    before = card.os.image.to_json()
    record = card.os.image.dfs["DF04"].records[0xEF05][0]
    for apdu in ("841E000004", "04DC012C" + f"{len(record) + 4:02X}" + record.hex()):
        card("0084000008")
        assert card.sw(apdu + "00000000") == 0x6A88
    assert card.os.image.to_json() == before


def test_a_stk_mac_does_not_replace_the_update_key(card2: Card, card3: Card) -> None:
    """A file whose update condition is KEY needs that external authentication; a valid STK MAC is not it."""
    for card in (card2, card3):
        card(SSSE)
        record = b"\x07\x09Z12345678"
        assert card.raw(maced(card, bytes.fromhex("04DC072C"), record))[1] == 0x6982
        assert card.os.image.dfs["SSSE"].records[0xEF05][6] != record
        assert external_auth(card, "UK", 0x04) == 0x9000
        assert card.raw(maced(card, bytes.fromhex("04DC072C"), record))[1] == 0x9000
        assert card.os.image.dfs["SSSE"].records[0xEF05][6] == record
        card(DF01)                                                               # DF01 EF05: key 83
        rec = b"\x20\x02" + b"21"
        assert card.raw(maced(card, bytes.fromhex("04DC012C"), rec, "DF01.STK", "DF01"))[1] == 0x6982
        assert card.os.image.dfs["DF01"].records[0xEF05][0] != rec


def test_per_df_keys_a_mac_under_ssse_stk_is_refused_in_df04(card2: Card, card3: Card) -> None:
    for card in (card2, card3):
        assert card.key("STK") != card.key("DF04.STK", "DF04")                 # else this proves nothing
        card(DF04)
        before = card.os.image.to_json()
        record = card.os.image.dfs["DF04"].records[0xEF05][0]
        new = record[:2] + bytes([record[2] ^ 0x11]) + record[3:]
        assert card.raw(maced(card, bytes.fromhex("04DC012C"), new, "STK", "SSSE"))[1] == 0x6988
        assert card.os.image.to_json() == before
        assert card.raw(maced(card, bytes.fromhex("04DC012C"), new, "DF04.STK", "DF04"))[1] == 0x9000
        assert card.os.image.dfs["DF04"].records[0xEF05][0] == new
        card(SSSE)                                                               # and the other way round
        assert card.raw(maced(card, bytes.fromhex("841E0000"), b"", "DF04.STK", "DF04"))[1] == 0x6988
        assert card.os.image.dfs["SSSE"].status == "active"


def test_failed_external_authentications_lock_the_key(card2: Card) -> None:
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C2
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C1
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x6983
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 0
    assert external_auth(card2, "UK", 0x04) == 0x6983   # locked, even with the right key
    assert external_auth(card2, "RK", 0x0A) == 0x9000   # other keys have their own counters
    assert card2.sw("0082000E100000000000000000000000000000000000") == 0x6A88  # no key 0E


def test_external_auth_success_resets_its_counter(card2: Card) -> None:
    card2(SSSE)
    external_auth(card2, "UK", 0x04, tamper=True)
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 3


def test_an_external_key_with_one_try_left_still_authenticates(card2: Card) -> None:
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C2
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C1
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 3


def test_external_authenticate_takes_external_authentication_keys_only(card2: Card) -> None:
    """P2 names an external-authentication key: the internal key (01) and the MAC key (02) are none, even with
    a cryptogram made under them (6A88; nothing granted, no counter touched)."""
    card2(SSSE)
    before = card2.os.image.to_json()
    assert external_auth(card2, "IRK", 0x01) == 0x6A88
    assert external_auth(card2, "STK", 0x02) == 0x6A88
    assert card2.os.authed == set()
    assert card2.os.image.to_json() == before


def _ecb(alg: Alg, key: bytes, data: bytes) -> bytes:
    cipher: CipherAlgorithm
    if alg is Alg.SM4:
        cipher = algorithms.SM4(key)
    else:
        cipher = TripleDES(key * 3 if len(key) == 8 else key + key[:8])
    return Cipher(cipher, modes.ECB()).encryptor().update(data)


def _independent_internal_auth(alg: Alg, irk: bytes, p: bytes, d: bytes) -> bytes:
    """docs/design.md §3, written out with the raw ciphers: SK = E_IRK(P) (3DES: 8 bytes, single DES; SM4:
    SM4(P ‖ 00×8)); answer = DES_SK(D), or on SM4 the left XOR right half of SM4_SK(D ‖ 00×8)."""
    if alg is Alg.SM4:
        sk = _ecb(alg, irk, p + bytes(8))
        block = _ecb(alg, sk, d + bytes(8))
        return bytes(a ^ b for a, b in zip(block[:8], block[8:]))
    sk = _ecb(alg, irk, p)
    return _ecb(alg, sk, d)


def test_internal_authenticate(any_card: Card) -> None:
    """``00 88 00 00 10 P ‖ D`` → E_SK(D), SK from the IRK and P, the first half [BLOG5][SI3]."""
    any_card(SSSE)
    p, d = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
    data, sw = any_card("0088000010" + (p + d).hex() + "08")
    assert sw == 0x9000 and len(data) == 8
    assert data == crypto.internal_auth_answer(any_card.os.alg, any_card.key("IRK"), p + d)
    assert data == _independent_internal_auth(any_card.os.alg, any_card.key("IRK"), p, d)
    swapped, _ = any_card("0088000010" + (d + p).hex() + "08")
    assert swapped != data                                   # P is the first half, D the second
    assert any_card.sw("0088000008 0102030405060708".replace(" ", "")) == 0x6700


def test_internal_authenticate_uses_the_internal_key_p2_names(card2: Card) -> None:
    """P2 00: the DF's internal key; P2 01: that key by its ID. An external-authentication key (04), the MAC key
    (02) or no key (0E) is 6A88, and so is a DF without an internal key. Le short of the answer: 6C08."""
    card2(SSSE)
    pd = bytes(range(16)).hex()
    answer, sw = card2("0088000010" + pd + "08")
    assert sw == 0x9000 and answer == crypto.internal_auth_answer(card2.os.alg, card2.key("IRK"), bytes(range(16)))
    assert card2("0088000110" + pd + "08") == (answer, 0x9000)
    for p2 in ("04", "02", "0E"):
        assert card2(f"008800{p2}10" + pd + "08") == (b"", 0x6A88)
    assert card2("0088000010" + pd + "04") == (b"", 0x6C08)
    card2(DF01)
    assert card2("0088000010" + pd + "08") == (b"", 0x6A88)


# --- access conditions ---------------------------------------------------------------------------------
def test_update_without_authentication_is_6982(card2: Card) -> None:
    card2(SSSE)
    name = "091E" + "E5BCA0E4B889".ljust(60, "0")
    assert card2.sw("00DC023420" + name) == 0x6982
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert card2.sw("00DC023420" + name) == 0x9000
    assert card2("00B2023400")[0].hex().upper() == name


def test_update_record_checks_tag_and_length(card2: Card) -> None:
    card2(SSSE)
    external_auth(card2, "UK", 0x04)
    assert card2.sw("00DC02340408024142") == 0x6700      # wrong length for record 2
    assert card2.sw("00DC023420" + "08" + "1E" + "00" * 30) == 0x6A80  # tag 08 is not record 2's


def test_update_record_by_number_or_tag_within_the_file(card2: Card) -> None:
    """UPDATE RECORD by number (P2 b3..b1 = 100) or by tag (000) in a linear file: another mode is 6A86, a record
    past the last or a tag no record has is 6A83, and nothing is written then."""
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04) == 0x9000
    records = card2.os.image.dfs["SSSE"].records[0xEF05]
    first, last = records[0], records[6]                                # tags 01 and 07
    new_first = first[:2] + bytes(len(first) - 2)
    new_last = last[:2] + b"Z87654321"

    def update(p1: int, p2: int, data: bytes) -> int:
        return card2.raw(bytes((0x00, 0xDC, p1, p2, len(data))) + data)[1]
    before = card2.os.image.to_json()
    assert update(0x01, 0x29, new_first) == 0x6A86                      # mode 001
    assert update(0x08, 0x2C, new_last) == 0x6A83                       # record 8 of 7
    assert update(0x55, 0x28, new_first) == 0x6A83                      # no record has tag 55
    assert card2.os.image.to_json() == before
    assert update(0x01, 0x28, new_first) == 0x9000                      # by tag: the first record
    assert update(0x07, 0x28, new_last) == 0x9000                       # by tag: the last record
    assert card2.os.image.dfs["SSSE"].records[0xEF05] == [new_first] + records[1:6] + [new_last]


def test_append_record_goes_to_cyclic_files_only_newest_first(card2: Card) -> None:
    """APPEND RECORD (P1 00) adds a whole record to a cyclic file, newest first; a linear file is 6981, a record
    of the wrong size 6700; a cyclic file's records are never rewritten in place (UPDATE RECORD 6981)."""
    card2(DF04)                                                 # EF15: cyclic, 8 records of 32 bytes, MAC'd

    def secured(header: str, body: bytes) -> int:
        return card2.raw(maced(card2, bytes.fromhex(header), body, "DF04.STK", "DF04"))[1]
    e1, e2 = bytes(range(32)), bytes(range(32, 64))
    start = list(card2.os.image.dfs["DF04"].records[0xEF15])
    assert secured("04E201A8", e1) == 0x6A86                  # P1 01
    assert secured("04E20028", e1) == 0x6981                  # EF05 is linear
    assert secured("04E200A8", e1[:31]) == 0x6700             # EF15 records are 32 bytes
    assert card2.os.image.dfs["DF04"].records[0xEF15] == start
    assert secured("04E200A8", e1) == 0x9000
    assert secured("04E200A8", e2) == 0x9000
    assert card2.os.image.dfs["DF04"].records[0xEF15] == ([e2, e1] + start)[:8]
    assert secured("04DC01AC", e2[:31] + b"!") == 0x6981      # UPDATE RECORD 1 of EF15
    assert card2.os.image.dfs["DF04"].records[0xEF15] == ([e2, e1] + start)[:8]


def test_binary_reads_and_writes_stay_inside_the_file(card2: Card) -> None:
    """EF08 holds 4096 bytes. A write must fit (6700 across the end or with no data, 6B00 from past it) and goes
    where P1 P2 say; a read from past the end is 6B00, one across it answers what is left with 6282."""
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert external_auth(card2, "RK", 0x0A) == 0x9000
    assert card2.sw("00A4020002EF08") == 0x9000               # the current EF: offset in P1 P2
    before = bytes(card2.os.image.dfs["SSSE"].binaries[0xEF08])
    assert len(before) == 4096
    assert card2.sw("00D60FFF02ABCD") == 0x6700               # offset 4095, 2 bytes: across the end
    assert card2.sw("00D6100001AB") == 0x6B00                 # offset 4096: past the end
    assert card2.sw("00D60FFE00") == 0x6700                   # no data
    assert bytes(card2.os.image.dfs["SSSE"].binaries[0xEF08]) == before
    assert card2.sw("00D60FFE02ABCD") == 0x9000               # the last two bytes
    assert card2.sw("00D601000212 34") == 0x9000              # offset 256
    after = bytes(card2.os.image.dfs["SSSE"].binaries[0xEF08])
    assert len(after) == 4096 and after[4094:] == b"\xAB\xCD" and after[256:258] == b"\x12\x34"
    assert after[:256] == before[:256] and after[258:4094] == before[258:4094]
    assert card2("00B0010002") == (b"\x12\x34", 0x9000)
    assert card2("00B00FFE02") == (b"\xAB\xCD", 0x9000)      # up to the end exactly
    assert card2("00B00FFE04") == (b"\xAB\xCD", 0x6282)      # across the end: what is left, and 6282
    assert card2("00B00FFE00") == (b"\xAB\xCD", 0x9000)      # Le 00: as much as there is
    assert card2("00B00FFE000000") == (b"\xAB\xCD", 0x9000)  # extended Le 0000 likewise
    assert card2("00B0100001") == (b"", 0x6B00)               # from past the end
    assert card2("00B00FFE") == (b"", 0x6700)                 # no Le
    assert card2("00B00FFE01AA02") == (b"", 0x6700)           # data in a READ BINARY
    assert card2.sw("00B0870010") == 0x9000                   # by SFI: EF07 (SFI 7)
    assert card2.sw("00B0A80010") == 0x6A86                   # P1 b7..b6 must be 00 with an SFI


def test_gen3_ef06_needs_external_auth_with_rk(card3: Card) -> None:
    card3(SSSE)
    assert card3.sw("00B2013400") == 0x6982
    assert card3.sw("00B2012C00") == 0x9000             # EF05 stays free
    assert external_auth(card3, "RK", 0x0A) == 0x9000
    assert card3.sw("00B2013400") == 0x9000
    card3("00A4040006D15600000500")
    card3(SSSE)
    assert card3.sw("00B2013400") == 0x6982             # security state went with the DF change


def test_photo_needs_read_key(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("00B0880000") == 0x6982
    assert external_auth(card2, "RK", 0x0A) == 0x9000
    data, sw = card2("00B0880000")
    assert sw == 0x9000 and len(data) == 256


def test_df01_files_need_its_own_read_key_and_plain_update_after_its_update_key(any_card: Card) -> None:
    """DF01: read key 88 (DF01.RK); EF05 updated with plain ``00 DC`` after external authentication with its
    update key 83 (DF01.UK1) [WAPP]. SSSE's keys open nothing there."""
    card = any_card
    card(SSSE)
    assert external_auth(card, "RK", 0x0A) == 0x9000                    # SSSE's read key ...
    card(DF01)
    assert card.sw("00B2012C00") == 0x6982                              # ... is gone with the DF change
    assert external_auth(card, "DF01.RK", 0x0A, df="DF01") == 0x6A88     # DF01 has no key 0A
    assert external_auth(card, "DF01.RK", 0x88, df="DF01") == 0x9000
    rec, sw = card("00B2012C00")
    assert sw == 0x9000 and rec[:2] == b"\x20\x02"
    new = rec[:2] + b"21"
    plain = bytes.fromhex("00DC012C") + bytes((len(new),)) + new
    assert card.raw(plain)[1] == 0x6982                                 # the read key does not write
    assert external_auth(card, "DF01.UK4", 0x86, df="DF01") == 0x9000   # EF06's key does not write EF05
    assert card.raw(plain)[1] == 0x6982
    assert external_auth(card, "DF01.UK1", 0x83, df="DF01") == 0x9000
    assert card.raw(plain)[1] == 0x9000
    assert card("00B2012C00") == (new, 0x9000)


def test_df_read_keys(card2: Card) -> None:
    """Read keys: DF01/DF02 0x88, DF03/DF04 0x84 (docs/design.md §3, [WAPP]); DF03 EF05 85 (RK2)."""
    for aid, sfi, rk in (("D15600000500", 5, 0x88), ("D15600000501", 7, 0x88), ("D15600000502", 6, 0x84),
                         ("D15600000503", 5, 0x84)):
        card2("00A4040006" + aid)
        df = card2.os.df
        assert df is not None
        assert card2.sw(f"00B201{sfi << 3 | 4:02X}00") == 0x6982
        assert external_auth(card2, f"{df.name}.RK", rk, df=df.name) == 0x9000
        assert card2.sw(f"00B201{sfi << 3 | 4:02X}00") in (0x9000, 0x6A83)   # a cyclic file may be empty


def test_df03_ef05_wants_its_own_read_key(card2: Card) -> None:
    """DF03 EF05 is read after key 85 (RK2; WAPP authenticates 67 2C for it, S34 names its read key 01962C), the
    DF's read key 84 is not enough."""
    card2("00A4040006D15600000502")
    assert external_auth(card2, "DF03.RK", 0x84, df="DF03") == 0x9000
    assert card2.sw("00B2012C00") == 0x6982
    assert external_auth(card2, "DF03.RK2", 0x85, df="DF03") == 0x9000
    assert card2.sw("00B2012C00") == 0x9000


def test_df04_files_need_a_mac_under_df04_stk(card2: Card) -> None:
    card2(DF04)
    assert external_auth(card2, "DF04.RK", 0x84, df="DF04") == 0x9000
    rec, sw = card2("00B2012C00")
    assert sw == 0x9000
    new = rec[:2] + bytes([rec[2] ^ 0x01]) + rec[3:]
    assert card2.raw(bytes.fromhex("00DC012C") + bytes((len(new),)) + new)[1] == 0x6987  # MAC required
    assert card2.raw(maced(card2, bytes.fromhex("04DC012C"), new, "DF04.STK", "DF04", bad=True))[1] == 0x6988
    assert card2("00B2012C00") == (rec, 0x9000)
    assert card2.raw(maced(card2, bytes.fromhex("04DC012C"), new, "DF04.STK", "DF04"))[1] == 0x9000
    assert card2("00B2012C00") == (new, 0x9000)
    entry = bytes(range(32))
    assert card2.raw(maced(card2, bytes.fromhex("04E200A8"), entry, "DF04.STK", "DF04"))[1] == 0x9000
    assert card2("00B201AC20") == (entry, 0x9000)                       # EF15 cyclic, newest first


def test_pin_and_key_file(card2: Card) -> None:
    card2(DF04)                                          # DF04 EF06 needs PIN and key 84
    assert external_auth(card2, "DF04.RK", 0x84, df="DF04") == 0x9000
    assert card2.sw("00B2013400") == 0x6982
    card2(VERIFY_RIGHT)
    assert card2.sw("00B2013400") == 0x9000


# --- blocking ----------------------------------------------------------------------------------------
def test_application_block_and_unblock(card2: Card) -> None:
    card2(SSSE)
    assert card2.raw(maced(card2, bytes.fromhex("841E0000"), b""))[1] == 0x9000
    data, sw = card2(SSSE + "00")
    assert sw == 0x6283 and data[0] == 0x6F               # selected, but invalidated
    assert card2.sw("00B2012C00") == 0x6985
    assert card2.sw(VERIFY_RIGHT) == 0x6985
    assert card2.raw(maced(card2, bytes.fromhex("84180000"), b""))[1] == 0x9000
    assert card2.sw(SSSE + "00") == 0x9000
    assert card2.sw("00B2012C00") == 0x9000


def test_permanent_block_cannot_be_undone(card2: Card) -> None:
    card2(SSSE)
    assert card2.raw(maced(card2, bytes.fromhex("841E0001"), b""))[1] == 0x9000
    assert card2.sw(SSSE + "00") == 0x6283
    assert card2.raw(maced(card2, bytes.fromhex("84180000"), b""))[1] == 0x9303
    assert card2.raw(maced(card2, bytes.fromhex("841E0000"), b""))[1] == 0x9303   # nor made temporary
    assert card2.sw("00B2012C00") == 0x9303


def test_block_and_unblock_commands_take_only_their_p1_p2(card2: Card) -> None:
    """APPLICATION BLOCK P1 00 P2 00/01, APPLICATION UNBLOCK and CARD BLOCK P1 P2 00 00: others are 6A86 even with
    a good MAC, and change nothing."""
    card2(SSSE)
    for header in ("841E0100", "841E0002"):
        assert card2.raw(maced(card2, bytes.fromhex(header)))[1] == 0x6A86
    assert card2.os.image.dfs["SSSE"].status == ACTIVE
    assert card2.raw(maced(card2, bytes.fromhex("841E0000")))[1] == 0x9000
    for header in ("84180100", "84180001"):
        assert card2.raw(maced(card2, bytes.fromhex(header)))[1] == 0x6A86
    assert card2.os.image.dfs["SSSE"].status == BLOCKED
    assert card2.raw(maced(card2, bytes.fromhex("84180000")))[1] == 0x9000
    for header in ("84160100", "84160001"):
        assert card2.raw(maced(card2, bytes.fromhex(header)))[1] == 0x6A86
    assert not card2.os.image.card_blocked
    assert card2.sw(SSSE + "00") == 0x9000


def test_an_application_block_ends_the_verified_state(card2: Card) -> None:
    """An application blocked and unblocked again starts over: the PIN and the keys passed before count no more."""
    card2(SSSE)
    assert card2.sw(VERIFY_RIGHT) == 0x9000
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert card2.raw(maced(card2, bytes.fromhex("841E0000")))[1] == 0x9000
    assert card2.raw(maced(card2, bytes.fromhex("84180000")))[1] == 0x9000
    assert card2.sw("0020000000") == 0x63C3
    assert card2.sw("00DC072C0B07095A3132333435363738") == 0x6982


def test_card_block_answers_6a81_to_every_select(tmp_path: Path) -> None:
    path = make_image(tmp_path)
    card = Card(CardOS.from_file(path))
    card(SSSE)
    assert card.raw(maced(card, bytes.fromhex("84160000"), b""))[1] == 0x9000
    assert card.sw(SSSE) == 0x6A81
    assert card.sw("00A40000023F00") == 0x6A81
    again = Card(CardOS.from_file(path))                # persisted
    assert again.sw(SSSE) == 0x6A81


def test_block_with_wrong_mac_changes_nothing(card2: Card) -> None:
    card2(SSSE)
    before = card2.os.image.to_json()
    assert card2.raw(maced(card2, bytes.fromhex("84160000"), b"", bad=True))[1] == 0x6988
    assert card2.os.image.to_json() == before


# --- keys never leave the card ---------------------------------------------------------------------
def test_no_command_returns_key_material(card2: Card) -> None:
    keys = [k.value for st in card2.os.image.dfs.values() for k in st.keys.values()]
    card2(SSSE)
    external_auth(card2, "RK", 0x0A)
    seen = b""
    for ins in range(256):
        for p1, p2 in ((0, 0), (0x80 | 5, 0), (1, 0x2C)):
            data, _ = card2.raw(bytes((0x00, ins, p1, p2, 0x00)))
            seen += data
    for k in keys:
        assert k[:8] not in seen and k[8:] not in seen
