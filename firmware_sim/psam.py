"""The terminal's PSAM (implements ``firmware_sim.device.Device``); docs/design.md §3 "PSAM".

Files: the MF (``00 A4 00 00 00``, FID 3F00 or the "sx1.sh.社会保障" DDF name) holds EF 0015 (public data:
the PSAM serial …; production code reads 15 bytes) and EF 0016 (terminal number, 6 bytes BCD), readable by
file ID + READ BINARY and by SFI (``00 B0 95 …``, ``00 B0 96 00 06``); one application per algorithm,
DF01 = D15600000590 (3DES) and DF02 = D15600000591 (SM4, choice).

Key initialise, ``80 1A`` or the vendor form ``BF DE`` (same meaning)::

    P1 = levels (b8–b6) ‖ key usage (b5–b1)   P2 = key index
    data = factor(level 1) ‖ … ‖ factor(level n) [‖ process factor]      lowest level (the card) first

The key at (P1, P2) is stored at the level its P1 implies; the factors are applied from the highest level
down, then the optional process factor P gives the work key SK = E_K(P). ``80 FA`` P1 00 enciphers
(ECB), P1 05 computes a CBC-MAC with the IV in front of the data; the caller pads, and the answer is the
whole last block via 61xx + GET RESPONSE (callers keep the left 4 bytes of a MAC, and fold an SM4 block
for an authentication). A key is used only for its usage: 6 MAC, 7 encryption, 8 both. No command
returns key material.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from firmware_sim.card_os import CardStatus, _sw
from firmware_sim.device import SimulatedDevice
from firmware_sim.image import ImageStore
from firmware_sim.psam_image import PsamImage, PsamKey, load_psam
from protocols import commands as C
from protocols import crypto
from protocols import purse as P
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.codecs import encode_cn
from protocols.crypto import Alg
from protocols.errors import MalformedApdu
from protocols.profile import (
    PSAM_APP_FIDS, PSAM_APPS, PSAM_DDF_NAME, PSAM_PUBLIC_SFI, PSAM_TERMINAL_SFI, USAGE_ENCRYPT, USAGE_MAC,
    USAGE_MAC_ENCRYPT, USAGE_PURCHASE,
)

APPS: dict[bytes, Alg] = {aid: alg for alg, aid in PSAM_APPS.items()}


def _terminal_bytes(terminal: str) -> bytes:
    """The terminal number (EF 0016) as the 6 bytes MAC1 covers."""
    return encode_cn(terminal, 6)
_OK = _sw(SW.OK)
_MF = 0x3F00
_FILE_BY_FID = {0x0015: PSAM_PUBLIC_SFI, 0x0016: PSAM_TERMINAL_SFI}
_MAY_ENCIPHER = frozenset({USAGE_ENCRYPT, USAGE_MAC_ENCRYPT})
_MAY_MAC = frozenset({USAGE_MAC, USAGE_MAC_ENCRYPT})
_KEEP_PURCHASE = frozenset({C.CREDIT_SAM_FOR_PURCHASE.ins, C.GET_RESPONSE.ins})


class PsamOS(SimulatedDevice):
    image: PsamImage

    def __init__(self, image: PsamImage, store: ImageStore | None = None) -> None:
        self.image = image
        self.store = store or ImageStore(None)
        self._handlers: dict[int, Callable[[CommandAPDU], bytes]] = {
            C.SELECT.ins: self._select, C.READ_BINARY.ins: self._read_binary, C.PSAM_INIT.ins: self._init,
            C.PSAM_INIT_VENDOR.ins: self._init, C.PSAM_COMPUTE.ins: self._compute,
            C.INIT_SAM_FOR_PURCHASE.ins: self._init_sam_purchase,
            C.CREDIT_SAM_FOR_PURCHASE.ins: self._credit_sam_purchase,
        }
        # Card keys already derived, by (stored key, factors): the same card's next INIT skips the
        # diversification. Holds only what the stored keys give anyway; bounded.
        self._derived: dict[tuple[Alg, bytes, bytes], bytes] = {}
        self._reset_volatile()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PsamOS:
        return cls(load_psam(os.fspath(path)), ImageStore(os.fspath(path)))

    def reload(self) -> None:
        """Take up the image file as another process left it; the session key of the old one is forgotten."""
        self.image = load_psam(self.store.path)  # type: ignore[arg-type]  # a store that reloads has a path
        self._reset_volatile()

    def _reset_volatile(self) -> None:
        self.app: Alg | None = None
        self.ef_sfi: int | None = None     # the current EF of the MF (0015 or 0016), by its SFI
        self.work_key: bytes | None = None
        self.work_usage = 0
        self.pending = b""
        self.purchase: tuple[Alg, bytes, int] | None = None   # (algorithm, SESPK, amount) awaiting MAC2

    def process(self, apdu: bytes) -> bytes:
        pending, self.pending = self.pending, b""
        try:
            cmd = CommandAPDU.parse(apdu)
        except MalformedApdu:
            return _sw(SW.WRONG_LENGTH)
        if cmd.ins not in _KEEP_PURCHASE:
            self.purchase = None          # MAC2 is checked right after its MAC1, or not at all
        try:
            command = C.PSAM_BY_INS.get(cmd.ins)
            if command is not None and cmd.cla in command.clas:
                if command is C.GET_RESPONSE:
                    return self._get_response(cmd, pending)
                return self._handlers[cmd.ins](cmd)
            if cmd.cla not in C.PSAM_CLAS:
                return _sw(SW.CLA_NOT_SUPPORTED)
            return _sw(SW.INS_NOT_SUPPORTED)
        except CardStatus as st:
            return st.data + _sw(st.sw)
        except (ValueError, KeyError, IndexError):
            return _sw(SW.NO_PRECISE_DIAGNOSIS)

    # --- files ---------------------------------------------------------------------------------------
    def _enter(self, app: Alg | None) -> bytes:
        self.app, self.ef_sfi, self.work_key, self.purchase = app, None, None, None
        return _OK

    def _select(self, cmd: CommandAPDU) -> bytes:
        if cmd.p2 not in (0x00, 0x0C):
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.p1 == 0x04:
            if cmd.data == PSAM_DDF_NAME:
                return self._enter(None)
            if cmd.data in APPS:
                return self._enter(APPS[cmd.data])
            raise CardStatus(SW.FILE_NOT_FOUND)
        if cmd.p1 not in (0x00, 0x02):
            raise CardStatus(SW.WRONG_P1P2)
        if not cmd.data and cmd.p1 == 0x00:       # 00 A4 00 00 00: the MF
            return self._enter(None)
        if len(cmd.data) != 2:
            raise CardStatus(SW.WRONG_LENGTH)
        fid = int.from_bytes(cmd.data, "big")
        if fid == _MF and cmd.p1 == 0x00:
            return self._enter(None)
        if fid in PSAM_APP_FIDS and cmd.p1 == 0x00:
            return self._enter(APPS[PSAM_APP_FIDS[fid]])
        if fid in _FILE_BY_FID and self.app is None:
            self.ef_sfi = _FILE_BY_FID[fid]
            return _OK
        raise CardStatus(SW.FILE_NOT_FOUND)

    def _content(self, sfi: int) -> bytes:
        if sfi == PSAM_TERMINAL_SFI:
            return encode_cn(self.image.terminal, 6)
        return self.image.public_data()

    def _read_binary(self, cmd: CommandAPDU) -> bytes:
        if cmd.data:
            raise CardStatus(SW.WRONG_LENGTH)
        if cmd.p1 & 0x80:
            sfi, offset = cmd.p1 & 0x1F, cmd.p2
            if cmd.p1 & 0x60 or sfi not in (PSAM_PUBLIC_SFI, PSAM_TERMINAL_SFI) or self.app is not None:
                raise CardStatus(SW.FILE_NOT_FOUND)
            self.ef_sfi = sfi
        else:
            if self.ef_sfi is None:
                raise CardStatus(SW.NO_CURRENT_EF)
            sfi, offset = self.ef_sfi, (cmd.p1 << 8) | cmd.p2
        content = self._content(sfi)
        if offset >= len(content):
            raise CardStatus(0x6B00)
        part = content[offset:]
        le = cmd.le
        if le is None:
            raise CardStatus(SW.WRONG_LENGTH)
        if le < len(part):
            return part[:le] + _OK
        if le > len(part) and le != 256:
            raise CardStatus(0x6C00 | len(part))
        return part + _OK

    # --- key initialise and compute -------------------------------------------------------------------
    def _find_key(self, p1: int, index: int) -> PsamKey:
        for k in self.image.keys:
            if k.alg is self.app and k.p1 == p1 and k.index == index:
                return k
        raise CardStatus(SW.KEY_INDEX_UNSUPPORTED)

    def _init(self, cmd: CommandAPDU) -> bytes:
        """``80 1A`` / ``BF DE``: diversify the addressed key with the factors, then the process factor."""
        if self.app is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        self.work_key = None
        levels = cmd.p1 >> 5
        n = len(cmd.data)
        if levels == 0 or n not in (8 * levels, 8 * levels + 8):
            raise CardStatus(SW.WRONG_LENGTH)
        stored = self._find_key(cmd.p1, cmd.p2)
        key = self._derive(stored.value, cmd.data[:8 * levels])
        if n == 8 * levels + 8:
            key = crypto.process_key(self.app, key, cmd.data[-8:])
        self.work_key, self.work_usage = key, cmd.p1 & 0x1F
        return _OK

    def _derive(self, root: bytes, factors: bytes) -> bytes:
        """``root`` diversified by ``factors`` (8 bytes each, lowest level first)."""
        assert self.app is not None
        cache_key = (self.app, root, factors)
        key = self._derived.get(cache_key)
        if key is None:
            if len(self._derived) >= 64:
                self._derived.clear()
            key = crypto.derive(self.app, root, [factors[i:i + 8] for i in range(0, len(factors), 8)])
            self._derived[cache_key] = key
        return key

    def _compute(self, cmd: CommandAPDU) -> bytes:
        """``80 FA``: P1 00 encipher (ECB), P1 05 CBC-MAC with the IV in front; data a whole number of blocks."""
        if self.app is None or self.work_key is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.p2 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        block = crypto.block_size(self.app)
        data = cmd.data
        if cmd.p1 == 0x00:
            if self.work_usage not in _MAY_ENCIPHER:
                raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
            if not data or len(data) % block:
                raise CardStatus(SW.WRONG_LENGTH)
            out = crypto.ecb_encrypt(self.app, self.work_key, data)
        elif cmd.p1 == 0x05:
            if self.work_usage not in _MAY_MAC:
                raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
            if len(data) <= block or len(data) % block:
                raise CardStatus(SW.WRONG_LENGTH)
            out = crypto.cbc_mac_block(self.app, self.work_key, data[block:], data[:block])
        else:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.le is not None:
            if cmd.le < len(out) and cmd.le != 256:
                raise CardStatus(0x6C00 | len(out))
            return out + _OK
        self.pending = out
        return _sw(0x6100 | (len(out) & 0xFF))

    # --- purchase (protocols.purse; the PBOC PSAM's MAC1 and MAC2 commands) -----------------------------
    def _init_sam_purchase(self, cmd: CommandAPDU) -> bytes:
        """``80 70 00 00 Lc`` card random ‖ offline counter ‖ amount ‖ type ‖ date ‖ time ‖ key version ‖
        algorithm id ‖ factors (card ‖ city) → terminal transaction number (4) ‖ MAC1 (4).

        The purchase key is the one of usage 2 whose index is the card's key version, with as many levels as
        factors came (choice). The transaction number counts every MAC1 given and is written to the image
        before the answer leaves the PSAM, so no number serves two purchases."""
        if self.app is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        self.purchase = None
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        try:
            init = P.PsamInit.parse(cmd.data)
            P.check_datetime(init.when)
        except ValueError:
            raise CardStatus(SW.WRONG_LENGTH if len(cmd.data) < P.PsamInit.HEAD + 8 or
                             (len(cmd.data) - P.PsamInit.HEAD) % 8 else SW.WRONG_DATA) from None
        if init.txn_type != P.PURCHASE_TYPE or P.ALG_IDS[self.app] != init.alg_id:
            raise CardStatus(SW.WRONG_DATA)
        stored = self._find_key((len(init.factors) << 5) | USAGE_PURCHASE, init.key_version)
        if self.image.transaction_number > 0xFFFFFFFF - 1:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        txn = self.image.transaction_number
        dpk = self._derive(stored.value, b"".join(init.factors))
        sespk = P.session_key(self.app, dpk, init.random, init.offline_counter, txn)
        mac = P.mac1(self.app, sespk, init.amount, _terminal_bytes(self.image.terminal), init.when)
        self.image.transaction_number = txn + 1
        try:
            self.store.save(self.image.to_json())
        except OSError:
            self.image.transaction_number = txn
            raise CardStatus(SW.MEMORY_FAILURE) from None
        self.purchase = (self.app, sespk, init.amount)
        out = txn.to_bytes(4, "big") + mac
        return self._answer(out, cmd.le)

    def _credit_sam_purchase(self, cmd: CommandAPDU) -> bytes:
        """``80 72 00 00 04`` MAC2 → 9000 if the card's MAC2 is right, else 9302; once per INIT SAM FOR PURCHASE
        (6901 without one)."""
        purchase, self.purchase = self.purchase, None
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        if len(cmd.data) != 4:
            raise CardStatus(SW.WRONG_LENGTH)
        if purchase is None or purchase[0] is not self.app:
            raise CardStatus(SW.INVALID_STATE)
        alg, sespk, amount = purchase
        if not crypto.equal(P.mac2(alg, sespk, amount), cmd.data):
            raise CardStatus(SW.MAC_INVALID)
        return _OK

    def _answer(self, out: bytes, le: int | None) -> bytes:
        if le is not None:
            if le < len(out) and le != 256:
                raise CardStatus(0x6C00 | len(out))
            return out + _OK
        self.pending = out
        return _sw(0x6100 | (len(out) & 0xFF))

    def _get_response(self, cmd: CommandAPDU, pending: bytes) -> bytes:
        if not pending:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        le = cmd.le or 0
        if le < len(pending) and le != 256:
            self.pending = pending[le:] if le else pending
            if not le:
                raise CardStatus(0x6C00 | len(pending))
            return pending[:le] + _sw(0x6100 | len(self.pending))
        if le > len(pending) and le != 256:
            self.pending = pending
            raise CardStatus(0x6C00 | len(pending))
        return pending + _OK
