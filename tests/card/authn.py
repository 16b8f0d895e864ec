"""Test-side computations with the card's own keys (what a PSAM would compute)."""
from __future__ import annotations

from protocols import crypto
from tests.card.conftest import Card


def external_auth(card: Card, key_name: str, key_id: int, df: str = "SSSE", *, tamper: bool = False) -> int:
    """GET CHALLENGE + EXTERNAL AUTHENTICATE with the card's key; returns the SW."""
    challenge, sw = card("0084000008")
    assert sw == 0x9000
    vector = bytes(range(8))
    cryptogram = crypto.external_auth_cryptogram(card.os.alg, card.key(key_name, df), challenge, vector)
    if tamper:
        cryptogram = bytes([cryptogram[0] ^ 1]) + cryptogram[1:]
    return card.raw(bytes((0x00, 0x82, 0x00, key_id, 0x10)) + cryptogram + vector)[1]


def maced(card: Card, header: bytes, body: bytes = b"", key_name: str = "STK", df: str = "SSSE",
          challenge: bytes | None = None, bad: bool = False, pin: str | None = None) -> bytes:
    """A CLA 04/84 command: body (or, with ``pin``, LV(PIN) enciphered under the process key) ‖ MAC under
    E_K(R) for the card's challenge R, over header ‖ Lc ‖ body (docs/design.md §3 "Secure messaging")."""
    if challenge is None:
        challenge, sw = card("0084000008")
        assert sw == 0x9000
    k = card.key(key_name, df)
    if pin is not None:
        body = crypto.sm_encipher(card.os.alg, k, challenge, crypto.pin_to_bcd(pin))
    lc = len(body) + 4
    mac = crypto.sm_mac(card.os.alg, k, challenge, header + bytes((lc,)) + body)
    if bad:
        mac = bytes([mac[0] ^ 0x80]) + mac[1:]
    return header + bytes((lc,)) + body + mac


def pin_admin(card: Card) -> None:
    """EXTERNAL AUTHENTICATE with key 06 in SSSE, as PIN UNBLOCK and RELOAD need."""
    assert external_auth(card, "RLK", card.os.profile.pin_admin_key) == 0x9000
