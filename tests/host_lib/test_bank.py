"""Reading the bank card number (host.bank): the selection fallbacks, the PDOL, the card's data checked, the CLI,
the standard interface and the redacted trace."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from firmware_sim.apps.bank import BankData
from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card
from firmware_sim.device import DeviceWrapper
from firmware_sim.image import atomic_write, dumps
from hardware.inprocess import InProcessReader
from host.bank import BankReader, _card_info
from host.cli import main
from host.engine import ApduEngine
from host.standard import SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer, redact_response
from protocols import emv
from protocols.errors import CardError, WrongCard
from tests.card.conftest import make_image

DEMO_PAN = "9999990032126059533"          # the Guangzhou demo card (firmware_sim/demo/guangzhou-gen2.json)


class Refusing(DeviceWrapper):
    """A card that answers ``sw`` to SELECT of the names given and everything else as ``card`` does; it keeps what
    it was sent."""

    def __init__(self, card: CardOS, refuse: dict[bytes, str]) -> None:
        super().__init__(card)
        self.refuse = refuse
        self.sent: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        if apdu[1] == 0xA4 and apdu[2] == 0x04 and apdu[5:5 + apdu[4]] in self.refuse:
            return bytes.fromhex(self.refuse[apdu[5:5 + apdu[4]]])
        return self.device.process(apdu)


def _reader(card: CardOS | None = None, refuse: dict[bytes, str] | None = None, **kw: object) -> BankReader:
    engine = ApduEngine(InProcessReader(Refusing(card or CardOS(demo_card()), refuse or {}), "refusing"))
    engine.connect()
    return BankReader(engine, **kw)  # type: ignore[arg-type]  # kw holds BankReader's keyword options


# --- the flow ----------------------------------------------------------------------------------------------------
def test_read_through_the_pse_on_the_demo_card() -> None:
    info = Terminal(InProcessReader(CardOS(demo_card()))).read_bank_card()
    assert (info.pan, info.expiry_date, info.holder_name) == (DEMO_PAN, "20290315", "CHEN/XIAOMING")
    assert (info.pan_sequence, info.aid, info.label, info.found_by) == ("01", "A000000333010101", "PBOC DEBIT", "PSE")
    assert info.masked_pan == "999999*********9533"
    assert info.as_dict()["pan"] == "999999*********9533" and info.as_dict(full=True)["pan"] == DEMO_PAN


def test_contactless_reads_try_the_ppse_first() -> None:
    assert _reader().read(contactless=True).found_by == "PPSE"


@pytest.mark.parametrize("refuse, found_by", [
    ({emv.PSE_NAME: "6A82"}, "PPSE"),
    ({emv.PSE_NAME: "6F10840E" + emv.PSE_NAME.hex() + "9000"}, "PPSE"),     # an FCI without the directory's SFI
    ({emv.PSE_NAME: "6A81", emv.PPSE_NAME: "6A82"}, "AID"),
    ({emv.PSE_NAME: "6D00", emv.PPSE_NAME: "6F03BF0C00" "9000"}, "AID"),     # a PPSE without entries
], ids=["no-pse", "pse-without-sfi", "no-directory", "empty-ppse"])
def test_fallbacks_when_a_directory_is_missing(refuse: dict[bytes, str], found_by: str) -> None:
    info = _reader(refuse=refuse).read()
    assert info.found_by == found_by and info.pan == DEMO_PAN


def test_gpo_refused_skips_the_application() -> None:
    """EMV Book 1 §12.4: an application whose GPO answers 6985 is left for the next candidate."""
    card = CardOS(demo_card())
    reader = _reader(card, {emv.PSE_NAME: "6A82", emv.PPSE_NAME: "6A82"})
    original = card.process

    def refuse_gpo(apdu: bytes) -> bytes:
        return b"\x69\x85" if apdu[:2] == b"\x80\xA8" else original(apdu)
    card.process = refuse_gpo  # type: ignore[method-assign]  # the card answers 6985 to GPO
    with pytest.raises(WrongCard, match="no UnionPay application"):
        reader.read()


def test_a_card_without_the_application_is_the_wrong_card(tmp_path: Path) -> None:
    card = CardOS.from_file(make_image(tmp_path, "gen2", bank=False))
    reader = _reader(card)
    with pytest.raises(WrongCard):
        reader.read()
    selects = [apdu[5:5 + apdu[4]] for apdu in reader.engine.reader.device.sent if apdu[1] == 0xA4]  # type: ignore[attr-defined]
    assert selects == [emv.PSE_NAME, emv.PPSE_NAME, *emv.UNIONPAY_AIDS]


def test_the_pdol_is_filled_with_terminal_values(tmp_path: Path) -> None:
    """A PDOL asking for the date and an unpredictable number (EMV Book 3 §5.4) gets them; the card checks Lc."""
    path = make_image(tmp_path, "gen2")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["apps"]["bank"]["pdol"] = "9F7A019F02065F2A029A039F37049F4E04"
    atomic_write(path, dumps(doc))
    reader = _reader(CardOS.from_file(path), rng=lambda n: bytes(range(1, n + 1)), today=lambda: dt.date(2025, 7, 9))
    assert reader.read().pan.startswith("999999")
    gpo = next(a for a in reader.engine.reader.device.sent if a[:2] == b"\x80\xA8")  # type: ignore[attr-defined]
    assert gpo.hex().upper() == "80A8000016" "8314" "00" "000000000000" "0156" "250709" "01020304" "00000000" "00"


def test_the_demo_gpo_is_the_production_command() -> None:
    """``80 A8 00 00 0B 83 09 …`` as production code sends it (docs/sources.md#bank)."""
    reader = _reader()
    reader.read()
    gpo = next(a for a in reader.engine.reader.device.sent if a[:2] == b"\x80\xA8")  # type: ignore[attr-defined]
    assert gpo.hex().upper() == "80A800000B8309" "00" "000000000000" "0156" "00"


# --- the card's data is checked ----------------------------------------------------------------------------------
def _objects(pan: str = DEMO_PAN, **over: bytes) -> dict[int, bytes]:
    objects = {emv.PAN: emv.encode_cn(pan), emv.EXPIRY: bytes.fromhex("290315"), emv.PAN_SEQUENCE: b"\x01",
               emv.TRACK2: emv.Track2(pan, "2903", "220", "0").encode(), emv.HOLDER_NAME: b"CHEN/XIAOMING"}
    objects.update({int(k[1:], 16): v for k, v in over.items()})
    return objects


def test_card_data_rules() -> None:
    info = _card_info(_objects(), emv.UNIONPAY_DEBIT, "PBOC DEBIT", "AID")
    assert (info.pan, info.expiry_date, info.pan_sequence) == (DEMO_PAN, "20290315", "01")
    only_track2 = {k: v for k, v in _objects().items() if k not in (emv.PAN, emv.EXPIRY)}
    info = _card_info(only_track2, emv.UNIONPAY_DEBIT, "", "AID")
    assert (info.pan, info.expiry_date) == (DEMO_PAN, "20290331")          # track 2 names a month: its last day
    assert _card_info({**_objects(), emv.HOLDER_NAME: b" /"}, emv.UNIONPAY_DEBIT, "", "AID").holder_name == ""
    wrong_digit = DEMO_PAN[:-1] + "4"
    for objects, why in (
        ({emv.PAN: emv.encode_cn(wrong_digit), emv.EXPIRY: bytes.fromhex("290315")}, "Luhn"),
        ({**_objects(), emv.TRACK2: emv.Track2("999999003212605954" + emv.luhn_check_digit("999999003212605954"),
                                               "2903", "220", "").encode()}, "different cards"),
        ({emv.EXPIRY: bytes.fromhex("290315")}, "no PAN"),
        ({emv.PAN: emv.encode_cn(DEMO_PAN)}, "no expiry"),
        ({**_objects(), emv.EXPIRY: bytes.fromhex("291315")}, "expiry date"),
        ({**_objects(), emv.TRACK2: bytes.fromhex("1234")}, "track 2"),
    ):
        with pytest.raises(CardError, match=why) as info_:
            _card_info(objects, emv.UNIONPAY_DEBIT, "", "AID")
        assert info_.value.sw == 0x6F00 and DEMO_PAN not in str(info_.value) and wrong_digit not in str(info_.value)


# --- the command line and the standard interface ------------------------------------------------------------------
def test_cli_masks_the_pan_unless_full(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "--reader", "sim"]) == 0
    out = capsys.readouterr().out
    assert "999999*********9533" in out and DEMO_PAN not in out and "CHEN/XIAOMING" in out and "2029-03-15" in out
    assert main(["bank", "--reader", "sim", "--full"]) == 0
    assert DEMO_PAN in capsys.readouterr().out
    assert main(["bank", "--reader", "sim:shenzhen-gen3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pan"].startswith("999999***") and data["holder_name"] == "LIN/WANTING" and data["found_by"] == "PSE"


def test_cli_without_the_application_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "--reader", f"sim:{make_image(tmp_path, 'gen2', bank=False)}"]) == 1
    assert "no UnionPay application" in capsys.readouterr().err


