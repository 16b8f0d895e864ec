"""Crypto recipes of the social security card: block ciphers, MAC, key diversification, authentication
cryptograms, enciphered LV fields and PIN blocks (DESIGN.md §3, sscard-spec-notes.md §4).

Sans-I/O: standard library and ``cryptography`` only. Everything takes and returns ``bytes``.
Cipher objects are cached per key because these functions sit on the card emulator's hot paths.
"""
from __future__ import annotations

import enum
import functools
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from protocols.atr import historical_bytes

try:  # cryptography >= 43 moved 3DES to the "decrepit" package
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef]

__all__ = [
    "Alg", "block_size", "ecb_encrypt", "ecb_decrypt", "pad80", "unpad80", "mac", "diversify",
    "city_factor", "card_factor", "derive_card_key", "derive_city_key", "session_key",
    "auth_cryptogram", "encipher_lv", "decipher_lv", "pin_to_bcd", "bcd_to_pin", "equal", "sm3",
]


class Alg(enum.IntEnum):
    """Symmetric algorithm, valued as the FCI ``9F0C`` algorithm identifier (notes §2.1, DESIGN §3)."""

    DES3 = 0x01
    SM4 = 0x03


_BLOCK = {Alg.DES3: 8, Alg.SM4: 16}
_FACTOR_LEN = 8
_DIGITS = frozenset("0123456789")


#: Key lengths each algorithm takes (notes §4.1: 3DES two-key, some single-DES keys; SM4 16 bytes).
KEY_LENGTHS: dict[Alg, tuple[int, ...]] = {Alg.DES3: (8, 16, 24), Alg.SM4: (16,)}


def block_size(alg: Alg) -> int:
    """Cipher block size in bytes: 8 for 3DES, 16 for SM4."""
    return _BLOCK[Alg(alg)]


# --- block cipher primitives --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _algorithm(alg: Alg, key: bytes) -> CipherAlgorithm:
    """The ``cryptography`` algorithm object for ``key`` (notes §4.1).

    DES3 keys of 8 (single DES) and 16 (2-key EDE, K1K2K1) bytes are expanded to 24 bytes, which is
    equivalent and avoids cryptography's deprecation of short TripleDES keys.
    """
    alg = Alg(alg)
    if alg is Alg.SM4:
        if len(key) != 16:
            raise ValueError(f"SM4 key must be 16 bytes, got {len(key)}")
        return algorithms.SM4(key)
    if len(key) == 8:
        return TripleDES(key * 3)
    if len(key) == 16:
        return TripleDES(key + key[:8])
    if len(key) == 24:
        return TripleDES(key)
    raise ValueError(f"DES3 key must be 8, 16 or 24 bytes, got {len(key)}")


@functools.lru_cache(maxsize=1024)
def _ecb(alg: Alg, key: bytes) -> Cipher[modes.ECB]:
    return Cipher(_algorithm(alg, key), modes.ECB())


def _check_blocks(alg: Alg, data: bytes) -> None:
    if len(data) % _BLOCK[alg]:
        raise ValueError(f"data length {len(data)} is not a multiple of the {alg.name} block size")


def ecb_encrypt(alg: Alg, key: bytes, data: bytes) -> bytes:
    """ECB-encrypt ``data`` (a whole number of blocks) under ``key``."""
    alg = Alg(alg)
    _check_blocks(alg, data)
    return _ecb(alg, bytes(key)).encryptor().update(data)


def ecb_decrypt(alg: Alg, key: bytes, data: bytes) -> bytes:
    """ECB-decrypt ``data`` (a whole number of blocks) under ``key``."""
    alg = Alg(alg)
    _check_blocks(alg, data)
    return _ecb(alg, bytes(key)).decryptor().update(data)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


