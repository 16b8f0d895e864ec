"""The bank card number: the co-branded card's financial (UnionPay PBOC) application read as a terminal does.

The flow (EMV 4.3 Book 1 §12, Book 3 §10.1–10.2; docs/design.md §3.2):

1. Candidates: SELECT the payment system environment ``1PAY.SYS.DDF01`` and read its directory (SFI from the FCI,
   records until 6A83), else SELECT ``2PAY.SYS.DDF01`` (PPSE: the entries are in its FCI), else the UnionPay AIDs
   one by one. A directory that cannot be used (absent, no SFI, a record that is not 9000 or not TLV) is passed
   over. Contactless reads try the PPSE first. Entries are taken in priority order (tag 87), UnionPay
   AIDs only (RID A000000333).
2. SELECT the AID; fill its PDOL (9F38) with the terminal's values (:func:`terminal_values`: amount 0, CNY,
   today's date, a fresh unpredictable number …; anything else zeros, EMV Book 3 §5.4) and send GET PROCESSING
   OPTIONS ``80 A8 00 00 Lc 83 L data 00``. An application that answers 6985 is skipped (Book 3 §10.1).
3. READ RECORD every record the AFL names; take 5A (PAN), 57 (track 2), 5F24 (expiry), 5F20 (name), 5F34.

The PAN must be 12–19 digits with a right Luhn check digit, and agree with track 2 when both are there; the card
is refused (``CardError`` 6F00) otherwise. Show it masked (:attr:`BankCardInfo.masked_pan`): traces redact it
(``host.trace``).
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from host.card import check
from host.engine import ApduEngine, Response
from protocols import commands as C
from protocols import emv
from protocols.apdu import CommandAPDU
from protocols.errors import CardError, MalformedFrame, WrongCard
from protocols.tlv import ber_find

#: Status words of SELECT AID or GPO after which the terminal tries the next application (EMV Book 1 §12.4).
_NOT_HERE = frozenset({0x6A82, 0x6A81, 0x6283, 0x6985})


@dataclass(frozen=True)
class BankCardInfo:
    """What the bank application says about the card (docs/design.md §3.2)."""

    pan: str
    expiry_date: str             # YYYYMMDD (5F24; from track 2: the month's last day)
    holder_name: str             # 5F20 without padding; "" when the card names nobody
    pan_sequence: str            # 5F34, 2 digits, "" when absent
    aid: str
    label: str
    found_by: str                # "PSE", "PPSE" or "AID" (selected directly)

    @property
    def masked_pan(self) -> str:
        """First 6 and last 4 digits (PCI DSS 3.3)."""
        return emv.mask_pan(self.pan)

    def as_dict(self, full: bool = False) -> dict[str, str]:
        """The fields, the PAN masked unless ``full``."""
        return {"pan": self.pan if full else self.masked_pan, "expiry_date": self.expiry_date,
                "holder_name": self.holder_name, "pan_sequence": self.pan_sequence, "aid": self.aid,
                "label": self.label, "found_by": self.found_by}


def terminal_values(today: _dt.date, unpredictable: bytes) -> dict[int, bytes]:
    """The terminal's data for a PDOL (EMV Book 3 Annex A): a zero-amount inquiry in CNY on an attended terminal."""
    return {
        0x9F7A: b"\x00",                                  # VLP / e-cash terminal support indicator: not used
        0x9F02: emv.encode_n("0", 6), 0x9F03: emv.encode_n("0", 6),      # amounts authorised, other
        0x5F2A: emv.encode_n(emv.CNY, 2), 0x9F1A: emv.encode_n(emv.CNY, 2),  # currency, terminal country
        0x9A: emv.encode_n(today.strftime("%y%m%d"), 3), 0x9C: b"\x00",    # date, transaction type (goods)
        0x9F37: unpredictable,                            # unpredictable number
        0x95: bytes(5),                                   # terminal verification results
        0x9F66: bytes.fromhex("26000000"),                # TTQ: qPBOC, online PIN, signature (contactless)
        0x9F35: emv.encode_n("22", 1),                    # terminal type: attended, online with offline
        0x9F33: bytes.fromhex("E0F8C8"),                  # terminal capabilities
    }


