"""The co-branded bank application: a UnionPay (PBOC 3.0) debit application as EMV cards shape it.

What it answers (docs/design.md §3.2; shapes from EMV 4.3 and PBOC 3.0, docs/sources.md#bank):

* SELECT ``1PAY.SYS.DDF01`` (the payment system environment): FCI ``6F [84 name] [A5 [88 01 01] [5F2D "zh"]
  [9F11 01]]``; READ RECORD 1 of SFI 1 (the directory) gives ``70 [61 [4F AID] [50 label] [87 priority]]``.
  SELECT MF answers ``6F 10 84 0E 1PAY.SYS.DDF01`` as a real card does.
* SELECT ``2PAY.SYS.DDF01`` (contactless): FCI ``6F [84 name] [A5 [BF0C [61 …]]]``; it has no records.
* SELECT the AID (``A000000333010101``): FCI with 50 label, 87 priority, 9F38 PDOL (UnionPay debit:
  ``9F7A01 9F0206 5F2A02``, 9 bytes of data).
* GET PROCESSING OPTIONS ``80 A8 00 00 Lc 83 L <PDOL data>``: once per selection of the AID; response format 2
  ``77 [82 AIP] [94 AFL]``. 6985 when the AID is not selected or GPO was done; 6A86 P1 P2 not 00 00; 6A80 data
  not a tag-83 object; 6700 its length not the PDOL's.
* READ RECORD ``00 B2 rec (SFI << 3 | 4)`` of the records the AFL names (``70`` templates: 57 track 2, 5F20 holder
  name, 9F1F, 5A PAN, 5F24 expiry …): 6985 before GPO, 6A86 another P2 form, SFI 0 or 31 or record 0, 6A82 an
  SFI the application has no file for, 6A83 a record outside the AFL, 6Cxx a wrong Le.

Offline data authentication (certificates, GENERATE AC) is left out: the AIP says so (no SDA, DDA or CDA).
The data is invented and test-only: card numbers on the test BIN ``999999`` pass the Luhn check, the image says
so, and an image whose card number is not on that BIN does not load.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from firmware_sim.apps.base import Application, CardServices, CardStatus, FieldsData
from protocols import commands as C
from protocols import emv
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.errors import BadCardImage, MalformedFrame
from protocols.tlv import ber_encode

SECTION = "bank"
TEST_BIN = "999999"
TEST_NOTE = ("TEST ONLY: invented financial data; the card number is on the test BIN 999999 and belongs to "
             "no account")

DIRECTORY_SFI = 1                 # the PSE's directory file
AIP = bytes.fromhex("1800")       # cardholder verification, terminal risk management; no SDA/DDA/CDA
AFL = (emv.AflEntry(1, 1, 2), emv.AflEntry(2, 1, 1))
LANGUAGE = b"zh"
CDOL1 = bytes.fromhex("9F0206" "9F0306" "9F1A02" "9505" "5F2A02" "9A03" "9C01" "9F3704")
CDOL2 = bytes.fromhex("8A02") + CDOL1
CVM_LIST = bytes.fromhex("00000000" "00000000" "4203" "1E03" "1F00")   # online PIN, signature, no CVM
APP_VERSION = bytes.fromhex("0030")                                 # PBOC 3.0


@dataclass
class BankData(FieldsData):
    """The section ``apps.bank`` of a card image (docs/design.md §3.2)."""

    pan: str
    pan_sequence: str            # 2 digits (5F34)
    effective_date: str          # YYMMDD (5F25)
    expiry_date: str             # YYMMDD (5F24)
    holder_name: str             # EMV ans 2–26, "SURNAME/GIVEN NAMES" (5F20)
    service_code: str = "220"    # 3 digits (5F30, track 2): international, chip
    aid: bytes = emv.UNIONPAY_DEBIT
    label: str = "PBOC DEBIT"
    priority: int = 1
    pdol: bytes = emv.UNIONPAY_DEBIT_PDOL
    note: str = TEST_NOTE

    FIELDS: ClassVar[tuple[str, ...]] = (
        "note", "aid", "label", "priority", "pdol", "pan", "pan_sequence", "effective_date", "expiry_date",
        "holder_name", "service_code")

    def check(self, where: str = SECTION) -> None:
        """``BadCardImage`` naming the first field that breaks its rule (values of personal fields not shown)."""
        def bad(name: str, why: str) -> BadCardImage:
            return BadCardImage(f"{where}.{name}: {why}")

        if not isinstance(self.note, str):
            raise bad("note", "expected a string")
        if not 5 <= len(self.aid) <= 16:
            raise bad("aid", f"{len(self.aid)} bytes (an AID has 5 to 16, ISO/IEC 7816-4 §8.2.1.2)")
        if not _ans(self.label, 1, 16):
            raise bad("label", "expected 1 to 16 printable ASCII characters (EMV ans, tag 50)")
        if not (_int(self.priority) and 0 <= self.priority <= 15):
            raise bad("priority", f"{self.priority!r} not in 0..15 (tag 87 bits 4–1)")
        try:
            if emv.dol_length(self.pdol) > 252:
                raise bad("pdol", "its data would not fit one GET PROCESSING OPTIONS command")
        except MalformedFrame as exc:
            raise bad("pdol", f"not a data object list ({exc})") from None
        if not isinstance(self.pan, str):
            raise bad("pan", "expected a string of digits")
        try:
            emv.check_pan(self.pan)
        except ValueError as exc:
            raise bad("pan", str(exc)) from None
        if not self.pan.startswith(TEST_BIN):
            raise bad("pan", f"not on the test BIN {TEST_BIN}: the emulated bank application holds test data only")
        for name, n in (("pan_sequence", 2), ("service_code", 3)):
            value = getattr(self, name)
            if not (isinstance(value, str) and len(value) == n and value.isascii() and value.isdigit()):
                raise bad(name, f"expected {n} digits")
        dates = {}
        for name in ("effective_date", "expiry_date"):
            try:
                dates[name] = emv.check_yymmdd(_str(getattr(self, name)))
            except ValueError:
                raise bad(name, "expected a real date YYMMDD") from None
        if dates["expiry_date"] <= dates["effective_date"]:
            raise bad("expiry_date", "not after effective_date")
        if not _ans(self.holder_name, 2, 26):
            raise bad("holder_name", "expected 2 to 26 printable ASCII characters (EMV ans, tag 5F20)")

    # --- the card's data objects ------------------------------------------------------------------------
    def track2(self) -> bytes:
        return emv.Track2(self.pan, self.expiry_date[:4], self.service_code, "0" * 9).encode()

    def records(self) -> dict[tuple[int, int], bytes]:
        """The application's records by (SFI, record number): exactly those the AFL names."""
        return {
            (1, 1): emv.record([(emv.TRACK2, self.track2()),
                                (emv.HOLDER_NAME, self.holder_name.encode("ascii")),
                                (emv.TRACK1_DISCRETIONARY, b"000000")]),
            (1, 2): emv.record([(emv.PAN, emv.encode_cn(self.pan)),
                                (emv.PAN_SEQUENCE, emv.encode_n(self.pan_sequence, 1)),
                                (emv.EXPIRY, emv.encode_n(self.expiry_date, 3)),
                                (emv.EFFECTIVE, emv.encode_n(self.effective_date, 3)),
                                (emv.ISSUER_COUNTRY, emv.encode_n(emv.CNY, 2)),
                                (emv.SERVICE_CODE, emv.encode_n(self.service_code, 2)),
                                (0x9F07, bytes.fromhex("FF00")),          # application usage control
                                (0x8E, CVM_LIST),
                                (0x9F08, APP_VERSION)]),
            (2, 1): emv.record([(0x8C, CDOL1), (0x8D, CDOL2), (0x9F42, emv.encode_n(emv.CNY, 2))]),
        }

    def entry(self) -> emv.DirectoryEntry:
        return emv.DirectoryEntry(self.aid, self.label, self.priority)




