"""The third-generation card's PKI application: an SM2 signing key the card makes and keeps, its certificate.

What it answers (docs/design.md §3.4; the commands production code sends, docs/sources.md §7):

* SELECT the DDF ``PKI.社会保障`` (GBK; ``00 A4 04 00 0C 504B492E C9E7BBE1B1A3D5CF``): FCI
  ``6F 14 84 0C <name> 73 04 92 02 33 30`` as a real card answers; then the ADF ``SS.CERT.ADF1`` by name
  (FCI ``6F 0E 84 0C <name>``) or by its FID DF01 (``00 A4 00 00 02 DF01``). In the ADF, SELECT by FID
  (P1 00 or 02) of its files answers a bare 9000: 0012 the signing public key (``CA 40 ‖ X ‖ Y``, 66 bytes,
  all 00 before a key is generated), 0013 the signing private key (never readable), 0014/0015 the encryption
  pair and 0019 the encryption certificate (present, empty: the CA's key management centre loads them in a
  digital envelope, which is not emulated), 0018 the signing certificate (DER, padded with 00 to 2048 bytes).
* READ BINARY ``00 B0 off_hi off_lo Le`` of the current file: 6986 none selected, 6982 a private key, 6B00 an
  offset past the end, 6282 with the rest when Le asks for more.
* GET CHALLENGE ``00 84 00 00 08|10``: 8 or 16 random bytes, good for the next command only.
* VERIFY the user PIN ``00 20 01 81 10 SM4_K(R ‖ 00…)``: K is the first 16 bytes of SM3 of the PIN as BCD, R
  the challenge just taken (16 bytes as [S6] sends it, or 8 bytes padded with 8 zero bytes as [S8] does). A
  wrong block costs a try (63Cx; 6983 when none is left; counted durably before the comparison); without a
  fresh challenge 6984, costing none; no data asks for the tries (63Cx, 9000 once verified, 6983). The PIN
  stays verified until the ADF is left. P2 00 (the administrator PIN) is not held: 6A88.
* PIN DIGEST ``80 C4 01 03 Lc C1 L <PIN BCD> 00``: SM3 of the PIN, as [S6]'s terminal asks to derive K.
* GENERATE KEY PAIR ``80 40 00 00 08 C0 02 00 12 C2 02 00 13``: the signing pair, made on the card, after the
  user PIN; once (6985 when the pair is there). Nothing ever answers the private key.
* EXPORT PUBLIC KEY ``80 C9 82 00 08 C0 02 00 12 C2 02 00 13`` names the pair, then ``80 C9 82 80 Le`` answers
  ``CA 40 ‖ X ‖ Y``.
* PERFORM SECURITY OPERATION: COMPUTE DIGITAL SIGNATURE ``00 2A 9E 9A 20 <e> 00`` (ISO/IEC 7816-8): the SM2
  signature r ‖ s (64 bytes) of the 32-byte digest e = SM3(Z ‖ M) the terminal made (GM/T 0003.2 §6.1;
  GM/T 0016's SKF_ECCSignData signs such a digest too), only with the user PIN verified (6982 otherwise).

Every command checks its place (6985 outside the ADF), P1 P2 (6A86), lengths (6700) and data (6A80) before
the PIN (6982) and the key (6A88). The keys are test keys and the image says so: a real card never lets its
private key out, and here it is in the image only because the image is the card's memory.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

from firmware_sim.apps.base import Application, CardServices, CardStatus, FieldsData
from protocols import commands as C
from protocols import crypto, sm2, x509
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.errors import BadCardImage, MalformedFrame
from protocols.tlv import ber_encode

SECTION = "pki"
DDF_NAME = b"PKI." + "社会保障".encode("gbk")      # 504B492E C9E7BBE1 B1A3D5CF
ADF_NAME = b"SS.CERT.ADF1"
ADF_FID = 0xDF01
DDF_FCI = ber_encode(0x6F, ber_encode(0x84, DDF_NAME) + bytes.fromhex("7304 92023330"))   # as [S6]'s card
ADF_FCI = ber_encode(0x6F, ber_encode(0x84, ADF_NAME))

SIGN_PUBLIC, SIGN_PRIVATE, ENC_PUBLIC, ENC_PRIVATE, SIGN_CERT, ENC_CERT = 0x12, 0x13, 0x14, 0x15, 0x18, 0x19
PRIVATE_FILES = frozenset({SIGN_PRIVATE, ENC_PRIVATE})
KEY_FILE_SIZE = 2 + sm2.PUBLIC_KEY_SIZE          # CA 40 ‖ X ‖ Y
CERT_FILE_SIZE = 2048
FILE_SIZES = {SIGN_PUBLIC: KEY_FILE_SIZE, SIGN_PRIVATE: sm2.PRIVATE_KEY_SIZE, ENC_PUBLIC: KEY_FILE_SIZE,
              ENC_PRIVATE: sm2.PRIVATE_KEY_SIZE, SIGN_CERT: CERT_FILE_SIZE, ENC_CERT: CERT_FILE_SIZE}
PUBLIC_KEY_TAG, PUBLIC_FILE_TAG, PRIVATE_FILE_TAG = 0xCA, 0xC0, 0xC2
PAIRS = ((SIGN_PUBLIC, SIGN_PRIVATE), (ENC_PUBLIC, ENC_PRIVATE))

USER_PIN, ADMIN_PIN = 0x81, 0x00          # VERIFY P2 (P1 01)
PIN_TRIES = 3                             # choice: as the social security PIN (docs/design.md §3.4)
PIN_KEY_SIZE = 16
SIGN_P1P2 = 0x9E9A                        # PSO: COMPUTE DIGITAL SIGNATURE (ISO/IEC 7816-8)
TEST_NOTE = ("TEST ONLY: the PKI application's SM2 key pair is a test key pair (made by the emulated card; a real "
             "card never lets its private key out) and its certificate comes from sscard's test CA")


def pin_key(pin: str) -> bytes:
    """K: the first 16 bytes of SM3 of the PIN as packed BCD (docs/sources.md §7, [S6][S8])."""
    return crypto.sm3(crypto.pin_to_bcd(pin))[:PIN_KEY_SIZE]


def public_key_file(public_key: bytes) -> bytes:
    """What READ BINARY of 0012 and EXPORT PUBLIC KEY answer: ``CA 40 ‖ X ‖ Y`` (the form the key import
    ``80 C2 40 00 46 C0 02 00 14 CA 40 …`` carries, [S6][S8]); all 00 for no key, as [S6]'s terminal checks."""
    return bytes((PUBLIC_KEY_TAG, len(public_key))) + public_key if public_key else bytes(KEY_FILE_SIZE)


