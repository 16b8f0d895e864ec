"""The third-generation card's PKI application, as a terminal uses it: the signing certificate and signatures.

The flow (docs/design.md §3.4; the commands are those production code sends, docs/sources.md §7):

1. SELECT ``PKI.社会保障`` and then ``SS.CERT.ADF1`` by name; a card without them (6A82) has no PKI application
   (``WrongCard``, -1, exit 1).
2. The certificate: SELECT 0018, READ BINARY its first bytes for the DER length, then the rest (``00 B0``
   in chunks of at most 0xE0 bytes, as few as the length needs). A file of 00 (or FF) holds none.
3. A signature: READ BINARY 0012 for the signing public key (``CA 40 ‖ X ‖ Y``); GET CHALLENGE (16 bytes) and
   VERIFY ``00 20 01 81 10 SM4_K(R)`` with K the first 16 bytes of SM3 of the PIN as BCD (the PIN never
   travels; a reader's PIN pad cannot make this block, so the PIN is typed on the host); e = SM3(Z ‖ M) with
   Z of that key and the default ID (GM/T 0003.2 §6.1, GM/T 0009 §10); PSO: COMPUTE DIGITAL SIGNATURE
   ``00 2A 9E 9A 20 e 00``. The answer r ‖ s is checked with the key before it is given out: a card whose
   signature does not verify is refused (``CardError`` 6F00).

Card data that does not parse (a certificate that is not SM2 DER, a key file without its header) is
``CardError`` 6F00 naming what was wrong. GmSSL writes a line to standard error when a signature does not
verify; :func:`verify_quietly` keeps it off the terminal.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from host.card import check
from host.engine import ApduEngine, Response
from protocols import commands as C
from protocols import crypto, sm2, x509
from protocols.apdu import CommandAPDU
from protocols.errors import CardError, MalformedFrame, WrongCard

DDF_NAME = b"PKI." + "社会保障".encode("gbk")
ADF_NAME = b"SS.CERT.ADF1"
SIGN_PUBLIC, SIGN_CERT = 0x0012, 0x0018
KEY_FILE_SIZE = 0x42
USER_PIN = 0x81
CHUNK = 0xE0
PAIR = bytes.fromhex("C0020012C2020013")       # the signing pair: public key 0012, private key 0013


@dataclass(frozen=True)
class Signature:
    """A signature the card made, and what it was made over."""

    raw: bytes                  # r ‖ s, as the card answers it
    digest: bytes               # e = SM3(Z ‖ M)
    public_key: bytes           # X ‖ Y of the card's signing key (file 0012)
    uid: bytes = sm2.DEFAULT_ID

    @property
    def der(self) -> bytes:
        """``SEQUENCE { INTEGER r, INTEGER s }`` (GM/T 0009-2012 §7.3)."""
        return sm2.signature_der(self.raw)


@contextlib.contextmanager
def _stderr_closed() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (GmSSL's diagnostics are written there in C)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def verify_quietly(check_signature: Callable[[], bool]) -> bool:
    """``check_signature()`` (an ``sm2`` verification) without GmSSL's line on standard error when it fails."""
    with _stderr_closed():
        return check_signature()