# --- padding -----------------------------------------------------------------------------------------
def pad80(data: bytes, block: int) -> bytes:
    """ISO 9797-1 padding method 2: append ``80`` then ``00`` up to a multiple of ``block`` (always adds)."""
    if block <= 0:
        raise ValueError("block size must be positive")
    return bytes(data) + b"\x80" + bytes(-(len(data) + 1) % block)


def unpad80(data: bytes) -> bytes:
    """Remove ISO 9797-1 method 2 padding; ``ValueError`` if the last non-zero byte is not ``80``."""
    stripped = bytes(data).rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise ValueError("bad 80 00.. padding")
    return stripped[:-1]


# --- MAC (DESIGN §3 "MAC", notes §4.5) -----------------------------------------------------------------
def _iv(iv: bytes, block: int) -> bytes:
    if len(iv) > block:
        raise ValueError(f"IV of {len(iv)} bytes is longer than the {block}-byte block")
    return bytes(iv) + bytes(block - len(iv))


def mac(alg: Alg, key: bytes, data: bytes, iv: bytes = b"") -> bytes:
    """4-byte MAC of ``data`` (DESIGN §3 "MAC"): IV = ``iv`` right-padded with 00, data padded ``80 00..``.

    DES3: ISO 9797-1 MAC algorithm 3 (retail MAC) — CBC single DES under the left 8 key bytes, the
    last block 3DES under the whole key; with an 8-byte key, plain CBC single DES. SM4: CBC-MAC.
    """
    alg = Alg(alg)
    key = bytes(key)
    block = _BLOCK[alg]
    chain = _iv(iv, block)
    padded = pad80(data, block)
    head, last = padded[:-block], padded[-block:]
    if head:
        first = key[:8] if alg is Alg.DES3 else key
        cbc = Cipher(_algorithm(alg, first), modes.CBC(chain)).encryptor()
        chain = cbc.update(head)[-block:]
    return _ecb(alg, key).encryptor().update(_xor(chain, last))[:4]


# --- key diversification (DESIGN §3, notes §4.3) ----------------------------------------------------------
def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def diversify(alg: Alg, key: bytes, factor: bytes) -> bytes:
    """One diversification level with an 8-byte factor f, giving a 16-byte key (DESIGN §3).

    DES3: 3DES_K(f) ‖ 3DES_K(NOT f). SM4: SM4_K(f ‖ NOT f).
    """
    if len(factor) != _FACTOR_LEN:
        raise ValueError(f"diversification factor must be 8 bytes, got {len(factor)}")
    return ecb_encrypt(alg, key, bytes(factor) + _not(factor))


def city_factor(region: str) -> bytes:
    """City-level factor: ASCII of the 6-digit region code ‖ ``73 78`` ("sx") (notes §4.3)."""
    if len(region) != 6 or not set(region) <= _DIGITS:
        raise ValueError(f"region code must be 6 decimal digits, got {region!r}")
    return region.encode("ascii") + b"sx"


def card_factor(atr: bytes) -> bytes:
    """Card-level factor: the last 8 *historical* bytes of the ATR (notes §4.3: T6..T13 of the 13-byte block).

    On the card's T=0 ATR these are its last 8 bytes; an ATR that offers T=1 ends with a check byte (TCK),
    which is not part of the factor.
    """
    hist = historical_bytes(atr)
    if len(hist) < _FACTOR_LEN:
        raise ValueError(f"ATR with {len(hist)} historical bytes is shorter than the 8-byte card factor")
    return bytes(hist[-_FACTOR_LEN:])


def derive_city_key(alg: Alg, root_key: bytes, region: str) -> bytes:
    """Root key → city key (DESIGN §3 two-level chain)."""
    return diversify(alg, root_key, city_factor(region))


def derive_card_key(alg: Alg, city_key: bytes, atr: bytes) -> bytes:
    """City key → card key (DESIGN §3 two-level chain)."""
    return diversify(alg, city_key, card_factor(atr))


