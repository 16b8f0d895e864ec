"""The card's behaviour, checked the same way on any reader (docs/sources.md §3, docs/design.md §3)."""
from __future__ import annotations

import pytest

from host.errors import ApplicationBlocked, CardError, NoCard, PinBlocked, ReaderError, WrongCard, WrongPin
from protocols import emv, sm2, x509
from protocols.codecs import check_date
from tests.conformance.conftest import Bench, irreversible

SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


def raw(term, hex_: str) -> tuple[bytes, int]:
    """One exchange without the engine's 61xx/6Cxx help."""
    rsp = term.card_reader.transmit(bytes.fromhex(hex_))
    return rsp[:-2], int.from_bytes(rsp[-2:], "big")


def session(bench: Bench):
    term = bench.terminal()
    term.connect()
    return term


# --- reading -----------------------------------------------------------------------------------------
def test_basic_info_with_card_authentication(bench: Bench) -> None:
    info = bench.terminal().read_basic_info()
    assert info.authenticated
    assert len(info.ssn) == 18 and len(info.card_number) == 9 and info.name
    assert info.card_id.startswith(info.region) and info.card_id[6:16] == "D156000005"
    assert info.spec_version[0] in "23" and len(info.terminal_number) == 12
    assert check_date(info.issue_date) < check_date(info.expiry_date)


def test_select_forms_and_fci(bench: Bench) -> None:
    term = session(bench)
    data, sw = raw(term, SSSE.hex())                          # case 3: FCI offered with 61xx
    assert (sw >> 8 == 0x61 and not data) or (sw == 0x9000 and data[:1] == b"\x6F")
    fci = term.card.engine.transmit(SSSE + b"\x00")
    assert fci.sw == 0x9000 and fci.data[0] == 0x6F and b"\x88\x01" in fci.data
    if b"\x9F\x0C" in fci.data:                                 # gen3 names its algorithm; gen1/gen2 do not
        assert b"\x9F\x0C\x03\x86\x01" in fci.data
    if bench.fresh:
        assert (b"\x9F\x0C" in fci.data) == ("gen3" in bench.spec)
    assert raw(term, "00A4020002EF05")[1] == 0x9000
    assert raw(term, "00A4000002EF05")[1] == 0x9000


def test_read_record_by_number_by_tag_and_le_forms(bench: Bench) -> None:
    term = session(bench)
    term.card.engine.transmit(SSSE)
    by_number, sw = raw(term, "00B2072C0B")
    assert sw == 0x9000 and by_number[:2] == b"\x07\x09"
    # Le 00 ("up to 256"): T=1 and APDU-level links return the record; a T=0 link may pass the card's
    # 6C0B through (ISO 7816-3 §12.2.2), which the engine turns into a re-send with Le 0B.
    assert raw(term, "00B2072800") in ((by_number, 0x9000), (b"", 0x6C0B))   # by tag 07 in SFI 5
    engine = term.card.engine
    assert (engine.send("00B2072800").data, engine.send("00B2072C00").data) == (by_number, by_number)
    assert raw(term, "00B2072C05") == (b"", 0x6C0B)            # wrong Le
    assert term.card.engine.send("00B2072C05").data == by_number  # the engine retries with 0B


def test_get_response_chain(bench: Bench) -> None:
    term = session(bench)
    _, sw = raw(term, SSSE.hex())
    if sw == 0x9000:
        pytest.skip("this reader answers case-3 SELECT with the FCI directly")
    part, sw2 = raw(term, "00C0000010")
    assert len(part) == 0x10 and sw2 >> 8 in (0x61, 0x90)


def test_error_status_words(bench: Bench) -> None:
    term = session(bench)
    term.card.engine.transmit(SSSE)
    assert raw(term, "00B2102C00")[1] == 0x6A83
    assert raw(term, "00A4020002EF99")[1] == 0x6A82
    assert raw(term, "00FE000000")[1] == 0x6D00
    assert raw(term, "10B2012C00")[1] == 0x6E00
    assert raw(term, "841E000000")[1] == 0x6987                 # APPLICATION BLOCK without its MAC
    assert raw(term, "00DC0234020900")[1] in (0x6982, 0x6700)   # update without authentication


def test_challenges_are_fresh(bench: Bench) -> None:
    term = session(bench)
    term.card.engine.transmit(SSSE)
    seen = {term.card.get_challenge(8) for _ in range(8)}
    assert len(seen) == 8