class PkiClient:
    """The PKI application's commands over one card slot's APDU engine."""

    def __init__(self, engine: ApduEngine) -> None:
        self.engine = engine

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> Response:
        return self.engine.transmit(CommandAPDU(cla, ins, p1, p2, data, le))

    def select(self) -> None:
        """Enter the application's ADF; ``WrongCard`` when the card has none (gen1/gen2 cards)."""
        for name in (DDF_NAME, ADF_NAME):
            rsp = self.send(0x00, C.SELECT.ins, 0x04, 0x00, name, 256)
            if rsp.sw in (0x6A82, 0x6A81):
                raise WrongCard("the card has no PKI application (PKI.社会保障 / SS.CERT.ADF1)")
            check(rsp)

    def read_file(self, fid: int, length: int, offset: int = 0) -> bytes:
        """``length`` bytes of a file from ``offset``, READ BINARY in chunks of at most ``CHUNK``."""
        check(self.send(0x00, C.SELECT.ins, 0x02, 0x00, fid.to_bytes(2, "big")))
        out = b""
        while len(out) < length:
            at = offset + len(out)
            want = min(CHUNK, length - len(out))
            chunk = check(self.send(0x00, C.READ_BINARY.ins, at >> 8, at & 0xFF, le=want))
            if not chunk:
                raise CardError(0x6F00, f"file {fid:04X}: READ BINARY at {at} gave no data")
            out += chunk
        return out[:length]

    def public_key(self) -> bytes:
        """The signing public key X ‖ Y (file 0012); b"" when the card has not generated one (all 00)."""
        content = self.read_file(SIGN_PUBLIC, KEY_FILE_SIZE)
        if not content.strip(b"\x00"):
            return b""
        if content[:2] != b"\xCA\x40":
            raise CardError(0x6F00, "file 0012: not CA 40 ‖ X ‖ Y")
        try:
            return sm2.check_public_key(content[2:])
        except ValueError as exc:
            raise CardError(0x6F00, f"file 0012: {exc}") from None

    def certificate(self) -> bytes:
        """The signing certificate's DER (file 0018); b"" when the file holds none."""
        head = self.read_file(SIGN_CERT, 4)
        try:
            total = x509.certificate_length(head)
        except MalformedFrame as exc:
            raise CardError(0x6F00, f"file 0018: {exc}") from None
        if total <= len(head):
            return head[:total]
        return head + self.read_file(SIGN_CERT, total - len(head), offset=len(head))

    def verify_pin(self, pin: str) -> None:
        """GET CHALLENGE (16) and VERIFY ``00 20 01 81 10 SM4_K(R)``; ``WrongPin`` / ``PinBlocked`` on failure."""
        key = crypto.sm3(crypto.pin_to_bcd(pin))[:16]
        challenge = check(self.send(0x00, C.GET_CHALLENGE.ins, 0x00, 0x00, le=16))
        if len(challenge) != 16:
            raise CardError(0x6F00, f"GET CHALLENGE answered {len(challenge)} bytes, not 16")
        block = crypto.ecb_encrypt(crypto.Alg.SM4, key, challenge)
        check(self.send(0x00, C.VERIFY.ins, 0x01, USER_PIN, block), pin=True)

    def pin_tries_left(self) -> int:
        """VERIFY without data: the user PIN's tries left (0 when blocked)."""
        rsp = self.send(0x00, C.VERIFY.ins, 0x01, USER_PIN)
        if rsp.sw & 0xFFF0 == 0x63C0:
            return rsp.sw & 0x0F
        if rsp.sw == 0x6983:
            return 0
        check(rsp)
        raise CardError(0x6F00, "VERIFY without data answered 9000 before any PIN was given")

    def sign_digest(self, digest: bytes) -> bytes:
        """PSO: COMPUTE DIGITAL SIGNATURE of the 32-byte digest; r ‖ s (64 bytes)."""
        raw = check(self.send(0x00, C.PERFORM_SECURITY_OPERATION.ins, 0x9E, 0x9A, digest, 256))
        if len(raw) != sm2.SIGNATURE_SIZE:
            raise CardError(0x6F00, f"the signature has {len(raw)} bytes, not r ‖ s (64)")
        return raw

    def sign(self, message: bytes, pin: str, uid: bytes = sm2.DEFAULT_ID) -> Signature:
        """Sign ``message`` with the card's signing key after the user PIN; the answer checked with the key."""
        public = self.public_key()
        if not public:
            raise CardError(0x6A88, "the card has no signing key (file 0012 is empty)")
        self.verify_pin(pin)
        digest = sm2.message_digest(public, message, uid)
        raw = self.sign_digest(digest)
        if not verify_quietly(lambda: sm2.verify_digest(public, digest, raw)):
            raise CardError(0x6F00, "the card's signature does not verify with its public key (file 0012)")
        return Signature(raw, digest, public, uid)
