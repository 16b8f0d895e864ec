"""The PSAM client: key initialise (``BF DE``) and DES/SM4 computations for the card flows, sending what
production terminals send (docs/design.md §3 "PSAM").

    terminal number   00 B0 96 00 06                               (at the MF, after power-on)
    application       00 A4 00 00 02 DF01 (3DES) / DF02 (SM4)
    key initialise    BF DE P1 P2 Lc card ‖ city [‖ province] [‖ process factor]
    encipher          80 FA 00 00 Lc data [Le]         → the whole block(s) (on T=0: 61xx, 00 C0 00 00 xx)
    MAC               80 FA 05 00 Lc IV ‖ padded data [Le] → the last block; keep the left 4 bytes
    purchase MAC1     80 70 00 00 Lc (protocols.purse.PsamInit) [Le] → terminal transaction number ‖ MAC1
    purchase MAC2     80 72 00 00 04 MAC2                     → 9000, or 9302 when the card's MAC2 is wrong
"""
from __future__ import annotations

from protocols import crypto
from protocols.apdu import CommandAPDU
from protocols.codecs import decode_cn
from protocols.crypto import Alg
from protocols.errors import CardError, NoPsam
from protocols.profile import PSAM_APP_FIDS, PSAM_APPS, PSAM_PUBLIC_SFI, PSAM_TERMINAL_SFI, KeySpec

from host.card import check
from host.engine import ApduEngine, Response

_APP_FID = {aid: fid for fid, aid in PSAM_APP_FIDS.items()}


class PsamClient:
    def __init__(self, engine: ApduEngine) -> None:
        self.engine = engine
        self.app: Alg | None = None     # the application selected last; None: the MF
        self._sure = True               # no command but ours reached the PSAM since
        self._terminal: str | None = None

    def powered(self) -> None:
        """The PSAM was (re)powered: it is at its MF again."""
        self.app, self._sure = None, True
        self._terminal = None

    def lost_track(self) -> None:
        """Commands not sent through this client may have selected other files since (another program sharing
        a PC/SC reader between our transactions, raw APDUs): the next key use selects its application again,
        as production terminals do at every call; an MF file read that answers 6A82 selects the MF."""
        self._sure = False

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> Response:
        return self.engine.transmit(CommandAPDU(cla, ins, p1, p2, data, le))

    def terminal_number(self) -> str:
        """EF 0016 by SFI (``00 B0 96 00 06``) at the MF; read once per power-up."""
        if self._terminal is None:
            self._terminal = decode_cn(self._read_at_mf(PSAM_TERMINAL_SFI, 6))
        return self._terminal

    def region(self) -> str:
        """The region the PSAM was issued for: EF 0015 (public data) by SFI, bytes 15-17 (BCD; the emulated
        PSAM's layout, docs/design.md §3 "PSAM")."""
        data = self._read_at_mf(PSAM_PUBLIC_SFI, 17)
        if len(data) < 17:
            raise ValueError(f"PSAM EF 0015 holds {len(data)} bytes; the region is in bytes 15-17")
        return decode_cn(data[14:17])

    def _read_at_mf(self, sfi: int, le: int) -> bytes:
        """READ BINARY of an MF file by SFI. A PSAM another program left in an application (a shared PC/SC
        reader does not reset it at connect) answers 6A82: the MF is selected and the read sent again."""
        selected = self.app is not None and self._sure
        if selected:
            self._select_mf()
        rsp = self.send(0x00, 0xB0, 0x80 | sfi, 0x00, le=le)
        if rsp.sw == 0x6A82 and not selected:
            self._select_mf()
            rsp = self.send(0x00, 0xB0, 0x80 | sfi, 0x00, le=le)
        return check(rsp)

    def _select_mf(self) -> None:
        check(self.send(0x00, 0xA4, 0x00, 0x00, bytes.fromhex("3F00")))
        self.app, self._sure = None, True

    def select_app(self, alg: Alg) -> None:
        if self.app is alg and self._sure:
            return
        rsp = self.send(0x00, 0xA4, 0x00, 0x00, _APP_FID[PSAM_APPS[alg]].to_bytes(2, "big"))
        if rsp.sw == 0x6A82:
            raise NoPsam(f"the PSAM has no {alg.name} application")
        check(rsp)
        self.app, self._sure = alg, True

    def init_key(self, alg: Alg, spec: KeySpec, factors: tuple[bytes, ...], process: bytes = b"") -> None:
        """``BF DE``: the PSAM derives ``spec``'s card key from the factors (lowest level first, as many as
        the key's address has levels), then the process key from ``process`` when given."""
        self.select_app(alg)
        address = spec.psam
        rsp = self.send(0xBF, 0xDE, address.p1, address.p2, b"".join(factors[:address.levels]) + process)
        if rsp.sw == 0x9403:
            raise NoPsam(f"the PSAM has no {spec.name} key ({address}) for {alg.name}")
        check(rsp)

    def encipher(self, data: bytes) -> bytes:
        """``80 FA 00 00``: ECB of ``data`` (whole blocks) under the work key. Sent with Le 00: a T=1 or
        APDU-level link gets the answer at once, a T=0 link by 61xx + GET RESPONSE as production code does."""
        return check(self.send(0x80, 0xFA, 0x00, 0x00, data, le=256))

    def process_encrypt(self, alg: Alg, data: bytes) -> bytes:
        """E_SK(D) of 8 bytes D: DES on 3DES; on SM4 the PSAM enciphers D ‖ 00×8 and the terminal folds."""
        if alg is Alg.SM4:
            return crypto.fold(self.encipher(bytes(data) + bytes(8)))
        return self.encipher(data)

    def init_purchase(self, alg: Alg, data: bytes) -> tuple[int, bytes]:
        """INIT SAM FOR PURCHASE in the application of ``alg``: (terminal transaction number, MAC1)."""
        self.select_app(alg)
        rsp = self.send(0x80, 0x70, 0x00, 0x00, data, le=8)
        if rsp.sw == 0x9403:
            raise NoPsam(f"the PSAM has no purchase key for {alg.name} and this card's key version")
        out = check(rsp)
        if len(out) != 8:
            raise CardError(0x6F00, f"INIT SAM FOR PURCHASE answered {len(out)} bytes, not 8")
        return int.from_bytes(out[:4], "big"), out[4:]

    def credit_purchase(self, mac2: bytes) -> None:
        """CREDIT SAM FOR PURCHASE: the PSAM checks the card's MAC2 (``CardError`` 9302 if wrong)."""
        check(self.send(0x80, 0x72, 0x00, 0x00, mac2))

    def mac(self, alg: Alg, message: bytes) -> bytes:
        """4-byte MAC of ``message`` under the work key: IV zero, the caller's 80 00.. padding."""
        block = crypto.block_size(alg)
        out = check(self.send(0x80, 0xFA, 0x05, 0x00, bytes(block) + crypto.pad80(message, block), le=256))
        return out[:4]
