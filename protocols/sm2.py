"""SM2 signatures as the PKI application uses them (GM/T 0003.2-2012, GM/T 0009-2012), over gmssl-pyx.

`cryptography` has no SM2, so the elliptic-curve work is done by gmssl-pyx (GmSSL 3.2.0 as a C extension, its
wheel statically linked; chosen for speed and upkeep, figures in docs/design.md §3.4 and benchmarks/sm2.py). This
module is the only place that library is called, so the rest of sscard sees plain bytes:

* keys: the private key d is 32 bytes, the public key X ‖ Y 64 bytes (GM/T 0009-2012 §7.1, without the 04 of
  the uncompressed point);
* the message digest: e = SM3(Z ‖ M) with Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) (GM/T 0003.2-2012 §5.5
  and §6.1 steps A1–A2; GM/T 0009-2012 §8.1–8.2), ID the default 1234567812345678 (GM/T 0009-2012 §10);
* the signature: r ‖ s, 64 bytes, as a card answers it, or DER ``SEQUENCE { INTEGER r, INTEGER s }``
  (GM/T 0009-2012 §7.3) as certificates and files carry it.

Inputs are checked here before the library sees them (a public key on the curve, GM/T 0003.1-2012 §6.2; d in
[1, n − 2]; r and s in [1, n − 1]), so a bad input is a ``ValueError`` or a False, never a library error. GmSSL
itself writes a diagnostic line to standard error when a well-formed signature does not verify; callers that
show output to people keep that out of sight (``host.pki``).
"""
from __future__ import annotations

from gmssl_pyx import gmsslext as gmssl  # the C extension; its stub types the functions

from protocols import asn1
from protocols.crypto import sm3
from protocols.errors import MalformedFrame

# The SM2 curve (GM/T 0003.5-2012 §2; GB/T 32918.5-2017): y² = x³ + ax + b over F_p, base point G of order n.
P = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
A = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
B = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
GX = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0

DEFAULT_ID = b"1234567812345678"      # GM/T 0009-2012 §10: the user identity when none is agreed
PRIVATE_KEY_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, DIGEST_SIZE = 32, 64, 64, 32


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def check_public_key(public_key: bytes) -> bytes:
    """``public_key`` (X ‖ Y) when it is a point of the curve (GM/T 0003.1-2012 §6.2 b–c); ``ValueError``."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an SM2 public key is X ‖ Y, 64 bytes, not {len(public_key)}")
    x, y = _int(public_key[:32]), _int(public_key[32:])
    if x >= P or y >= P or (y * y - (x * x * x + A * x + B)) % P:
        raise ValueError("not a point of the SM2 curve")
    return public_key


def check_private_key(private_key: bytes) -> bytes:
    """``private_key`` when it is 32 bytes with d in [1, n − 2] (GM/T 0003.1-2012 §6.1); ``ValueError``."""
    if len(private_key) != PRIVATE_KEY_SIZE or not 1 <= _int(private_key) <= N - 2:
        raise ValueError("an SM2 private key is 32 bytes, d in [1, n − 2]")
    return private_key


def generate_keypair() -> tuple[bytes, bytes]:
    """A new key pair (private d, public X ‖ Y) from GmSSL's random generator (GM/T 0003.1-2012 §6.1)."""
    public, private = gmssl.sm2_key_generate()
    return bytes(private), bytes(public)


def z_value(public_key: bytes, uid: bytes = DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (GM/T 0003.2-2012 §5.5)."""
    check_public_key(public_key)
    if len(uid) * 8 >= 1 << 16:
        raise ValueError("the user identity is longer than 8191 bytes")
    curve = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
    return sm3((len(uid) * 8).to_bytes(2, "big") + uid + curve + public_key)


def message_digest(public_key: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bytes:
    """e = SM3(Z_A ‖ M), what is signed (GM/T 0003.2-2012 §6.1 A1–A2; GM/T 0009-2012 §8.2)."""
    return sm3(z_value(public_key, uid) + message)


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """The signature r ‖ s of the 32-byte digest e (GM/T 0003.2-2012 §6.1 A3–A7: a fresh random k each time)."""
    check_private_key(private_key)
    if len(digest) != DIGEST_SIZE:
        raise ValueError(f"an SM3 digest is 32 bytes, not {len(digest)}")
    return signature_raw(bytes(gmssl.sm2_sign_sm3_digest(private_key, digest)))


def sign(private_key: bytes, public_key: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bytes:
    """The signature r ‖ s of ``message`` under the key pair (Z from ``public_key`` and ``uid``)."""
    return sign_digest(private_key, message_digest(public_key, message, uid))


def verify_digest(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (r ‖ s) is one of e under ``public_key`` (GM/T 0003.2-2012 §7.1 B1–B7)."""
    check_public_key(public_key)
    if len(digest) != DIGEST_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    r, s = _int(signature[:32]), _int(signature[32:])
    if not (1 <= r < N and 1 <= s < N):
        return False           # B1–B2: outside [1, n − 1]
    return bool(gmssl.sm2_verify_sm3_digest(public_key, digest, signature_der(signature)))


def verify(public_key: bytes, message: bytes, signature: bytes, uid: bytes = DEFAULT_ID) -> bool:
    """Whether ``signature`` (r ‖ s) signs ``message`` under ``public_key`` and ``uid``."""
    return verify_digest(public_key, message_digest(public_key, message, uid), signature)


def signature_der(signature: bytes) -> bytes:
    """r ‖ s as ``SM2Signature ::= SEQUENCE { R INTEGER, S INTEGER }`` (GM/T 0009-2012 §7.3)."""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError(f"an SM2 signature r ‖ s is 64 bytes, not {len(signature)}")
    return asn1.sequence(asn1.integer(_int(signature[:32])), asn1.integer(_int(signature[32:])))


def signature_raw(der: bytes) -> bytes:
    """The DER signature (GM/T 0009-2012 §7.3) as r ‖ s; ``MalformedFrame`` when it is not one."""
    r_value, s_value = asn1.expect(asn1.items(asn1.one(der, asn1.SEQUENCE, "SM2 signature")),
                                   asn1.INTEGER, asn1.INTEGER, what="SM2 signature")
    r, s = asn1.read_integer(r_value), asn1.read_integer(s_value)
    if not (1 <= r < N and 1 <= s < N):
        raise MalformedFrame("SM2 signature: r or s outside [1, n − 1]")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