def test_extended_length_read(bench: Bench) -> None:
    if not bench.extended_length:
        pytest.skip("this path has no extended-length APDUs")
    term = session(bench)
    term.card.engine.transmit(SSSE)
    data, sw = raw(term, "00B2072C000000")
    assert sw == 0x9000 and data[:2] == b"\x07\x09"


def test_photo(bench: Bench) -> None:
    photo = bench.terminal().read_photo()
    assert photo[:2] == b"\xFF\xD8"


# --- the bank application (docs/design.md §3.2) ----------------------------------------------
def test_bank_card_number(bench: Bench) -> None:
    try:
        info = bench.terminal().read_bank_card()
    except WrongCard:
        if bench.fresh:
            raise
        pytest.skip("this card has no UnionPay application")
    assert 12 <= len(info.pan) <= 19 and emv.luhn_valid(info.pan) and info.aid.startswith("A000000333")
    assert info.masked_pan == info.pan[:6] + "*" * (len(info.pan) - 10) + info.pan[-4:]
    check_date(info.expiry_date)
    if bench.fresh:
        assert info.pan.startswith("999999") and info.found_by == "PSE" and info.pan_sequence == "01"


def test_bank_application_refusals(bench: Bench) -> None:
    if not bench.fresh:
        pytest.skip("the emulated card's rules; real bank applications differ in their answers")
    term = session(bench)
    gpo = "80A800000B8309" + "00" * 9 + "00"
    assert raw(term, gpo)[1] == 0x6985                            # GPO with nothing selected
    assert term.card.engine.transmit(bytes.fromhex("00A4040008A00000033301010100")).sw == 0x9000
    assert raw(term, "00B2010C00")[1] == 0x6985                   # READ RECORD before GPO
    assert raw(term, "80A800000A8308" + "00" * 8 + "00")[1] == 0x6700
    assert term.card.engine.send(gpo).sw == 0x9000
    assert raw(term, "00B2030C00")[1] == 0x6A83                   # outside the AFL
    assert raw(term, "00B2010D00")[1] == 0x6A86
    term.card.engine.transmit(SSSE)
    assert raw(term, gpo)[1] == 0x6985                            # SELECT SSSE ended the bank application


# --- the PKI application of gen3 cards (docs/design.md §3.4) -------------------------------------------
def test_pki_certificate_and_signature(bench: Bench) -> None:
    """A gen3 card's signing certificate parses as SM2 and its signature verifies with the certificate's key; a
    gen2 card has no PKI application. Signing needs the PKI PIN, so it runs on emulated cards only."""
    term = bench.terminal()
    if bench.fresh and "gen3" not in bench.spec:
        with pytest.raises(WrongCard):
            term.read_pki_certificate()
        return
    try:
        der = term.read_pki_certificate()
    except WrongCard:
        if bench.fresh:
            raise
        pytest.skip("this card has no PKI application")
    if not der:
        pytest.skip("this card holds no signing certificate")
    cert = x509.parse(der)
    assert cert.not_before < cert.not_after and len(cert.public_key) == 64
    if not bench.fresh:
        return
    term = session(bench)
    for name in (b"PKI." + "社会保障".encode("gbk"), b"SS.CERT.ADF1"):
        term.card.engine.transmit(bytes((0x00, 0xA4, 0x04, 0x00, len(name))) + name)
    assert raw(term, "002A9E9A20" + "00" * 32)[1] == 0x6982           # no PIN: no signature
    signature = bench.terminal().pki_sign(b"conformance", bench.pin)
    assert signature.public_key == cert.public_key
    assert sm2.verify(cert.public_key, b"conformance", signature.raw)


# --- PIN -------------------------------------------------------------------------------------------------
def test_wrong_pin_counts_and_right_pin_resets(bench: Bench) -> None:
    term = bench.terminal()
    assert term.pin_tries_left() == 3
    with pytest.raises(WrongPin) as info:
        term.verify_pin("000000" if bench.pin != "000000" else "999999")
    assert info.value.tries_left == 2
    assert term.pin_tries_left() == 2
    term.verify_pin(bench.pin)
    assert term.pin_tries_left() == 3


def test_change_pin_and_back(bench: Bench) -> None:
    term = bench.terminal()
    term.change_pin(bench.pin, "975310")
    try:
        term.verify_pin("975310")
    finally:
        term.change_pin("975310", bench.pin)
    term.verify_pin(bench.pin)