def test_standard_interface_function(tmp_path: Path) -> None:
    code, out = SSCardDriver("sim").iReadBankCardNo(3)
    assert (code, out) == (0, f"{DEMO_PAN}|20290315|01|A000000333010101|PBOC DEBIT|")
    assert SSCardDriver("sim").iReadBankCardNo(1)[0] == 0
    assert SSCardDriver("sim").iReadBankCardNo(2)[0] == -13                 # no contactless interface
    assert SSCardDriver("sim").iReadBankCardNo(7)[0] == -14
    code, out = SSCardDriver(f"sim:{make_image(tmp_path, 'gen2', bank=False)}").iReadBankCardNo(1)
    assert code == -1 and out.endswith("|")


# --- traces ---------------------------------------------------------------------------------------------------
def test_the_pan_track2_and_name_are_redacted_in_traces() -> None:
    tracer = Tracer(keep=True)
    reader = InProcessReader(CardOS(demo_card()))
    Terminal(reader, trace=tracer).read_bank_card()
    text = json.dumps(tracer.records)
    data = demo_card().apps["bank"]
    assert isinstance(data, BankData)
    secrets = [DEMO_PAN, data.track2().hex().upper(), b"CHEN/XIAOMING".hex().upper(), emv.encode_cn(DEMO_PAN).hex().upper()]
    assert not [s for s in secrets if s in text]
    records = [r for r in tracer.records if r["cmd_name"] == "READ RECORD" and str(r["rsp"]).startswith("70")]
    shown = " ".join(str(r["rsp"]) for r in records)
    assert "5A0A<redacted 10 bytes>" in shown and "5712<redacted 18 bytes>" in shown
    assert "5F200D<redacted 13 bytes>" in shown and "5F2403290315" in shown     # the expiry stays readable
    assert "4F08A000000333010101" in shown                                         # the directory too


def test_trace_cli_redacts_and_no_redact_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--json", "--", "bank", "--reader", "sim"]) == 0
    err = capsys.readouterr().err
    assert DEMO_PAN not in err and "<redacted" in err and "UnionPay debit SFI 1 record 2" in err
    assert main(["trace", "--json", "--no-redact", "--", "bank", "--reader", "sim"]) == 0
    assert DEMO_PAN in capsys.readouterr().err


def test_malformed_bank_answers_are_redacted_whole() -> None:
    apdu = bytes.fromhex("00B2010C00")
    assert redact_response(apdu, bytes.fromhex("70055A03999999" "9000")) == "70055A03<redacted 3 bytes>9000"
    assert redact_response(apdu, bytes.fromhex("70065A03999999" "9000")) == "<redacted 7 bytes>9000"   # truncated
    assert redact_response(apdu, bytes.fromhex("7081055A03999999" "9000")) == "<redacted 8 bytes>9000"  # not DER
    gpo = bytes.fromhex("80A8000002830000")
    qpboc = bytes.fromhex("770C" "82027C00" "5706" "999999D2903F" "9000")
    assert redact_response(gpo, qpboc) == "770C82027C005706<redacted 6 bytes>9000"