def _ans(text: Any, low: int, high: int) -> bool:
    return isinstance(text, str) and low <= len(text) <= high and all(" " <= c <= "~" for c in text)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fci(name: bytes, proprietary: bytes) -> bytes:
    return ber_encode(emv.FCI, ber_encode(emv.DF_NAME, name) + ber_encode(emv.FCI_PROPRIETARY, proprietary))


_PSE, _PPSE, _ADF = "PSE", "PPSE", "ADF"


class BankApplication(Application[BankData]):
    """One selection of the bank application: the PSE, the PPSE or the AID (see the module docstring)."""

    section = SECTION
    data_type = BankData
    commands = {C.READ_RECORD.ins: C.READ_RECORD, C.GET_PROCESSING_OPTIONS.ins: C.GET_PROCESSING_OPTIONS}

    def __init__(self) -> None:
        self.node = ""
        self.processing = False          # GET PROCESSING OPTIONS done in this selection

    @staticmethod
    def names(data: BankData) -> tuple[bytes, ...]:
        return (emv.PSE_NAME, emv.PPSE_NAME, data.aid)

    @staticmethod
    def mf_fci(data: BankData) -> bytes:
        """``6F 10 84 0E 1PAY.SYS.DDF01``: the MF is the payment system environment (docs/sources.md#bank)."""
        return ber_encode(emv.FCI, ber_encode(emv.DF_NAME, emv.PSE_NAME))

    def select(self, data: BankData, name: bytes) -> bytes:
        discretionary = ber_encode(emv.LANGUAGE, LANGUAGE) + ber_encode(emv.CODE_TABLE, b"\x01")
        if name == emv.PSE_NAME:
            self.node = _PSE
            return _fci(name, ber_encode(emv.SFI_OF_DIRECTORY, bytes((DIRECTORY_SFI,))) + discretionary)
        if name == emv.PPSE_NAME:
            self.node = _PPSE
            return _fci(name, ber_encode(emv.FCI_ISSUER_DATA, data.entry().encode()))
        self.node = _ADF
        label = data.label.encode("ascii")
        return _fci(name, ber_encode(emv.LABEL, label) + ber_encode(emv.PRIORITY, bytes((data.priority,)))
                    + ber_encode(emv.PDOL, data.pdol) + discretionary + ber_encode(emv.PREFERRED_NAME, label))

    def process(self, data: BankData, cmd: CommandAPDU, card: CardServices) -> bytes:
        if cmd.ins == C.GET_PROCESSING_OPTIONS.ins:
            return self._gpo(data, cmd, card)
        return self._read_record(data, cmd, card)

    def _gpo(self, data: BankData, cmd: CommandAPDU, card: CardServices) -> bytes:
        """EMV Book 3 §6.5.8: ``83 L <PDOL data>`` → ``77 [82 AIP] [94 AFL]``."""
        if self.node != _ADF or self.processing:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        body = cmd.data
        if len(body) < 2 or body[0] != emv.COMMAND_TEMPLATE:
            raise CardStatus(SW.WRONG_DATA)
        if body[1] != len(body) - 2 or body[1] != emv.dol_length(data.pdol):
            raise CardStatus(SW.WRONG_LENGTH)
        self.processing = True
        return card.offer(emv.gpo_response(AIP, emv.encode_afl(AFL)), cmd.le)

    def _read_record(self, data: BankData, cmd: CommandAPDU, card: CardServices) -> bytes:
        """EMV Book 3 §6.5.11: ``00 B2 rec (SFI << 3 | 4)``; only records the AFL names (the PSE: its directory)."""
        sfi = cmd.p2 >> 3
        if cmd.p2 & 0x07 != 0x04 or not 1 <= sfi <= 30 or cmd.p1 == 0:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.data:
            raise CardStatus(SW.WRONG_LENGTH)
        if self.node == _PSE:
            if sfi != DIRECTORY_SFI:
                raise CardStatus(SW.FILE_NOT_FOUND)
            if cmd.p1 != 1:
                raise CardStatus(SW.RECORD_NOT_FOUND)
            return card.reply(ber_encode(emv.RECORD_TEMPLATE, data.entry().encode()), cmd.le)
        if self.node != _ADF:
            raise CardStatus(SW.FILE_NOT_FOUND)       # the PPSE has no files
        if not self.processing:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if sfi not in {e.sfi for e in AFL}:
            raise CardStatus(SW.FILE_NOT_FOUND)
        records = data.records()
        if (sfi, cmd.p1) not in records:
            raise CardStatus(SW.RECORD_NOT_FOUND)
        return card.reply(records[(sfi, cmd.p1)], cmd.le)