@functools.lru_cache(maxsize=64)
def _pair_matches(private_key: bytes, public_key: bytes) -> bool:
    """Whether the private key signs what the public key verifies (an image's keys belong together)."""
    digest = bytes(sm2.DIGEST_SIZE)
    return sm2.verify_digest(public_key, digest, sm2.sign_digest(private_key, digest))


@dataclass
class PkiData(FieldsData):
    """The section ``apps.pki`` of a card image (docs/design.md §3.4)."""

    pin_key: bytes                      # K = SM3(PIN as BCD)[:16]: what the card checks VERIFY with
    pin_tries_left: int
    pin_max_tries: int = PIN_TRIES
    sign_public_key: bytes = b""        # X ‖ Y, empty before GENERATE KEY PAIR
    sign_private_key: bytes = b""       # d; never answered by any command
    sign_certificate: bytes = b""       # DER (file 0018), empty before issuance writes it
    note: str = TEST_NOTE

    FIELDS: ClassVar[tuple[str, ...]] = ("note", "pin_key", "pin_tries_left", "pin_max_tries", "sign_public_key",
                                         "sign_private_key", "sign_certificate")

    @classmethod
    def new(cls, pin: str) -> PkiData:
        """A fresh application: the user PIN set, no key pair, no certificate."""
        return cls(pin_key=pin_key(pin), pin_tries_left=PIN_TRIES)

    def check(self, where: str = SECTION) -> None:
        """``BadCardImage`` naming the first field that breaks its rule (never a key's value)."""
        def bad(name: str, why: str) -> BadCardImage:
            return BadCardImage(f"{where}.{name}: {why}")

        if not isinstance(self.note, str) or not self.note.startswith("TEST ONLY"):
            raise bad("note", "must start with TEST ONLY: the emulated PKI application holds test keys only")
        if len(self.pin_key) != PIN_KEY_SIZE:
            raise bad("pin_key", f"expected {PIN_KEY_SIZE} bytes (the first half of SM3 of the PIN)")
        if not (_int(self.pin_max_tries) and 1 <= self.pin_max_tries <= 15):
            raise bad("pin_max_tries", "not in 1..15 (63Cx counts at most 15)")
        if not (_int(self.pin_tries_left) and 0 <= self.pin_tries_left <= self.pin_max_tries):
            raise bad("pin_tries_left", "not in 0..pin_max_tries")
        if bool(self.sign_public_key) != bool(self.sign_private_key):
            raise bad("sign_private_key" if self.sign_public_key else "sign_public_key",
                      "a key pair has both halves, or neither before GENERATE KEY PAIR")
        if self.sign_public_key:
            try:
                sm2.check_public_key(self.sign_public_key)
            except ValueError as exc:
                raise bad("sign_public_key", str(exc)) from None
            try:
                sm2.check_private_key(self.sign_private_key)
            except ValueError as exc:
                raise bad("sign_private_key", str(exc)) from None
            if not _pair_matches(self.sign_private_key, self.sign_public_key):
                raise bad("sign_private_key", "not the private half of sign_public_key")
        if self.sign_certificate:
            if len(self.sign_certificate) > CERT_FILE_SIZE:
                raise bad("sign_certificate", f"longer than its file ({CERT_FILE_SIZE} bytes)")
            try:
                cert = x509.parse(self.sign_certificate)
            except MalformedFrame as exc:
                raise bad("sign_certificate", f"not an SM2 certificate ({exc})") from None
            if cert.public_key != self.sign_public_key:
                raise bad("sign_certificate", "certifies another key than sign_public_key")

    def file(self, fid: int) -> bytes:
        """A readable file's content (the private-key files are never read)."""
        if fid == SIGN_PUBLIC:
            return public_key_file(self.sign_public_key)
        if fid == SIGN_CERT:
            return self.sign_certificate.ljust(CERT_FILE_SIZE, b"\x00")
        return bytes(FILE_SIZES[fid])          # 0014, 0019: the encryption pair's files, empty




