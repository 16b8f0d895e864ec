"""The PSAM client: key diversification and DES/SM4 computations for the card flows (notes §5.2)."""
from __future__ import annotations

from protocols import crypto
from protocols.apdu import CommandAPDU
from protocols.codecs import decode_cn
from protocols.crypto import Alg
from protocols.errors import NoPsam
from protocols.profile import PSAM_APPS, PSAM_DDF_NAME, PSAM_TERMINAL_SFI, psam_key_for

from host.card import check
from host.engine import ApduEngine, Response



class PsamClient:
    def __init__(self, engine: ApduEngine) -> None:
        self.engine = engine
        self.app: Alg | None = None

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> Response:
        return self.engine.transmit(CommandAPDU(cla, ins, p1, p2, data, le))

    def terminal_number(self) -> str:
        """EF16, read with ``00 B0 96 00 06`` after selecting the MF DDF (notes §5.1)."""
        check(self.send(0x00, 0xA4, 0x04, 0x00, PSAM_DDF_NAME))
        self.app = None
        return decode_cn(check(self.send(0x00, 0xB0, 0x80 | PSAM_TERMINAL_SFI, 0x00, le=6)))

    def select_app(self, alg: Alg) -> None:
        if self.app is alg:
            return
        rsp = self.send(0x00, 0xA4, 0x04, 0x00, PSAM_APPS[alg])
        if rsp.sw == 0x6A82:
            raise NoPsam(f"the PSAM has no {alg.name} application")
        check(rsp)
        self.app = alg

    def init_key(self, alg: Alg, key_name: str, card_factor: bytes, process: bytes = b"") -> None:
        """80 1A: diversify the PSAM's city key ``key_name`` for this card (1 level), optionally with a process factor."""
        self.select_app(alg)
        spec = psam_key_for(key_name)
        rsp = self.send(0x80, 0x1A, 0x20 | spec.key_type, spec.index, card_factor + process)
        if rsp.sw == 0x9403:
            raise NoPsam(f"the PSAM has no {key_name} key for {alg.name}")
        check(rsp)

    def encipher(self, data: bytes) -> bytes:
        return check(self.send(0x80, 0xFA, 0x00, 0x00, data))

    def mac(self, alg: Alg, iv: bytes, message: bytes) -> bytes:
        block = crypto.block_size(alg)
        return check(self.send(0x80, 0xFA, 0x05, 0x00, iv.ljust(block, b"\x00") + message))

    def auth_cryptogram(self, alg: Alg, key_name: str, card_factor: bytes, random: bytes, vector: bytes) -> bytes:
        """What the card computes in an authentication (DESIGN §3), computed in the PSAM."""
        self.init_key(alg, key_name, card_factor, vector)
        block = crypto.block_size(alg)
        return self.encipher(random.ljust(block, b"\x00"))[:8]
