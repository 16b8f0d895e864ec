"""Test-side computations with the card's own keys (what a PSAM would compute)."""
from __future__ import annotations

from protocols import crypto
from tests.card.conftest import Card


def external_auth(card: Card, key_name: str, key_id: int, df: str = "SSSE", *, tamper: bool = False) -> int:
    """GET CHALLENGE + EXTERNAL AUTHENTICATE with the card's key; returns the SW."""
    challenge, sw = card("0084000008")
    assert sw == 0x9000
    vector = bytes(range(8))
    cryptogram = crypto.auth_cryptogram(card.os.alg, card.key(key_name, df), challenge, vector)
    if tamper:
        cryptogram = bytes([cryptogram[0] ^ 1]) + cryptogram[1:]
    return card.raw(bytes((0x00, 0x82, 0x00, key_id, 0x10)) + cryptogram + vector)[1]


def maced(card: Card, header: bytes, body: bytes, key_name: str = "STK", df: str = "SSSE",
          challenge: bytes | None = None, bad: bool = False) -> bytes:
    """A CLA 04/84 command with body ‖ MAC over header ‖ Lc ‖ body (DESIGN §3 MAC)."""
    if challenge is None:
        challenge, sw = card("0084000008")
        assert sw == 0x9000
    lc = len(body) + 4
    mac = crypto.mac(card.os.alg, card.key(key_name, df), header + bytes((lc,)) + body, challenge)
    if bad:
        mac = bytes([mac[0] ^ 0x80]) + mac[1:]
    return header + bytes((lc,)) + body + mac


def enc_pin(card: Card, key_name: str, pin: str) -> bytes:
    return crypto.encipher_lv(card.os.alg, card.key(key_name), crypto.pin_to_bcd(pin))
