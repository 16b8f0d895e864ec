"""The terminal's PSAM (implements ``firmware_sim.device.Device``); notes §5, DESIGN.md §3 PSAM.

MF with the "sx1.sh.社会保障" DDF name; EF16 (SFI 16) = terminal number; one application per
algorithm: D15600000590 (3DES) and D15600000591 (SM4, profile choice). ``80 1A`` diversifies the
addressed city-level key with the given factors (P1 = levels << 5 | key type, P2 = index; data =
8 bytes a level, optionally followed by an 8-byte process factor, whose session key is then used);
``80 FA`` P1 00 enciphers, P1 05 MACs (data = IV ‖ message). Answers come as 61xx + GET RESPONSE,
as real PSAMs do. No command returns key material.
"""
from __future__ import annotations

import os

from firmware_sim.card_os import CardStatus, _sw
from firmware_sim.device import SimulatedDevice
from firmware_sim.image import ImageStore
from firmware_sim.psam_image import PsamImage, PsamKey, load_psam
from protocols import crypto
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.codecs import encode_cn
from protocols.crypto import Alg
from protocols.errors import MalformedApdu
from protocols.profile import PSAM_APP_FIDS, PSAM_APPS, PSAM_DDF_NAME, PSAM_TERMINAL_SFI

APPS: dict[bytes, Alg] = {aid: alg for alg, aid in PSAM_APPS.items()}
_OK = _sw(SW.OK)


class PsamOS(SimulatedDevice):
    def __init__(self, image: PsamImage, store: ImageStore | None = None) -> None:
        self.image = image
        self.store = store or ImageStore(None)
        self._reset_volatile()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PsamOS:
        return cls(load_psam(path), ImageStore(path))

    def reload(self) -> None:
        """Take up the image file as another process left it; the session key of the old one is forgotten."""
        self.image = load_psam(self.store.path)  # type: ignore[arg-type]
        self._reset_volatile()

    def _reset_volatile(self) -> None:
        self.app: Alg | None = None
        self.work_key: bytes | None = None
        self.pending = b""

    def process(self, apdu: bytes) -> bytes:
        pending, self.pending = self.pending, b""
        try:
            cmd = CommandAPDU.parse(apdu)
        except MalformedApdu:
            return _sw(SW.WRONG_LENGTH)
        try:
            cla_ins = (cmd.cla, cmd.ins)
            if cla_ins == (0x00, 0xA4):
                return self._select(cmd)
            if cla_ins == (0x00, 0xB0):
                return self._read_binary(cmd)
            if cla_ins == (0x80, 0x1A):
                return self._init(cmd)
            if cla_ins == (0x80, 0xFA):
                return self._compute(cmd)
            if cla_ins == (0x00, 0xC0):
                return self._get_response(cmd, pending)
            if cmd.cla not in (0x00, 0x80):
                return _sw(SW.CLA_NOT_SUPPORTED)
            return _sw(SW.INS_NOT_SUPPORTED)
        except CardStatus as st:
            return st.data + _sw(st.sw)

    def _select(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 == 0x04:
            if cmd.data == PSAM_DDF_NAME:
                self.app, self.work_key = None, None
                return _OK
            if cmd.data in APPS:
                self.app, self.work_key = APPS[cmd.data], None
                return _OK
            raise CardStatus(SW.FILE_NOT_FOUND)
        if cmd.p1 in (0x00, 0x02):
            if len(cmd.data) != 2:
                raise CardStatus(SW.WRONG_LENGTH)
            fid = int.from_bytes(cmd.data, "big")
            if fid == 0x3F00:
                self.app, self.work_key = None, None
                return _OK
            if fid in PSAM_APP_FIDS:
                self.app, self.work_key = APPS[PSAM_APP_FIDS[fid]], None
                return _OK
            raise CardStatus(SW.FILE_NOT_FOUND)
        raise CardStatus(SW.WRONG_P1P2)

    def _read_binary(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x80 | PSAM_TERMINAL_SFI:
            raise CardStatus(SW.FILE_NOT_FOUND if cmd.p1 & 0x80 else SW.NO_CURRENT_EF)
        content = encode_cn(self.image.terminal, 6)
        if cmd.p2 >= len(content):
            raise CardStatus(0x6B00)
        part = content[cmd.p2:]
        le = cmd.le
        if le is None:
            raise CardStatus(SW.WRONG_LENGTH)
        if le < len(part):
            return part[:le] + _OK
        if le > len(part) and le != 256:
            raise CardStatus(0x6C00 | len(part))
        return part + _OK

    def _find_key(self, key_type: int, index: int) -> PsamKey:
        for k in self.image.keys:
            if k.alg is self.app and k.key_type == key_type and k.index == index:
                return k
        raise CardStatus(SW.KEY_INDEX_UNSUPPORTED)

    def _init(self, cmd: CommandAPDU) -> bytes:
        """80 1A: diversify the addressed key with the factors (notes §5.2)."""
        if self.app is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        self.work_key = None
        levels, key_type = cmd.p1 >> 5, cmd.p1 & 0x1F
        n = len(cmd.data)
        if levels == 0 or n not in (8 * levels, 8 * levels + 8):
            raise CardStatus(SW.WRONG_LENGTH)
        key = self._find_key(key_type, cmd.p2).value
        for i in range(levels):
            key = crypto.diversify(self.app, key, cmd.data[8 * i:8 * i + 8])
        if n == 8 * levels + 8:
            key = crypto.session_key(self.app, key, cmd.data[-8:])
        self.work_key = key
        return _OK

    def _compute(self, cmd: CommandAPDU) -> bytes:
        """80 FA: P1 00 encipher (ECB), P1 05 MAC with the IV in front (notes §5.2)."""
        if self.app is None or self.work_key is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        block = crypto.block_size(self.app)
        data = cmd.data
        if cmd.p2 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.p1 == 0x00:
            if not data or len(data) % block:
                raise CardStatus(SW.WRONG_LENGTH)
            # An 8-byte session key (3DES process key) is a single-DES key.
            out = crypto.ecb_encrypt(self.app, self.work_key, data)
        elif cmd.p1 == 0x05:
            if len(data) <= block:
                raise CardStatus(SW.WRONG_LENGTH)
            out = crypto.mac(self.app, self.work_key, data[block:], data[:block])
        else:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.le is not None:
            if cmd.le < len(out) and cmd.le != 256:
                raise CardStatus(0x6C00 | len(out))
            return out + _OK
        self.pending = out
        return _sw(0x6100 | len(out))

    def _get_response(self, cmd: CommandAPDU, pending: bytes) -> bytes:
        if not pending:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        le = cmd.le or 0
        if le != len(pending) and le != 256:
            self.pending = pending
            raise CardStatus(0x6C00 | len(pending))
        return pending + _OK
