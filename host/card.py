"""The social security card client: typed commands over the APDU engine (docs/sources.md §3,
docs/design.md §3). Reading tolerates every variant real cards show: an FCI without 9F0C (3DES), version
"2.0\0", ASCII dates, FF for unset items, text padded with 00 or 20, and cards that cannot read a whole
record file at once."""
from __future__ import annotations

from protocols import crypto
from protocols import purse as P
from protocols.apdu import CommandAPDU
from protocols.crypto import Alg
from protocols.pin import PIN_DIGITS
from protocols.errors import CardError, WrongCard
from protocols.profile import GEN2, GEN3, BinaryFile, CardProfile, DFSpec, EF, Item, RecordFile
from protocols.tlv import ber_find, simple_decode

from host.engine import ApduEngine, Response
from host.errors import sw_to_exception
from host.pinpad import check_pad
from host.reader import PinPad
from protocols import pinpad


def check(rsp: Response, *, pin: bool = False, auth: bool = False) -> bytes:
    """The response data, or the typed error for its status word."""
    if rsp.sw != 0x9000:
        raise sw_to_exception(rsp.sw, pin=pin, auth=auth)
    return rsp.data


class SSCard:
    """Commands to a social security card. ``profile`` follows the algorithm the card announces."""

    def __init__(self, engine: ApduEngine) -> None:
        self.engine = engine
        self.profile: CardProfile = GEN2
        self.current_df: DFSpec | None = None
        self._region: tuple[bytes, str] | None = None     # (ATR, region) of the card ID code read last

    @property
    def atr(self) -> bytes:
        return self.engine.atr

    @property
    def alg(self) -> Alg:
        return self.profile.alg

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> Response:
        return self.engine.transmit(CommandAPDU(cla, ins, p1, p2, data, le))

    # --- selection ---------------------------------------------------------------------------------
    def select_df(self, df: str = "SSSE", allow_blocked: bool = False) -> bytes:
        """SELECT by DF name; returns the FCI and adopts the profile of the announced algorithm.

        A blocked application answers 6283 (docs/sources.md §3.1); that is an error unless ``allow_blocked``."""
        spec = self.profile.df(df)
        rsp = self.send(0x00, 0xA4, 0x04, 0x00, spec.aid, 256)
        if rsp.sw == 0x6A82 and df == "SSSE":
            raise WrongCard("the card has no social security application (SSSE)")
        fci = rsp.data if (allow_blocked and rsp.sw == 0x6283) else check(rsp)
        if df == "SSSE":
            prop = ber_find(fci, 0x9F0C) if fci else None
            # No 9F0C (gen1/gen2 cards) means 3DES.
            alg = Alg(prop[2]) if prop and len(prop) == 3 and prop[2] in (1, 3) else Alg.DES3
            self.profile = GEN3 if alg is Alg.SM4 else GEN2
            spec = self.profile.df(df)
        self.current_df = spec
        return fci

    def select_ef(self, ef: EF) -> None:
        check(self.send(0x00, 0xA4, 0x02, 0x00, ef.fid.to_bytes(2, "big")))

    def enter(self, df: str) -> DFSpec:
        """Make ``df`` the current DF (selecting it only when needed)."""
        if self.current_df is None or self.current_df.name != df:
            self.select_df(df)
        assert self.current_df is not None
        return self.current_df

    # --- reading -----------------------------------------------------------------------------------
    def read_record(self, ef: RecordFile, number: int) -> bytes:
        return check(self.send(0x00, 0xB2, number, (ef.sfi << 3) | 0x04, le=256))

    def read_values(self, ef: RecordFile) -> dict[str, str]:
        """Every item of a record file of the current DF, decoded, by item name: one READ RECORD of all
        records (P2 mode 101) where the card supports it, else one READ RECORD by tag per item."""
        # Le = the length the profile expects, so a T=0 card answers at once; a card holding more or less
        # answers 6Cxx and the engine asks again with the length it names.
        expected = sum(2 + it.length for it in ef.items)
        rsp = self.send(0x00, 0xB2, 0x01, (ef.sfi << 3) | 0x05, le=expected if 0 < expected < 256 else 256)
        found: dict[str, bytes] = {}           # item name → its value field
        if rsp.sw == 0x9000:
            try:
                records = simple_decode(rsp.data)
            except ValueError as exc:
                raise CardError(0x6F00, f"{ef.name}: the records do not parse as TLV ({exc})") from None
            # the n-th record of a tag belongs to the n-th item of that tag (a B-TLV template repeats)
            by_tag: dict[int, list[bytes]] = {}
            for tag, value in records:
                by_tag.setdefault(tag, []).append(value)
            for item in ef.items:
                if by_tag.get(item.tag):
                    found[item.name] = by_tag[item.tag].pop(0)
        elif rsp.sw in (0x6A86, 0x6A81, 0x6D00, 0x6B00):
            seen: set[int] = set()
            for number, item in enumerate(ef.items, 1):
                # by tag the first record of each tag, by number the later records of a repeated tag
                first = item.tag not in seen
                seen.add(item.tag)
                rec = self.send(0x00, 0xB2, item.tag if first else number, ef.sfi << 3 | (0 if first else 4), le=256)
                if rec.sw == 0x6A83:
                    continue
                data = check(rec)
                if len(data) >= 2 and data[0] == item.tag and data[1] == len(data) - 2:
                    found[item.name] = data[2:]
        else:
            check(rsp)
        values = {}
        for item in ef.items:
            if item.name in found:
                try:
                    values[item.name] = item.decode_value(found[item.name])
                except ValueError as exc:
                    raise CardError(0x6F00, f"{ef.name} tag {item.tag:02X} ({item.name}): {exc}") from None
        return values

    def region(self) -> str:
        """The issuing region (first 6 digits of the card ID code, EF05 record 1), read once per card."""
        if self._region is not None and self._region[0] == self.atr:
            return self._region[1]
        ssse = self.profile.ssse
        if self.current_df is not ssse:
            self.select_df("SSSE")
        ef05 = self.profile.ssse.ef("EF05")
        assert isinstance(ef05, RecordFile)
        card_id = self.read_item_raw(ef05, ef05.item("card_id")).hex().upper()
        self._region = (self.atr, card_id[:6])
        return card_id[:6]

    def assume_region(self, region: str) -> None:
        """Take ``region`` as this card's issuing region (a blocked application cannot give its card ID code)."""
        self._region = (self.atr, region)

    def read_item_raw(self, ef: RecordFile, item: Item) -> bytes:
        """READ RECORD by record number of ``item`` (its place in the schema); returns the value bytes."""
        rec = self.read_record(ef, ef.items.index(item) + 1)
        if len(rec) < 2 or rec[0] != item.tag or rec[1] != len(rec) - 2:
            raise CardError(0x6F00, f"record for tag {item.tag:02X} is malformed: {rec.hex()}")
        return rec[2:]

    def read_item(self, path: str, item: int | str) -> str:
        """The decoded value of one item, e.g. ``read_item('SSSE/EF05', 'card_number')``, ``('DF03EF19', '79:02')``
        (a B-TLV template's record: its sub-items' values, each followed by ``,``)."""
        df, ef = self.profile.find_file(path)
        if not isinstance(ef, RecordFile):
            raise ValueError(f"{path} is not a record file")
        self.enter(df.name)
        it = ef.item(item) if isinstance(item, int) else ef.lookup(item)
        return self.decode(ef, it, self.read_item_raw(ef, it))

    @staticmethod
    def decode(ef: RecordFile, item: Item, raw: bytes) -> str:
        """``item``'s value as the card holds it; a value the item's layout cannot hold (a B-TLV record whose
        sub-items are not the template's, text that is not GBK) is the card's fault: ``CardError`` 6F00."""
        try:
            return item.decode_value(raw)
        except ValueError as exc:
            raise CardError(0x6F00, f"{ef.name} {ef.address(item)} ({item.name}): {exc}") from None

    def read_cyclic(self, ef: RecordFile, number: int) -> str:
        """Record ``number`` (1 the newest) of a cyclic file: its fields each followed by ``,`` when the profile
        knows its layout, else its bytes in hex."""
        raw = self.read_record(ef, number)
        if ef.layout is None:
            return raw.hex().upper()
        return self.decode(ef, ef.layout, raw)

    def read_file(self, path: str) -> dict[str, str]:
        """Every item of a record file, e.g. ``read_file('SSSE/EF06')`` (see :meth:`read_values`)."""
        df, ef = self.profile.find_file(path)
        if not isinstance(ef, RecordFile):
            raise ValueError(f"{path} is not a record file")
        self.enter(df.name)
        return self.read_values(ef)

    def read_binary(self, ef: BinaryFile) -> bytes:
        """The whole transparent file, in chunks of at most 255 bytes (short APDUs work on every reader)."""
        out = bytearray()
        while len(out) < ef.size:
            n = min(0xFF, ef.size - len(out))
            off = len(out)
            if off == 0:
                rsp = self.send(0x00, 0xB0, 0x80 | ef.sfi, 0x00, le=n)
            else:
                rsp = self.send(0x00, 0xB0, off >> 8, off & 0xFF, le=n)
            if rsp.sw not in (0x9000, 0x6282):
                check(rsp)
            out += rsp.data
            if rsp.sw == 0x6282 or not rsp.data:
                break
        return bytes(out)

    # --- writing -----------------------------------------------------------------------------------
    def write_binary(self, ef: BinaryFile, data: bytes) -> None:
        """UPDATE BINARY ``00 D6`` of ``data`` from offset 0 of ``ef`` (selected by FID), in chunks of at most 240
        bytes (short APDUs work on every reader)."""
        self.select_ef(ef)
        for offset in range(0, len(data), 0xF0):
            check(self.send(0x00, 0xD6, offset >> 8, offset & 0xFF, data[offset:offset + 0xF0]), auth=True)

    def update_parts(self, ef: RecordFile, item: Item, value: str) -> tuple[int, int, bytes]:
        """P1, P2 and data of UPDATE RECORD by number writing ``value`` into ``item``'s record."""
        return ef.items.index(item) + 1, (ef.sfi << 3) | 0x04, item.encode_record(value, self.profile.text_pad)

    def update_item(self, ef: EF, item: Item, value: str) -> None:
        """Plain UPDATE RECORD ``00 DC`` of one item in the current DF (its update condition already met); in a
        cyclic file, APPEND RECORD ``00 E2`` of a new newest record (``item`` is the file's layout); in a
        transparent file, UPDATE BINARY of its whole content (``item`` is ``ef.content``)."""
        if isinstance(ef, BinaryFile):
            self.write_binary(ef, item.encode_value(value))
            return
        if ef.cyclic_records:
            data = item.encode_value(value, self.profile.text_pad)
            check(self.send(0x00, 0xE2, 0x00, ef.sfi << 3, data), auth=True)
            return
        p1, p2, data = self.update_parts(ef, item, value)
        check(self.send(0x00, 0xDC, p1, p2, data), auth=True)

    # --- security ----------------------------------------------------------------------------------
    def get_challenge(self, n: int = 8) -> bytes:
        return check(self.send(0x00, 0x84, 0x00, 0x00, le=n))

    def internal_authenticate(self, data: bytes) -> bytes:
        """``00 88 00 00 10 P ‖ D`` (Le 08): the card's E_SK(D), SK from its IRK and P."""
        return check(self.send(0x00, 0x88, 0x00, 0x00, data, 0x08), auth=True)

    def external_authenticate(self, key_id: int, cryptogram: bytes, vector: bytes) -> None:
        check(self.send(0x00, 0x82, 0x00, key_id, cryptogram + vector), auth=True)

    def verify_pin(self, pin: str) -> None:
        check(self.send(0x00, 0x20, 0x00, 0x00, crypto.pin_to_bcd(pin)), pin=True)

    def pin_tries_left(self) -> int:
        """VERIFY without data (ISO 7816-4 §11.5.6): tries left, 0 when blocked."""
        rsp = self.send(0x00, 0x20, 0x00, 0x00)
        if rsp.sw == 0x6983:
            return 0
        if rsp.sw & 0xFFF0 == 0x63C0:
            return rsp.sw & 0x0F
        check(rsp)
        return self.profile.pin_tries

    def change_pin(self, old: str, new: str) -> None:
        data = crypto.pin_to_bcd(old) + b"\xFF" + crypto.pin_to_bcd(new)
        check(self.send(0x80, 0x5E, 0x01, 0x00, data), pin=True)

    # --- the purse of the current DF (docs/design.md §3.3, protocols.purse) -------------------------------------
    def get_balance(self) -> int:
        """GET BALANCE ``80 5C 00 02 04``: the purse's balance in fen (the PIN verified first)."""
        data = check(self.send(0x80, 0x5C, 0x00, P.P2_PURSE, le=P.BALANCE_LE))
        if len(data) != 4:
            raise CardError(0x6F00, f"GET BALANCE answered {len(data)} bytes, not 4")
        return int.from_bytes(data, "big")

    def initialize_purchase(self, key_index: int, amount: int, terminal: bytes) -> P.InitResponse:
        """INITIALIZE FOR PURCHASE ``80 50 01 02 0B`` key index ‖ amount ‖ terminal number (Le 0F)."""
        data = bytes((key_index,)) + amount.to_bytes(4, "big") + terminal
        rsp = check(self.send(0x80, 0x50, P.P1_PURCHASE, P.P2_PURSE, data, le=P.INIT_LE))
        try:
            return P.InitResponse.parse(rsp)
        except ValueError as exc:
            raise CardError(0x6F00, f"INITIALIZE FOR PURCHASE: {exc}") from None

    def debit_purchase(self, terminal_txn: int, when: bytes, mac1: bytes) -> tuple[bytes, bytes]:
        """DEBIT FOR PURCHASE ``80 54 01 00 0F`` terminal transaction number ‖ date ‖ time ‖ MAC1 (Le 08) →
        (TAC, MAC2)."""
        rsp = check(self.send(0x80, 0x54, P.P1_PURCHASE, 0x00, terminal_txn.to_bytes(4, "big") + when + mac1,
                              le=P.DEBIT_LE))
        if len(rsp) != 8:
            raise CardError(0x6F00, f"DEBIT FOR PURCHASE answered {len(rsp)} bytes, not 8")
        return rsp[:4], rsp[4:]

    def cyclic_records(self, ef: RecordFile) -> list[bytes]:
        """Every record of a cyclic file as the card holds it, newest first, until 6A83."""
        out: list[bytes] = []
        for number in range(1, ef.cyclic_records + 1):
            rsp = self.send(0x00, 0xB2, number, (ef.sfi << 3) | 0x04, le=ef.record_size)
            if rsp.sw == 0x6A83:
                break
            out.append(check(rsp))
        return out

    # --- the same on the reader's PIN pad: the holder types, the host never sees the PIN (docs/serial.md §5) ------
    def verify_pin_on_pad(self, pad: PinPad, *, min_digits: int = PIN_DIGITS, max_digits: int = PIN_DIGITS,
                          timeout: int = pinpad.DEFAULT_TIMEOUT) -> None:
        """VERIFY ``00 20 00 00 Lc PIN`` built by the pad; -32/-31 when the holder is too slow or cancels."""
        rsp = self.engine.pin_pad(pad, pinpad.verify_request(min_digits, max_digits, timeout))
        check_pad(rsp.data + rsp.sw.to_bytes(2, "big"))

    def change_pin_on_pad(self, pad: PinPad, *, min_digits: int = PIN_DIGITS, max_digits: int = PIN_DIGITS,
                          timeout: int = pinpad.DEFAULT_TIMEOUT) -> None:
        """CHANGE PIN ``80 5E 01 00 Lc old ‖ FF ‖ new``: current PIN, new PIN and its confirmation on the pad."""
        rsp = self.engine.pin_pad(pad, pinpad.change_request(min_digits, max_digits, timeout))
        check_pad(rsp.data + rsp.sw.to_bytes(2, "big"))
