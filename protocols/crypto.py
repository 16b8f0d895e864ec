"""Crypto recipes of the social security card: block ciphers, CBC-MAC, the key hierarchy, process keys,
internal and external authentication, secure messaging, enciphered LV fields and PIN blocks
(docs/design.md §3; each recipe as real cards and production terminals compute it).

Sans-I/O: standard library and ``cryptography`` only. Everything takes and returns ``bytes``.
ECB cipher contexts are cached per key because these functions sit on the card emulator's
hot paths: an ECB context keeps no state between whole blocks, so one context serves every call.
"""
from __future__ import annotations

import enum
import functools
import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES  # cryptography >= 43 keeps 3DES here
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, CipherContext, algorithms, modes

from protocols.atr import historical_bytes

__all__ = [
    "Alg", "block_size", "ecb_encrypt", "ecb_decrypt", "pad80", "unpad80", "cbc_mac_block", "mac",
    "diversify", "province_factor", "city_factor", "card_factor", "factors", "derive", "derive_card_key",
    "process_key", "fold", "process_encrypt", "internal_auth_answer", "external_auth_cryptogram", "sm_mac",
    "encipher_lv", "decipher_lv", "sm_encipher", "pin_to_bcd", "bcd_to_pin", "equal", "sm3",
]


class Alg(enum.IntEnum):
    """Symmetric algorithm, valued as the FCI ``9F0C`` algorithm identifier (docs/design.md §3)."""

    DES3 = 0x01
    SM4 = 0x03


_BLOCK = {Alg.DES3: 8, Alg.SM4: 16}
_FACTOR_LEN = 8
_DIGITS = frozenset("0123456789")


#: Key lengths each algorithm takes (docs/sources.md §4.1: 3DES two-key, some single-DES keys; SM4 16 bytes).
KEY_LENGTHS: dict[Alg, tuple[int, ...]] = {Alg.DES3: (8, 16, 24), Alg.SM4: (16,)}


def block_size(alg: Alg) -> int:
    """Cipher block size in bytes: 8 for 3DES, 16 for SM4."""
    return _BLOCK[Alg(alg)]


