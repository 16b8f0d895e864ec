"""The social security card client: typed commands over the APDU engine (notes §3, DESIGN.md §3)."""
from __future__ import annotations

from protocols import crypto
from protocols.apdu import CommandAPDU
from protocols.crypto import Alg
from protocols.errors import CardError, WrongCard
from protocols.profile import GEN2, GEN3, BinaryFile, CardProfile, DFSpec, EF, Item, RecordFile
from protocols.tlv import ber_find

from host.engine import ApduEngine, Response
from host.errors import sw_to_exception


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

        A blocked application answers 6283 (notes §3.1); that is an error unless ``allow_blocked``."""
        spec = self.profile.df(df)
        rsp = self.send(0x00, 0xA4, 0x04, 0x00, spec.aid, 256)
        if rsp.sw == 0x6A82 and df == "SSSE":
            raise WrongCard("the card has no social security application (SSSE)")
        fci = rsp.data if (allow_blocked and rsp.sw == 0x6283) else check(rsp)
        if df == "SSSE":
            prop = ber_find(fci, 0x9F0C) if fci else None
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

    def read_item_raw(self, ef: RecordFile, item: Item) -> bytes:
        """READ RECORD by record number of ``item`` (its place in the schema); returns the value bytes."""
        rec = self.read_record(ef, ef.items.index(item) + 1)
        if len(rec) < 2 or rec[0] != item.tag or rec[1] != len(rec) - 2:
            raise CardError(0x6F00, f"record for tag {item.tag:02X} is malformed: {rec.hex()}")
        return rec[2:]

    def read_item(self, path: str, item: int | str) -> str:
        """The decoded value of one item, e.g. ``read_item('SSSE/EF05', 'card_number')``."""
        df, ef = self.profile.find_file(path)
        if not isinstance(ef, RecordFile):
            raise ValueError(f"{path} is not a record file")
        self.enter(df.name)
        it = ef.item(item)
        return it.decode_value(self.read_item_raw(ef, it))

    def read_file(self, path: str) -> dict[str, str]:
        df, ef = self.profile.find_file(path)
        if not isinstance(ef, RecordFile):
            raise ValueError(f"{path} is not a record file")
        self.enter(df.name)
        return {it.name: it.decode_value(self.read_item_raw(ef, it)) for it in ef.items}

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

    # --- security ----------------------------------------------------------------------------------
    def get_challenge(self, n: int = 8) -> bytes:
        return check(self.send(0x00, 0x84, 0x00, 0x00, le=n))

    def internal_authenticate(self, random: bytes, vector: bytes) -> bytes:
        return check(self.send(0x00, 0x88, 0x00, 0x00, random + vector, 0x08), auth=True)

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
