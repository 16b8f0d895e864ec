"""The medical purse of DF04 on the card and the PSAM (docs/design.md §3.3): the purchase with each of its rules,
one negative test per rule, and the PSAM's MAC1 and MAC2 checked against the card."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.image import CardImage, load_card
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import load_psam
from firmware_sim.image import atomic_write, dumps
from protocols import crypto
from protocols import purse as P
from protocols.crypto import Alg
from protocols.errors import BadCardImage
from tests.card.conftest import SSSE, Card, make_image

DF04 = "00A4040006D15600000503"
VERIFY = "0020000003123456"
TERMINAL = "440100000001"
WHEN = "20240501103000"


def init(card: Card, amount: int = 100, index: int = 1, le: str = "0F", terminal: str = TERMINAL
         ) -> tuple[bytes, int]:
    return card(f"805001020B{index:02X}{amount:08X}{terminal}{le}")


def mac1_for(card: Card, init_rsp: bytes, amount: int, txn: int = 1, when: str = WHEN) -> bytes:
    r = P.InitResponse.parse(init_rsp)
    sespk = P.session_key(card.os.alg, card.key("DF04.DPK", "DF04"), r.random, r.offline_counter, txn)
    return P.mac1(card.os.alg, sespk, amount, bytes.fromhex(TERMINAL), bytes.fromhex(when))


def debit(card: Card, mac1: bytes, txn: int = 1, when: str = WHEN, le: str = "08") -> tuple[bytes, int]:
    return card(f"805401000F{txn:08X}{when}{mac1.hex()}{le}")


def ready(card: Card) -> Card:
    assert card.sw(DF04) >> 8 in (0x90, 0x61)
    assert card.sw(VERIFY) == 0x9000
    return card


def balance(card: Card) -> int:
    data, sw = card("805C000204")
    assert sw == 0x9000
    return int.from_bytes(data, "big")


def fund(path: Path, fen: int) -> None:
    doc = json.loads(path.read_text())
    doc["dfs"]["DF04"]["purse"]["balance"] = fen
    atomic_write(path, dumps(doc))


@pytest.fixture(params=["gen2", "gen3"])
def purse(request: pytest.FixtureRequest, tmp_path: Path) -> Card:
    path = make_image(tmp_path, request.param, purse_balance=10000)
    return ready(Card(CardOS.from_file(path)))


# --- the purchase -----------------------------------------------------------------------------------------
def test_a_purchase_debits_counts_logs_and_answers_tac_and_mac2(purse: Card) -> None:
    assert balance(purse) == 10000
    rsp, sw = init(purse, 250)
    assert sw == 0x9000
    r = P.InitResponse.parse(rsp)
    assert (r.balance, r.offline_counter, r.overdraft_limit, r.key_version) == (10000, 0, 0, 1)
    assert r.alg is purse.os.alg
    sespk = P.session_key(purse.os.alg, purse.key("DF04.DPK", "DF04"), r.random, 0, 0x00010002)
    mac1 = P.mac1(purse.os.alg, sespk, 250, bytes.fromhex(TERMINAL), bytes.fromhex(WHEN))
    out, sw = debit(purse, mac1, txn=0x00010002)
    assert sw == 0x9000 and len(out) == 8
    tac = P.tac(purse.os.alg, purse.key("DF04.DTK", "DF04"), 250, bytes.fromhex(TERMINAL), 0x00010002,
                bytes.fromhex(WHEN))
    assert out == tac + P.mac2(purse.os.alg, sespk, 250)
    assert balance(purse) == 9750
    img = load_card(purse.os.store.path)      # type: ignore[arg-type]  # a file-backed card
    assert img.dfs["DF04"].purse is not None and img.dfs["DF04"].purse.offline_counter == 1
    log = img.dfs["DF04"].records[0xEF08]
    assert [P.LogRecord.parse(x) for x in log] == [P.LogRecord(0, 0, 250, 6, bytes.fromhex(TERMINAL),
                                                               bytes.fromhex(WHEN))]
    data, sw = purse("00B2014417")                                   # EF08 record 1 (SFI 8), after the PIN
    assert sw == 0x9000 and data == log[0]
    rsp, _ = init(purse, 1)
    assert P.InitResponse.parse(rsp).offline_counter == 1


def test_the_log_keeps_the_newest_ten(card2: Card, tmp_path: Path) -> None:
    card = ready(Card(CardOS.from_file(make_image(tmp_path, "gen2", purse_balance=1000))))
    for i in range(12):
        rsp, sw = init(card, i + 1)
        assert sw == 0x9000
        assert debit(card, mac1_for(card, rsp, i + 1, txn=i), txn=i)[1] == 0x9000
    log = card.os.image.dfs["DF04"].records[0xEF08]
    assert [P.LogRecord.parse(x).amount for x in log] == list(range(12, 2, -1))
    assert balance(card) == 1000 - sum(range(1, 13))


def test_case_4_without_le_offers_61xx(purse: Card) -> None:
    rsp, sw = init(purse, 10, le="")
    assert (rsp, sw) == (b"", 0x610F)
    rsp, sw = purse("00C000000F")
    assert sw == 0x9000
    out, sw = debit(purse, mac1_for(purse, rsp, 10), le="")          # GET RESPONSE kept the purchase
    assert (out, sw) == (b"", 0x6108)
    assert purse("00C0000008")[1] == 0x9000


# --- one negative test per rule ------------------------------------------------------------------------------
def test_no_pin_6982(tmp_path: Path) -> None:
    card = Card(CardOS.from_file(make_image(tmp_path, "gen2", purse_balance=100)))
    card(DF04)
    assert card.sw("805C000204") == 0x6982
    assert init(card)[1] == 0x6982
    card(SSSE)
    card(VERIFY)
    card(DF04)                                                        # selecting another DF forgets the PIN
    assert card.sw("805C000204") == 0x6982


def test_outside_df04_6985(purse: Card) -> None:
    purse(SSSE)
    purse(VERIFY)
    assert purse.sw("805C000204") == 0x6985
    assert init(purse)[1] == 0x6985


def test_insufficient_balance_9401(purse: Card) -> None:
    assert init(purse, 10001)[1] == 0x9401
    assert init(purse, 10000)[1] == 0x9000


def test_the_amount_is_all_four_bytes(purse: Card) -> None:
    assert init(purse, 0x01000001)[1] == 0x9401                      # 167 772.17 yuan, not 1 fen
    assert balance(purse) == 10000


def test_a_purchase_may_use_the_profiles_overdraft_limit(tmp_path: Path) -> None:
    """The shipped purse has no overdraft (JR/T 0025.2); a profile that grants one lets a purchase go that far
    below zero, and no further."""
    image = load_card(make_image(tmp_path, "gen2", purse_balance=100))
    df04 = image.profile.df("DF04")
    assert df04.purse is not None
    spec = dataclasses.replace(df04.purse, overdraft_limit=50)
    dfs = tuple(dataclasses.replace(d, purse=spec) if d is df04 else d for d in image.profile.dfs)
    image.profile = dataclasses.replace(image.profile, name="gen2-overdraft", dfs=dfs)
    card = ready(Card(CardOS(image)))
    assert init(card, 151)[1] == 0x9401
    rsp, sw = init(card, 150)
    assert sw == 0x9000 and P.InitResponse.parse(rsp).overdraft_limit == 50


def test_wrong_key_index_9403(purse: Card) -> None:
    assert init(purse, index=2)[1] == 0x9403
    assert init(purse, index=3)[1] == 0x9403                         # the TAC key is no purchase key


def test_amount_zero_6a80(purse: Card) -> None:
    assert init(purse, 0)[1] == 0x6A80


@pytest.mark.parametrize("apdu, sw", [
    ("805C000104", 0x6A86), ("805C010204", 0x6A86), ("805C00020100", 0x6700), ("805C000202", 0x6C04),
    ("805002020B0100000064440100000001", 0x6A86), ("805001010B0100000064440100000001", 0x6A86),
    ("805001020A01000000644401000000", 0x6700), ("805001020C0100000064440100000001FF", 0x6700),
    ("805001020B010000006444010000000108", 0x6C0F),
    ("805402000F" + "00" * 15, 0x6A86), ("805401010F" + "00" * 15, 0x6A86),
])
def test_wrong_parameters_and_lengths(purse: Card, apdu: str, sw: int) -> None:
    assert purse.sw(apdu) == sw


def test_wrong_debit_lengths_6700(purse: Card) -> None:
    rsp, _ = init(purse)
    assert purse.sw("805401000E" + "00" * 14) == 0x6700


def test_debit_without_initialize_6901(purse: Card) -> None:
    assert debit(purse, bytes(4))[1] == 0x6901
    rsp, _ = init(purse)
    assert balance(purse) == 10000                                    # any other command ends the purchase
    assert debit(purse, mac1_for(purse, rsp, 100))[1] == 0x6901
    rsp, _ = init(purse)
    assert debit(purse, mac1_for(purse, rsp, 100))[1] == 0x9000
    assert debit(purse, mac1_for(purse, rsp, 100))[1] == 0x6901        # one DEBIT per INITIALIZE
    assert balance(purse) == 9900


def test_the_terminal_transaction_number_is_all_four_bytes(purse: Card) -> None:
    """The session key takes its last two bytes, the TAC all four."""
    rsp, sw = init(purse, 250)
    assert sw == 0x9000
    out, sw = debit(purse, mac1_for(purse, rsp, 250, txn=0x81020304), txn=0x81020304)
    assert sw == 0x9000
    assert out[:4] == P.tac(purse.os.alg, purse.key("DF04.DTK", "DF04"), 250, bytes.fromhex(TERMINAL), 0x81020304,
                            bytes.fromhex(WHEN))
    assert balance(purse) == 9750


def test_each_purchase_counts_the_offline_counter_up(purse: Card) -> None:
    for n in range(3):
        rsp, sw = init(purse, 10)
        assert sw == 0x9000 and P.InitResponse.parse(rsp).offline_counter == n
        assert debit(purse, mac1_for(purse, rsp, 10))[1] == 0x9000
    assert balance(purse) == 9970


def test_bad_date_6a80(purse: Card) -> None:
    rsp, _ = init(purse)
    assert debit(purse, mac1_for(purse, rsp, 100, when="20230229103000"), when="20230229103000")[1] == 0x6A80


def test_wrong_mac1_9302_counts_and_blocks_the_purchase_key(purse: Card) -> None:
    dpk = purse.os.profile.df("DF04").key_by_id(1)
    assert dpk is not None
    for left in (2, 1):
        rsp, _ = init(purse)
        good = mac1_for(purse, rsp, 100)
        assert debit(purse, bytes(b ^ 1 for b in good))[1] == 0x9302
        assert purse.os.image.dfs["DF04"].keys[dpk.key_id].tries_left == left
    rsp, _ = init(purse)
    assert debit(purse, mac1_for(purse, rsp, 100))[1] == 0x9000       # a good MAC1 gives the tries back
    assert purse.os.image.dfs["DF04"].keys[dpk.key_id].tries_left == 3
    for _ in range(3):
        rsp, _ = init(purse)
        assert debit(purse, bytes(4))[1] == 0x9302
    assert init(purse)[1] == 0x6983                                   # blocked, and it stays so on disk
    assert load_card(purse.os.store.path).dfs["DF04"].keys[dpk.key_id].tries_left == 0  # type: ignore[arg-type]
    assert balance(purse) == 9900


def test_a_debit_after_another_process_blocked_the_purchase_key_is_6983(tmp_path: Path) -> None:
    """Two processes share the image: one has initialized a purchase when the other's wrong MAC1s block the
    purchase key; its DEBIT is then refused (6983) and debits nothing."""
    path = make_image(tmp_path, "gen2", purse_balance=10000)
    one, two = ready(Card(CardOS.from_file(path))), ready(Card(CardOS.from_file(path)))
    rsp, sw = init(one, 100)
    assert sw == 0x9000
    for _ in range(3):
        assert init(two, 100)[1] == 0x9000
        assert debit(two, bytes(4))[1] == 0x9302
    assert init(two, 100)[1] == 0x6983
    assert debit(one, mac1_for(one, rsp, 100))[1] == 0x6983
    assert balance(one) == 10000


def test_counter_at_its_end_6985(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2", purse_balance=100)
    doc = json.loads(path.read_text())
    doc["dfs"]["DF04"]["purse"]["offline_counter"] = 0xFFFF
    atomic_write(path, dumps(doc))
    card = ready(Card(CardOS.from_file(path)))
    assert init(card)[1] == 0x6985


def test_blocked_application_refuses_the_purse(purse: Card) -> None:
    purse.os.image.dfs["DF04"].status = "blocked"
    assert purse.sw("805C000204") == 0x6985
    purse.os.image.dfs["DF04"].status = "blocked_permanently"
    assert init(purse)[1] == 0x9303


def test_the_log_is_the_cards_own(purse: Card) -> None:
    assert purse.sw("00E20040" + "17" + "00" * 23) == 0x6982           # EF08: no terminal appends to it


def test_a_card_issued_before_the_purse_loads_and_answers_6a82(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    doc = json.loads(path.read_text())
    del doc["dfs"]["DF04"]["purse"]
    for name in ("DF04.DPK", "DF04.DTK"):
        del doc["dfs"]["DF04"]["keys"][name]
    atomic_write(path, dumps(doc))
    card = ready(Card(CardOS.from_file(path)))
    assert card.sw("805C000204") == 0x6A82
    card.os.persist()
    assert "purse" not in json.loads(path.read_text())["dfs"]["DF04"]


def test_purse_image_is_checked(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    for mutate in (lambda d: d["purse"].update(balance=-1), lambda d: d["purse"].update(offline_counter=70000),
                   lambda d: d["purse"].update(balance=True), lambda d: d["purse"].pop("balance"),
                   lambda d: d["keys"].pop("DF04.DPK"), lambda d: d.pop("purse")):
        doc = json.loads(path.read_text())
        mutate(doc["dfs"]["DF04"])
        with pytest.raises(BadCardImage) as exc:
            CardOS(load_card_doc(doc))
        assert "DF04" in str(exc.value)


def load_card_doc(doc: object) -> CardImage:
    return CardImage.from_json(doc)


# --- the PSAM ------------------------------------------------------------------------------------------------
def psam_for(card: Card, tmp_path: Path) -> PsamOS:
    region = card.os.image.region
    path = tmp_path / "psam.json"
    atomic_write(path, dumps(demo_psam("440100").to_json()) if region == "440100" else
                 dumps(demo_psam("440300").to_json()))
    psam = PsamOS.from_file(path)
    psam.power_on()
    app = "DF01" if card.os.alg is Alg.DES3 else "DF02"
    assert psam.process(bytes.fromhex("00A4000002" + app))[-2:] == b"\x90\x00"
    return psam


def psam_run(psam: PsamOS, hex_: str) -> tuple[bytes, int]:
    rsp = psam.process(bytes.fromhex(hex_))
    return rsp[:-2], int.from_bytes(rsp[-2:], "big")


def sam_init(card: Card, psam: PsamOS, rsp: bytes, amount: int = 100, **over: object) -> tuple[bytes, int]:
    r = P.InitResponse.parse(rsp)
    factors = crypto.factors(card.os.image.region, card.os.image.atr)[:2]
    data = P.PsamInit(r.random, r.offline_counter, amount, P.PURCHASE_TYPE, bytes.fromhex(WHEN), r.key_version,
                      r.alg_id, factors)
    for k, v in over.items():
        object.__setattr__(data, k, v)
    raw = data.encode()
    return psam_run(psam, f"80700000{len(raw):02X}{raw.hex()}08")


def test_psam_mac1_and_mac2_agree_with_the_card(purse: Card, tmp_path: Path) -> None:
    psam = psam_for(purse, tmp_path)
    terminal = psam.image.terminal
    for expected_txn in (0, 1):
        rsp, _ = init(purse, terminal=terminal)
        out, sw = sam_init(purse, psam, rsp)
        assert sw == 0x9000 and int.from_bytes(out[:4], "big") == expected_txn
        res, sw = debit(purse, out[4:], txn=expected_txn)
        assert sw == 0x9000
        assert psam_run(psam, "8072000004" + res[4:].hex()) == (b"", 0x9000)
        assert psam_run(psam, "8072000004" + res[4:].hex())[1] == 0x6901          # once
    assert load_psam(psam.store.path).transaction_number == 2                   # type: ignore[arg-type]
    assert balance(purse) == 9800
    # MAC1 covers the PSAM's terminal number: a card told another one refuses it.
    rsp, _ = init(purse, terminal="999999999999")
    out, _ = sam_init(purse, psam, rsp)
    assert debit(purse, out[4:], txn=2)[1] == 0x9302


def test_psam_refuses_a_wrong_mac2_9302_and_mac2_without_mac1_6901(purse: Card, tmp_path: Path) -> None:
    psam = psam_for(purse, tmp_path)
    assert psam_run(psam, "807200000400000000")[1] == 0x6901
    rsp, _ = init(purse)
    out, _ = sam_init(purse, psam, rsp)
    assert psam_run(psam, "807200000400000000")[1] == 0x9302
    out, _ = sam_init(purse, psam, init(purse)[0])
    psam_run(psam, "00B0960006")                                               # another command in between
    assert psam_run(psam, "807200000400000000")[1] == 0x6901


def test_psam_purchase_negative(purse: Card, tmp_path: Path) -> None:
    psam = psam_for(purse, tmp_path)
    rsp, _ = init(purse)
    assert sam_init(purse, psam, rsp, key_version=2)[1] == 0x9403              # no purchase key of that version
    assert sam_init(purse, psam, rsp, txn_type=9)[1] == 0x6A80
    assert sam_init(purse, psam, rsp, alg_id=0x7F)[1] == 0x6A80
    assert sam_init(purse, psam, rsp, when=bytes.fromhex("20241301000000"))[1] == 0x6A80
    factors = crypto.factors(purse.os.image.region, purse.os.image.atr)
    assert sam_init(purse, psam, rsp, factors=factors)[1] == 0x9403             # 3 factors: no such key
    assert psam_run(psam, "8070000010" + "00" * 16)[1] == 0x6700
    assert psam_run(psam, "8070010024" + "00" * 36)[1] == 0x6A86
    assert psam_run(psam, "8072000003000000")[1] == 0x6700
    assert load_psam(psam.store.path).transaction_number == 0                   # type: ignore[arg-type]
    psam_run(psam, "00A40000023F00")
    assert sam_init(purse, psam, rsp)[1] == 0x6985                              # at the MF: no application