# --- block cipher primitives --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _algorithm(alg: Alg, key: bytes) -> CipherAlgorithm:
    """The ``cryptography`` algorithm object for ``key``.

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


# ECB contexts by (decrypt?, algorithm, key). A caller takes a context out while it uses it and puts it back,
# so two threads never share one (the one that finds none makes its own); emptied when it reaches its bound.
_CONTEXTS: dict[tuple[bool, Alg, bytes], CipherContext] = {}
_CONTEXTS_BOUND = 256


def _ecb_update(decrypt: bool, alg: Alg, key: bytes, data: bytes) -> bytes:
    slot = (decrypt, alg, key)
    context = _CONTEXTS.pop(slot, None)
    if context is None:
        cipher = _ecb(alg, key)
        context = cipher.decryptor() if decrypt else cipher.encryptor()
    out = context.update(data)
    if len(_CONTEXTS) >= _CONTEXTS_BOUND:
        _CONTEXTS.clear()
    _CONTEXTS[slot] = context
    return out


def ecb_encrypt(alg: Alg, key: bytes, data: bytes) -> bytes:
    """ECB-encrypt ``data`` (a whole number of blocks) under ``key``."""
    alg = Alg(alg)
    _check_blocks(alg, data)
    return _ecb_update(False, alg, bytes(key), data)


def ecb_decrypt(alg: Alg, key: bytes, data: bytes) -> bytes:
    """ECB-decrypt ``data`` (a whole number of blocks) under ``key``."""
    alg = Alg(alg)
    _check_blocks(alg, data)
    return _ecb_update(True, alg, bytes(key), data)


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


# --- CBC-MAC ------------------------------------------------------------------------------------------
def _iv(iv: bytes, block: int) -> bytes:
    if len(iv) > block:
        raise ValueError(f"IV of {len(iv)} bytes is longer than the {block}-byte block")
    return bytes(iv) + bytes(block - len(iv))


def cbc_mac_block(alg: Alg, key: bytes, data: bytes, iv: bytes = b"") -> bytes:
    """The last CBC block of ``data`` (already padded: a whole number of blocks) under ``key``.

    IV = ``iv`` right-padded with 00. DES3 with a 16- or 24-byte key: ISO/IEC 9797-1 MAC algorithm 3
    (retail MAC: single DES under the left 8 key bytes, the last block 3DES under the whole key); with an
    8-byte key (a process key), plain CBC single DES. SM4: plain CBC. This is what a PSAM's ``80 FA 05``
    answers; callers keep the left 4 bytes.
    """
    alg = Alg(alg)
    key = bytes(key)
    block = _BLOCK[alg]
    _check_blocks(alg, data)
    if not data:
        raise ValueError("nothing to MAC")
    chain = _iv(iv, block)
    head, last = data[:-block], data[-block:]
    if head:
        first = key[:8] if alg is Alg.DES3 else key
        cbc = Cipher(_algorithm(alg, first), modes.CBC(chain)).encryptor()
        chain = cbc.update(head)[-block:]
    return _ecb_update(False, alg, key, _xor(chain, last))


def mac(alg: Alg, key: bytes, data: bytes, iv: bytes = b"") -> bytes:
    """4-byte MAC: the left 4 bytes of :func:`cbc_mac_block` over ``data`` padded ``80 00..``."""
    return cbc_mac_block(alg, key, pad80(data, block_size(alg)), iv)[:4]


# --- key diversification (docs/design.md §3 "Key hierarchy") --------------------------------------------
#
#   root (ministry) --province factor--> province --city factor--> city --card factor--> card key
#   province factor = 2 province digits ‖ "0000sh"   e.g. "440000sh" = 34 34 30 30 30 30 73 68
#   city factor     = 6 region digits ‖ "sx"          e.g. "440100sx" = 34 34 30 31 30 30 73 78
#   card factor     = last 8 bytes of the ATR (its historical bytes T6..T13)
#   one level:  3DES  K' = 3DES_K(f) ‖ 3DES_K(NOT f)      SM4  K' = SM4_K(f ‖ NOT f)
def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def diversify(alg: Alg, key: bytes, factor: bytes) -> bytes:
    """One diversification level with an 8-byte factor f, giving a 16-byte key."""
    if len(factor) != _FACTOR_LEN:
        raise ValueError(f"diversification factor must be 8 bytes, got {len(factor)}")
    return ecb_encrypt(alg, key, bytes(factor) + _not(factor))


def _region(region: str) -> str:
    if len(region) != 6 or not set(region) <= _DIGITS:
        raise ValueError(f"region code must be 6 decimal digits, got {region!r}")
    return region


def province_factor(region: str) -> bytes:
    """Province-level factor: the 2 province digits of ``region`` ‖ ``"0000sh"`` in ASCII."""
    return (_region(region)[:2] + "0000sh").encode("ascii")


def city_factor(region: str) -> bytes:
    """City-level factor: ASCII of the 6-digit region code ‖ ``"sx"`` (73 78)."""
    return (_region(region) + "sx").encode("ascii")


def card_factor(atr: bytes) -> bytes:
    """Card-level factor: the last 8 *historical* bytes of the ATR.

    On the card's T=0 ATR (no check byte) these are its last 8 bytes; an ATR that offers T=1 ends with
    a check byte (TCK), which is not part of the factor.
    """
    hist = historical_bytes(atr)
    if len(hist) < _FACTOR_LEN:
        raise ValueError(f"ATR with {len(hist)} historical bytes is shorter than the 8-byte card factor")
    return bytes(hist[-_FACTOR_LEN:])


def factors(region: str, atr: bytes) -> tuple[bytes, bytes, bytes]:
    """The three factors lowest level first, as terminals send them to a PSAM: card, city, province."""
    return card_factor(atr), city_factor(region), province_factor(region)


def derive(alg: Alg, key: bytes, lowest_first: tuple[bytes, ...] | list[bytes]) -> bytes:
    """Diversify ``key`` by factors given lowest level first, applying them from the highest level down."""
    for factor in reversed(lowest_first):
        key = diversify(alg, key, factor)
    return bytes(key)


def derive_card_key(alg: Alg, root_key: bytes, region: str, atr: bytes) -> bytes:
    """Root → province → city → card key of the card with this ``atr`` issued in ``region``."""
    return derive(alg, root_key, factors(region, atr))


# --- process keys and what they compute (docs/design.md §3 "Process key") -------------------------------
#
#   SK = E_K(P), P an 8-byte process factor (a challenge, or the first half of INTERNAL AUTHENTICATE data)
#     3DES: SK = 3DES_K(P), 8 bytes, used as a single-DES key
#     SM4:  SK = SM4_K(P ‖ 00×8), 16 bytes
#   E_SK(D) for 8 bytes D
#     3DES: DES_SK(D)
#     SM4:  L XOR R, where L ‖ R = SM4_SK(D ‖ 00×8)  (a PSAM answers the whole block; the terminal folds)
#   INTERNAL AUTHENTICATE 00 88 00 00 10 P ‖ D  → E_SK(D), SK from the card's IRK and P
#   EXTERNAL AUTHENTICATE 00 82 00 KID 10 C ‖ D: C = E_SK(D), SK from key KID and the card's last challenge
#   secure messaging: SK from the purpose key and a fresh challenge; MAC = left 4 bytes of CBC-MAC under SK,
#     IV zero, over header ‖ Lc ‖ data ‖ 80 00..; enciphered fields = ECB_SK(L ‖ V ‖ 80 00..)
def process_key(alg: Alg, key: bytes, factor: bytes) -> bytes:
    """The process key (过程密钥) SK = E_K(P) for an 8-byte process factor P."""
    alg = Alg(alg)
    if len(factor) != _FACTOR_LEN:
        raise ValueError(f"process factor must be 8 bytes, got {len(factor)}")
    return ecb_encrypt(alg, key, bytes(factor) + bytes(_BLOCK[alg] - _FACTOR_LEN))


def fold(block: bytes) -> bytes:
    """A 16-byte SM4 block folded to 8 bytes: left half XOR right half."""
    if len(block) != 16:
        raise ValueError(f"only a 16-byte block folds, got {len(block)}")
    return _xor(block[:8], block[8:])


def process_encrypt(alg: Alg, sk: bytes, data: bytes) -> bytes:
    """E_SK(D): the 8-byte answer of a process key to 8 bytes of data."""
    alg = Alg(alg)
    if len(data) != 8:
        raise ValueError(f"data must be 8 bytes, got {len(data)}")
    if alg is Alg.DES3:
        return ecb_encrypt(alg, sk, data)
    return fold(ecb_encrypt(alg, sk, bytes(data) + bytes(8)))


def internal_auth_answer(alg: Alg, irk: bytes, data: bytes) -> bytes:
    """The card's answer to ``00 88 00 00 10 P ‖ D``: E_SK(D) with SK from the IRK and P (the first half)."""
    if len(data) != 16:
        raise ValueError(f"internal authentication data must be 16 bytes, got {len(data)}")
    return process_encrypt(alg, process_key(alg, irk, data[:8]), data[8:])