# --- internal / external authentication (DESIGN §3, notes §4.4) ----------------------------------
def _zero_pad(data: bytes, block: int, what: str) -> bytes:
    if len(data) > block:
        raise ValueError(f"{what} of {len(data)} bytes is longer than the {block}-byte block")
    return bytes(data) + bytes(block - len(data))


def session_key(alg: Alg, key: bytes, vector: bytes) -> bytes:
    """Process key SK = E_K(V) (DESIGN §3).

    DES3: V is 8 bytes, SK is 8 bytes (a single-DES key). SM4: V padded with 00 to 16 bytes, SK 16 bytes.
    """
    alg = Alg(alg)
    if alg is Alg.DES3 and len(vector) != 8:
        raise ValueError(f"DES3 diversification vector must be 8 bytes, got {len(vector)}")
    return ecb_encrypt(alg, key, _zero_pad(vector, _BLOCK[alg], "vector"))


def auth_cryptogram(alg: Alg, key: bytes, random: bytes, vector: bytes) -> bytes:
    """First 8 bytes of E_SK(R), R padded with 00, SK = ``session_key(alg, key, vector)`` (DESIGN §3).

    INTERNAL AUTHENTICATE: the card answers ``auth_cryptogram(IRK, R, V)`` for data R ‖ V.
    EXTERNAL AUTHENTICATE: the terminal sends C ‖ V with C = ``auth_cryptogram(key, challenge, V)``.
    """
    alg = Alg(alg)
    sk = session_key(alg, key, vector)
    return ecb_encrypt(alg, sk, _zero_pad(random, _BLOCK[alg], "random"))[:8]


# --- enciphered LV fields (DESIGN §3 "Enciphered fields", notes §4.5) ----------------------------------
def encipher_lv(alg: Alg, key: bytes, value: bytes) -> bytes:
    """ECB of (len(value) ‖ value) padded ``80 00..`` to the block size (DESIGN §3)."""
    if len(value) > 0xFF:
        raise ValueError(f"value of {len(value)} bytes does not fit a one-byte length")
    return ecb_encrypt(alg, key, pad80(bytes([len(value)]) + bytes(value), block_size(alg)))


def decipher_lv(alg: Alg, key: bytes, blob: bytes) -> bytes:
    """Inverse of :func:`encipher_lv`; ``ValueError`` on a partial block, bad padding or a wrong L."""
    alg = Alg(alg)
    if not blob:
        raise ValueError("empty enciphered field")
    plain = ecb_decrypt(alg, key, blob)
    length = plain[0]
    if len(pad80(plain[: 1 + length], _BLOCK[alg])) != len(plain):
        raise ValueError(f"length byte {length} is inconsistent with a {len(plain)}-byte field")
    if unpad80(plain) != plain[: 1 + length]:
        raise ValueError("bad 80 00.. padding")
    return plain[1 : 1 + length]


# --- PIN (DESIGN §3 "PIN", notes §4.6) --------------------------------------------------------------------
def pin_to_bcd(pin: str) -> bytes:
    """Packed BCD of a 4–12 digit PIN, odd lengths padded with F ("12345" → ``12 34 5F``)."""
    if not 4 <= len(pin) <= 12 or not set(pin) <= _DIGITS:
        raise ValueError("PIN must be 4 to 12 decimal digits")
    return bytes.fromhex(pin + "F" * (len(pin) % 2))


def bcd_to_pin(data: bytes) -> str:
    """Digits of a packed-BCD PIN, stopping at the F pad; ``ValueError`` on any other non-digit nibble."""
    text = bytes(data).hex().upper()
    digits = text.rstrip("F")
    if not set(digits) <= _DIGITS:
        raise ValueError(f"not a BCD PIN: {text}")
    return digits


# --- misc -----------------------------------------------------------------------------------------------
def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two MACs or cryptograms."""
    return hmac.compare_digest(bytes(a), bytes(b))


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes) (notes §4.1)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(bytes(data))
    return digest.finalize()