class BankReader:
    """The bank application flow over one card slot's APDU engine."""

    def __init__(self, engine: ApduEngine, *, rng: Callable[[int], bytes] = os.urandom,
                 today: Callable[[], _dt.date] = _dt.date.today) -> None:
        self.engine = engine
        self._rng = rng
        self._today = today

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> Response:
        return self.engine.transmit(CommandAPDU(cla, ins, p1, p2, data, le))

    def select(self, name: bytes) -> Response:
        return self.send(0x00, C.SELECT.ins, 0x04, 0x00, name, 256)

    def read_record(self, sfi: int, number: int) -> Response:
        return self.send(0x00, C.READ_RECORD.ins, number, (sfi << 3) | 0x04, le=256)

    # --- 1. candidates ------------------------------------------------------------------------------------
    def _from_pse(self) -> list[emv.DirectoryEntry] | None:
        """The PSE's directory entries; None when the PSE cannot be used (not there, no directory SFI in its FCI, a
        directory record that is not 9000 or not TLV): the terminal then goes on without it (EMV Book 1 §12.3.2)."""
        rsp = self.select(emv.PSE_NAME)
        if rsp.sw != 0x9000:
            return None
        try:
            sfi = ber_find(rsp.data, emv.SFI_OF_DIRECTORY)
        except MalformedFrame:
            return None
        if sfi is None or len(sfi) != 1 or not 1 <= sfi[0] <= 30:
            return None
        entries: list[emv.DirectoryEntry] = []
        for number in range(1, 256):
            rec = self.read_record(sfi[0], number)
            if rec.sw == 0x6A83:
                break
            if rec.sw != 0x9000:
                return None
            try:
                entries += emv.directory_entries(rec.data)
            except MalformedFrame:
                return None
        return entries

    def _from_ppse(self) -> list[emv.DirectoryEntry] | None:
        """The PPSE's entries (in its FCI); None when it is not there or its FCI does not parse."""
        rsp = self.select(emv.PPSE_NAME)
        if rsp.sw != 0x9000:
            return None
        try:
            return list(emv.directory_entries(rsp.data))
        except MalformedFrame:
            return None

    def candidates(self, contactless: bool = False) -> Iterator[tuple[bytes, str]]:
        """(AID, how it was found) in the order to try: a directory's UnionPay entries, else every UnionPay AID."""
        ways = (("PPSE", self._from_ppse), ("PSE", self._from_pse))
        for way, listing in ways if contactless else ways[::-1]:
            entries = listing()
            if entries is not None:
                found = [e for e in entries if e.aid.startswith(emv.UNIONPAY_RID)]
                if found:
                    for entry in sorted(found, key=emv.DirectoryEntry.order):
                        yield entry.aid, way
                    return
        for aid in emv.UNIONPAY_AIDS:
            yield aid, "AID"

    # --- 2. and 3. -----------------------------------------------------------------------------------------
    def read(self, contactless: bool = False) -> BankCardInfo:
        """Select the card's UnionPay application and read its card data; ``WrongCard`` when it has none."""
        for aid, way in self.candidates(contactless):
            rsp = self.select(aid)
            if rsp.sw in _NOT_HERE:
                continue
            fci = check(rsp)
            pdol = _parse("FCI", ber_find, fci, emv.PDOL) or b""
            label = _parse("FCI", ber_find, fci, emv.LABEL) or b""
            gpo = self._gpo(pdol)
            if gpo.sw == 0x6985:
                continue
            _aip, afl = _parse("GPO response", emv.parse_gpo_response, check(gpo))
            objects: dict[int, bytes] = {}
            for sfi, number in emv.afl_records(afl):
                record = _parse(f"SFI {sfi} record {number}", emv.record_objects,
                                check(self.read_record(sfi, number)))
                for tag, value in record.items():
                    objects.setdefault(tag, value)
            return _card_info(objects, aid, label.decode("ascii", "replace").strip(), way)
        raise WrongCard("the card has no UnionPay application (1PAY.SYS.DDF01, 2PAY.SYS.DDF01, A000000333…)")

    def _gpo(self, pdol: bytes) -> Response:
        values = terminal_values(self._today(), self._rng(4))
        data = _parse("PDOL", emv.build_dol_data, pdol, values)
        return self.send(0x80, C.GET_PROCESSING_OPTIONS.ins, 0x00, 0x00, emv.gpo_data(data), 256)


T = TypeVar("T")


def _parse(what: str, parse: Callable[..., T], *args: Any) -> T:
    """``parse(*args)``; a card's malformed data becomes ``CardError`` 6F00 naming ``what``."""
    try:
        return parse(*args)
    except (MalformedFrame, ValueError, UnicodeDecodeError) as exc:
        raise CardError(0x6F00, f"{what}: {exc}") from None


def _card_info(objects: dict[int, bytes], aid: bytes, label: str, way: str) -> BankCardInfo:
    """The card data from the records' data objects (EMV Book 3 Annex A); ``CardError`` 6F00 if inconsistent."""
    track2 = None
    if emv.TRACK2 in objects:
        track2 = _parse("track 2 equivalent data (57)", emv.Track2.decode, objects[emv.TRACK2])
    try:
        if emv.PAN in objects:
            pan = emv.decode_cn(objects[emv.PAN], "PAN (5A)")
        elif track2 is not None:
            pan = track2.pan
        else:
            raise ValueError("the records hold no PAN (5A) and no track 2 (57)")
        emv.check_pan(pan)
        if track2 is not None and track2.pan != pan:
            raise ValueError("the PAN (5A) and track 2 (57) name different cards")
        if emv.EXPIRY in objects:
            yymmdd = emv.decode_n(objects[emv.EXPIRY], "expiry date (5F24)")
        elif track2 is not None:
            yymmdd = emv.end_of_month(track2.expiry)
        else:
            raise ValueError("the records hold no expiry date (5F24)")
        emv.check_yymmdd(yymmdd, "expiry date (5F24)")
        psn = emv.decode_n(objects[emv.PAN_SEQUENCE], "PAN sequence number (5F34)") if \
            emv.PAN_SEQUENCE in objects else ""
    except ValueError as exc:
        raise CardError(0x6F00, f"bank application: {exc}") from None
    name = objects.get(emv.HOLDER_NAME, b"").decode("ascii", "replace").strip()
    return BankCardInfo(pan, "20" + yymmdd, "" if name == "/" else name, psn, aid.hex().upper(), label, way)