def test_pin_lockout_then_reload(bench: Bench, request: pytest.FixtureRequest) -> None:
    irreversible(bench, request)
    term = bench.terminal()
    for left in (2, 1):
        with pytest.raises(WrongPin) as info:
            term.verify_pin("000000")
        assert info.value.tries_left == left
    with pytest.raises(PinBlocked):
        term.verify_pin("000000")
    with pytest.raises(PinBlocked):
        term.verify_pin(bench.pin)
    term.reload_pin(bench.pin)
    term.verify_pin(bench.pin)


# --- the medical purse (docs/design.md §3.3) ---------------------------------------------------------------
def test_purse_debit(bench: Bench, request: pytest.FixtureRequest) -> None:
    """A purchase of 0.01 yuan: the card debits, the PSAM's MAC1 and MAC2 agree with it, the log records it."""
    irreversible(bench, request)                                  # money leaves the purse
    term = bench.terminal()
    before = term.purse_balance(bench.pin)
    with pytest.raises(CardError) as info:
        term.debit(before + 1, bench.pin)                         # more than the purse holds
    assert info.value.sw == 0x9401
    result = term.debit(1, bench.pin)
    assert (result.balance_before, result.balance) == (before, before - 1)
    assert len(result.tac) == 8 and result.terminal_number == term.need_psam().terminal_number()
    assert term.purse_balance(bench.pin) == before - 1
    newest = term.purse_log(bench.pin)[0]
    assert (newest.amount, newest.offline_counter, newest.timestamp) == (1, result.offline_counter, result.when)
    again = term.debit(1, bench.pin)
    assert again.offline_counter == result.offline_counter + 1
    assert again.terminal_txn == result.terminal_txn + 1


def test_purse_needs_the_pin(bench: Bench) -> None:
    term = session(bench)
    assert raw(term, "00A4040006D15600000503")[1] >> 8 in (0x90, 0x61)
    assert raw(term, "805C000204")[1] == 0x6982
    assert raw(term, "805401000F" + "00" * 15)[1] == 0x6901


# --- secured updates and blocking --------------------------------------------------------------------
def test_secured_updates_and_restore(bench: Bench) -> None:
    term = bench.terminal()
    phone = term.read_items("DF01EF06", ["phone"])["phone"]
    term.write_item("DF01EF06", "phone", "13700137000")          # CLA 04 + MAC via the PSAM
    assert term.read_items("DF01EF06", ["phone"]) == {"phone": "13700137000"}
    term.write_item("DF01EF06", "phone", phone)
    name = term.read_items("SSSEEF06", ["name"])["name"]
    term.write_item("SSSEEF06", "name", name + "测")               # after external auth with key 04
    assert term.read_basic_info().name == name + "测"
    term.write_item("SSSEEF06", "name", name)


def test_temporary_block_and_unblock(bench: Bench) -> None:
    term = bench.terminal()
    term.block_application()
    try:
        with pytest.raises(ApplicationBlocked):
            term.read_basic_info()
    finally:
        term.unblock_application()
    assert term.read_basic_info().authenticated


def test_permanent_block(bench: Bench, request: pytest.FixtureRequest) -> None:
    irreversible(bench, request)
    term = bench.terminal()
    term.block_application(permanent=True)
    with pytest.raises(ApplicationBlocked) as info:
        term.unblock_application()
    assert info.value.sw == 0x9303


def test_card_block(bench: Bench, request: pytest.FixtureRequest) -> None:
    irreversible(bench, request)
    term = bench.terminal()
    term.block_card()
    with pytest.raises(ApplicationBlocked) as info:
        term.read_basic_info()
    assert info.value.sw == 0x6A81


# --- the card taken out ------------------------------------------------------------------------------------
def test_card_removed_mid_flow(bench: Bench) -> None:
    if bench.remove is None or bench.insert is None:
        pytest.skip("this path cannot remove the card by itself")
    term = session(bench)
    term.card.engine.transmit(SSSE)
    bench.remove()
    try:
        with pytest.raises(NoCard):
            term.card.engine.send("00B2072C00")
    finally:
        bench.insert()
    term.close()
    assert bench.terminal().read_basic_info().authenticated


def test_reader_errors_are_typed(bench: Bench) -> None:
    assert issubclass(NoCard, ReaderError)
    term = session(bench)
    with pytest.raises(Exception) as info:
        term.card.engine.send("00A4")                          # not an APDU: refused before sending
    assert type(info.value).__name__ == "MalformedApdu"
