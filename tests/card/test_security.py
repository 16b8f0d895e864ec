"""Security rules of the card OS, each with a negative test (issue 3, DESIGN.md §3)."""
from __future__ import annotations

from pathlib import Path

from firmware_sim.card_os import CardOS
from firmware_sim.image import load_card
from protocols import crypto
from tests.card.authn import enc_pin, external_auth, maced
from tests.card.conftest import SSSE, Card, make_image

VERIFY_RIGHT = "0020000003123456"
VERIFY_WRONG = "0020000003999999"


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
    card.os.store.save = spy  # type: ignore[method-assign]
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
    assert card2.sw(VERIFY_RIGHT) == 0x63C2
    assert card2.sw("0020000003654321") == 0x9000
    assert card2.sw("805E010007111111FF222222") == 0x63C2  # wrong old PIN counts
    assert card2.sw("805E010003654321") == 0x6A80          # no FF separator
    assert card2.sw("805E010006654321FF12AB") == 0x6A80    # new PIN is not BCD
    assert card2.sw("805E0100076543211FAB") == 0x6700      # Lc 7, 5 bytes follow
    assert card2.sw("005E010007123456FF654321") == 0x6E00  # wrong CLA


def test_pin_reload_needs_mac_and_on_gen3_external_auth(card2: Card, card3: Card) -> None:
    card2(SSSE)
    card2(VERIFY_WRONG), card2(VERIFY_WRONG), card2(VERIFY_WRONG)
    apdu = maced(card2, bytes.fromhex("84240001"), enc_pin(card2, "RPK", "888888"), "RPK")
    assert card2.raw(apdu)[1] == 0x9000
    assert card2.sw("0020000003888888") == 0x9000

    card3(SSSE)
    apdu = maced(card3, bytes.fromhex("84240001"), enc_pin(card3, "RPK", "888888"), "RPK")
    assert card3.raw(apdu)[1] == 0x6982                  # gen3: external auth with key 06 first
    assert external_auth(card3, "RLK", 0x06) == 0x9000
    apdu = maced(card3, bytes.fromhex("84240001"), enc_pin(card3, "RPK", "888888"), "RPK")
    assert card3.raw(apdu)[1] == 0x9000
    assert card3.sw("0020000003888888") == 0x9000


def test_pin_unblock_with_puk(card2: Card) -> None:
    card2(SSSE)
    for _ in range(3):
        card2(VERIFY_WRONG)
    wrong = maced(card2, bytes.fromhex("84240000"), enc_pin(card2, "PUK", "000000"), "PUK")
    assert card2.raw(wrong)[1] == 0x6984                 # not the holder's PIN
    assert card2.sw(VERIFY_RIGHT) == 0x6983
    apdu = maced(card2, bytes.fromhex("84240000"), enc_pin(card2, "PUK", "123456"), "PUK")
    assert card2.raw(apdu)[1] == 0x9000
    assert card2.sw(VERIFY_RIGHT) == 0x9000


# --- challenges, MACs, authentication ---------------------------------------------------------------
def test_missing_mac_is_6987_and_wrong_mac_6988(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("841E000000") == 0x6987
    card2("0084000008")
    assert card2.sw("841E00000201 02") == 0x6987
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
    crypt = crypto.auth_cryptogram(card2.os.alg, card2.key("UK"), challenge, vector)
    apdu = bytes.fromhex("0082000410") + crypt + vector
    assert card2.raw(apdu)[1] == 0x9000
    assert card2.raw(apdu)[1] == 0x6984                 # no challenge: replay refused
    card2("0084000008")
    assert card2.raw(apdu)[1] == 0x63C2                 # a new challenge: the old cryptogram is wrong


def test_failed_external_authentications_lock_the_key(card2: Card) -> None:
    card2(SSSE)
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C2
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x63C1
    assert external_auth(card2, "UK", 0x04, tamper=True) == 0x6983
    assert external_auth(card2, "UK", 0x04) == 0x6983   # locked, even with the right key
    assert external_auth(card2, "RK", 0x0A) == 0x9000   # other keys have their own counters
    assert card2.sw("0082000E100000000000000000000000000000000000") == 0x6A88  # no key 0E


def test_external_auth_success_resets_its_counter(card2: Card) -> None:
    card2(SSSE)
    external_auth(card2, "UK", 0x04, tamper=True)
    assert external_auth(card2, "UK", 0x04) == 0x9000
    assert card2.os.image.dfs["SSSE"].keys[0x04].tries_left == 3


def test_internal_authenticate(any_card: Card) -> None:
    any_card(SSSE)
    r, v = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
    data, sw = any_card("008800001001020304050607081112131415161718 08".replace(" ", ""))
    assert sw == 0x9000
    assert data == crypto.auth_cryptogram(any_card.os.alg, any_card.key("IRK"), r, v)
    assert any_card.sw("0088000008 0102030405060708".replace(" ", "")) == 0x6700


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


def test_gen3_ef06_needs_external_auth_with_rk(card3: Card) -> None:
    card3(SSSE)
    assert card3.sw("00B2013400") == 0x6982
    assert card3.sw("00B2012C00") == 0x9000             # EF05 stays free
    assert external_auth(card3, "RK", 0x0A) == 0x9000
    assert card3.sw("00B2013400") == 0x9000
    card3("00A4040006D15600000500")
    card3(SSSE)
    assert card3.sw("00B2013400") == 0x6982             # security state went with the DF change


def test_photo_needs_read_key_and_df_file_needs_mac_update(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("00B0880000") == 0x6982
    external_auth(card2, "RK", 0x0A)
    data, sw = card2("00B0880000")
    assert sw == 0x9000 and len(data) == 256
    card2("00A4040006D15600000500")                     # DF01
    assert card2.sw("00B2012C00") == 0x6982
    assert external_auth(card2, "RK", 0x0A, df="DF01") == 0x9000
    rec, sw = card2("00B2012C00")
    assert sw == 0x9000 and rec[0] == 0x20
    assert card2.raw(bytes.fromhex("00DC012C") + bytes((len(rec),)) + rec)[1] == 0x6987  # MAC required
    new = rec[:2] + b"\x20" + rec[3:]
    assert card2.raw(maced(card2, bytes.fromhex("04DC012C"), new, df="DF01", bad=True))[1] == 0x6988
    assert card2.raw(maced(card2, bytes.fromhex("04DC012C"), new, df="DF01"))[1] == 0x9000
    assert card2("00B2012C00")[0] == new


def test_pin_and_key_file(card2: Card) -> None:
    card2("00A4040006D15600000503")                     # DF04, EF06 needs PIN and key
    external_auth(card2, "RK", 0x0A, df="DF04")
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
    assert card2.sw("00B2012C00") == 0x9303


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