def external_auth_cryptogram(alg: Alg, key: bytes, challenge: bytes, data: bytes) -> bytes:
    """C of ``00 82 00 KID 10 C ‖ D``: E_SK(D) with SK from the key and the card's last challenge."""
    return process_encrypt(alg, process_key(alg, key, challenge), data)


def sm_mac(alg: Alg, key: bytes, challenge: bytes, message: bytes) -> bytes:
    """Secure-messaging MAC of ``message`` (header ‖ Lc ‖ data): 4 bytes under SK = E_K(challenge), IV zero."""
    return mac(alg, process_key(alg, key, challenge), message)


# --- enciphered LV fields (docs/design.md §3 "Secure messaging") ----------------------------------
def encipher_lv(alg: Alg, key: bytes, value: bytes) -> bytes:
    """ECB of (len(value) ‖ value) padded ``80 00..`` to the block size ."""
    if len(value) > 0xFF:
        raise ValueError(f"value of {len(value)} bytes does not fit a one-byte length")
    return ecb_encrypt(alg, key, pad80(bytes([len(value)]) + bytes(value), block_size(alg)))


def sm_encipher(alg: Alg, key: bytes, challenge: bytes, value: bytes) -> bytes:
    """An enciphered field of a secured command: ECB of LV(value) ‖ 80 00.. under SK = E_K(challenge)."""
    return encipher_lv(alg, process_key(alg, key, challenge), value)


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


# --- PIN (docs/design.md §3 "PIN") --------------------------------------------------------------------
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
    """SM3 digest (32 bytes, GB/T 32905)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(bytes(data))
    return digest.finalize()