def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(data: bytes) -> tuple[int, int]:
    """``C0 02 <public FID> C2 02 <private FID>`` (80 40 and 80 C9 82 00): 6700 not 8 bytes, 6A80 another form,
    6A88 a pair the application does not have."""
    if len(data) != 8:
        raise CardStatus(SW.WRONG_LENGTH)
    if data[0] != PUBLIC_FILE_TAG or data[1] != 2 or data[4] != PRIVATE_FILE_TAG or data[5] != 2:
        raise CardStatus(SW.WRONG_DATA)
    pair = (int.from_bytes(data[2:4], "big"), int.from_bytes(data[6:8], "big"))
    if pair not in PAIRS:
        raise CardStatus(SW.REF_NOT_FOUND)
    return pair


_DDF, _ADF = "DDF", "ADF"


class PkiApplication(Application[PkiData]):
    """One selection of the PKI application: its DDF, then its ADF (see the module docstring)."""

    section = SECTION
    data_type = PkiData
    commands = {c.ins: c for c in (C.READ_BINARY, C.GET_CHALLENGE, C.VERIFY, C.PIN_DIGEST, C.GENERATE_KEY_PAIR,
                                   C.EXPORT_PUBLIC_KEY, C.PERFORM_SECURITY_OPERATION)}

    def __init__(self) -> None:
        self.node = _DDF
        self.ef: int | None = None
        self.pin_ok = False
        self.challenge: bytes | None = None
        self.export: tuple[int, int] | None = None      # the pair 80 C9 82 00 named

    @staticmethod
    def names(data: PkiData) -> tuple[bytes, ...]:
        return (DDF_NAME, ADF_NAME)

    def _enter(self, node: str) -> None:
        self.node, self.ef, self.pin_ok, self.export = node, None, False, None

    def select(self, data: PkiData, name: bytes) -> bytes:
        self._enter(_ADF if name == ADF_NAME else _DDF)
        return ADF_FCI if name == ADF_NAME else DDF_FCI

    def select_file(self, data: PkiData, cmd: CommandAPDU, card: CardServices) -> bytes | None:
        """SELECT by FID inside the application: the ADF (DF01) from the DDF, a file from the ADF. The MF, a
        name, or another P1 go to the card OS (ending the selection); an FID the application lacks is 6A82."""
        self.challenge = None
        if cmd.p1 not in (0x00, 0x02) or cmd.p2 not in (0x00, 0x0C) or len(cmd.data) != 2:
            return None
        fid = int.from_bytes(cmd.data, "big")
        if fid == 0x3F00:
            return None
        if self.node == _DDF and fid == ADF_FID:
            self._enter(_ADF)
            return b"\x90\x00" if cmd.p2 == 0x0C else card.offer(ADF_FCI, cmd.le)
        if self.node == _ADF and fid in FILE_SIZES:
            self.ef = fid
            return b"\x90\x00"
        raise CardStatus(SW.FILE_NOT_FOUND)

    def process(self, data: PkiData, cmd: CommandAPDU, card: CardServices) -> bytes:
        challenge, self.challenge = self.challenge, None      # a challenge serves exactly one command
        if cmd.ins == C.GET_CHALLENGE.ins:
            return self._get_challenge(cmd, card)
        if cmd.ins == C.READ_BINARY.ins:
            return self._read_binary(data, cmd)
        if cmd.ins == C.PIN_DIGEST.ins:
            return self._pin_digest(cmd, card)
        if self.node != _ADF:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.ins == C.VERIFY.ins:
            return self._verify(data, cmd, card, challenge)
        if cmd.ins == C.GENERATE_KEY_PAIR.ins:
            return self._generate(data, cmd, card)
        if cmd.ins == C.EXPORT_PUBLIC_KEY.ins:
            return self._export(data, cmd, card)
        return self._sign(data, cmd, card)

    # --- files and challenges --------------------------------------------------------------------------------
    def _get_challenge(self, cmd: CommandAPDU, card: CardServices) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.data or cmd.le not in (8, 16):
            raise CardStatus(SW.WRONG_LENGTH)
        self.challenge = card.random(cmd.le)
        return self.challenge + b"\x90\x00"

    def _read_binary(self, data: PkiData, cmd: CommandAPDU) -> bytes:
        """Offset P1 P2 (b8 of P1 clear) in the current file; the files have no short identifiers (6A82)."""
        if cmd.data or cmd.le is None:
            raise CardStatus(SW.WRONG_LENGTH)
        if cmd.p1 & 0x80:
            raise CardStatus(SW.FILE_NOT_FOUND)
        if self.ef is None:
            raise CardStatus(SW.NO_CURRENT_EF)
        if self.ef in PRIVATE_FILES:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        content = data.file(self.ef)
        offset = (cmd.p1 << 8) | cmd.p2
        if offset >= len(content):
            raise CardStatus(0x6B00)
        chunk = content[offset:offset + cmd.le]
        if cmd.le > len(chunk) and cmd.le not in (256, 65536):
            return chunk + b"\x62\x82"          # end of file reached before Le bytes
        return chunk + b"\x90\x00"

    # --- the user PIN --------------------------------------------------------------------------------------
    def _pin_digest(self, cmd: CommandAPDU, card: CardServices) -> bytes:
        """``80 C4 01 03 Lc C1 L <PIN BCD>``: SM3 of the PIN (32 bytes); it checks nothing and costs no try."""
        if cmd.p1 != 0x01 or cmd.p2 != 0x03:
            raise CardStatus(SW.WRONG_P1P2)
        body = cmd.data
        if len(body) < 3 or body[1] != len(body) - 2:
            raise CardStatus(SW.WRONG_LENGTH)
        if body[0] != 0xC1 or len(body) - 2 > 8:
            raise CardStatus(SW.WRONG_DATA)
        return card.offer(crypto.sm3(body[2:]), cmd.le)

    def _verify(self, data: PkiData, cmd: CommandAPDU, card: CardServices, challenge: bytes | None) -> bytes:
        if cmd.p1 != 0x01:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.p2 != USER_PIN:
            raise CardStatus(SW.REF_NOT_FOUND)          # the administrator PIN (P2 00) is not held
        if not cmd.data:                                # ISO/IEC 7816-4 §11.5.6: the tries left
            if data.pin_tries_left == 0:
                raise CardStatus(SW.AUTH_BLOCKED)
            return b"\x90\x00" if self.pin_ok else (0x63C0 | data.pin_tries_left).to_bytes(2, "big")
        if len(cmd.data) != 16:
            raise CardStatus(SW.WRONG_LENGTH)
        self.pin_ok = False
        if data.pin_tries_left == 0:
            raise CardStatus(SW.AUTH_BLOCKED)
        if challenge is None:
            raise CardStatus(SW.DATA_INVALID)
        expected = crypto.ecb_encrypt(crypto.Alg.SM4, data.pin_key, challenge.ljust(16, b"\x00"))
        data.pin_tries_left -= 1             # counted and written before the comparison
        card.persist()
        if not crypto.equal(expected, cmd.data):
            raise CardStatus(SW.AUTH_BLOCKED if data.pin_tries_left == 0 else 0x63C0 | data.pin_tries_left)
        data.pin_tries_left = data.pin_max_tries
        card.persist()
        self.pin_ok = True
        return b"\x90\x00"

    # --- keys and signatures -------------------------------------------------------------------------------
    def _generate(self, data: PkiData, cmd: CommandAPDU, card: CardServices) -> bytes:
        """``80 40 00 00 08 C0 02 00 12 C2 02 00 13``: the signing pair, on the card, once; 9000 and no data."""
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        if _pair(cmd.data) != PAIRS[0]:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)    # the encryption pair comes from the CA
        if not self.pin_ok:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        if data.sign_public_key:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)    # a pair once made stays (its certificate names it)
        data.sign_private_key, data.sign_public_key = sm2.generate_keypair()
        card.persist()
        return b"\x90\x00"

    def _export(self, data: PkiData, cmd: CommandAPDU, card: CardServices) -> bytes:
        """``80 C9 82 00 08 <pair>`` names the pair; ``80 C9 82 80 Le`` answers its public key ``CA 40 ‖ X ‖ Y``."""
        if cmd.p1 != 0x82 or cmd.p2 not in (0x00, 0x80):
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.p2 == 0x00:
            self.export = _pair(cmd.data)
            return b"\x90\x00"
        if cmd.data:
            raise CardStatus(SW.WRONG_LENGTH)
        if self.export is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        public = data.sign_public_key if self.export == PAIRS[0] else b""
        if not public:
            raise CardStatus(SW.REF_NOT_FOUND)
        return card.reply(public_key_file(public), cmd.le)

    def _sign(self, data: PkiData, cmd: CommandAPDU, card: CardServices) -> bytes:
        """PSO: COMPUTE DIGITAL SIGNATURE ``00 2A 9E 9A 20 <e>``: r ‖ s under the signing key (0013)."""
        if (cmd.p1 << 8) | cmd.p2 != SIGN_P1P2:
            raise CardStatus(SW.WRONG_P1P2)
        if len(cmd.data) != sm2.DIGEST_SIZE:
            raise CardStatus(SW.WRONG_LENGTH)
        if not self.pin_ok:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        if not data.sign_private_key:
            raise CardStatus(SW.REF_NOT_FOUND)
        return card.offer(sm2.sign_digest(data.sign_private_key, cmd.data), cmd.le)
