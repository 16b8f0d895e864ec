"""Issuer key sets: root keys by name, derived city and card keys, and a JSON-able form (DESIGN.md §3,
sscard-spec-notes.md §4.2–4.3).

No I/O here: the JSON *text* is made and parsed by :meth:`IssuerKeys.to_json` / :meth:`IssuerKeys.from_json`
and callers decide where it lives. Key IDs used in EXTERNAL AUTHENTICATE belong to the card profile.
"""
from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.crypto import KEY_LENGTHS, Alg, derive_card_key, derive_city_key, sm3

__all__ = ["KEY_NAMES", "TEST_ONLY", "IssuerKeys", "test_issuer_keys"]

#: Root keys of an issuer key set (DESIGN §3, notes §4.2).
KEY_NAMES: tuple[str, ...] = (
    "IRK",   # internal authentication; also MACs the card identification code
    "MK",    # master key (external authentication key ID 00)
    "UK",    # update key (external authentication key 04, before writing EF05/EF06)
    "RK",    # RKSSSE read key (external authentication key 0A, EF06 on gen3)
    "EK0D",  # external authentication key 0D, before writing EF0D
    "RLK",   # PIN reload external authentication (key 06)
    "STK",   # application maintenance: MAC for block/unblock and secured updates
    "PUK",   # PIN unblock
    "RPK",   # PIN reload secure-messaging key
)

#: Marker every test key set carries in its label.
TEST_ONLY = "TEST ONLY"



@dataclass(frozen=True)
class IssuerKeys:
    """An issuer's root keys for one algorithm (notes §4.2). ``keys`` maps every name of :data:`KEY_NAMES`
    to its root key; it is read-only and left out of ``repr`` so keys do not leak into logs."""

    label: str
    alg: Alg
    keys: Mapping[str, bytes] = field(repr=False, hash=False)

    def __post_init__(self) -> None:
        try:
            alg = Alg(self.alg)
        except ValueError:
            raise ValueError(f"unknown algorithm {self.alg!r}") from None
        missing = [name for name in KEY_NAMES if name not in self.keys]
        if missing:
            raise ValueError(f"missing key(s): {', '.join(missing)}")
        unknown = sorted(set(self.keys) - set(KEY_NAMES))
        if unknown:
            raise ValueError(f"unknown key name(s): {', '.join(unknown)}")
        allowed = KEY_LENGTHS[alg]
        for name in KEY_NAMES:
            length = len(self.keys[name])
            if length not in allowed:
                raise ValueError(
                    f"key {name}: {alg.name} keys are {'/'.join(map(str, allowed))} bytes, got {length}"
                )
        object.__setattr__(self, "alg", alg)
        frozen = {name: bytes(self.keys[name]) for name in KEY_NAMES}
        object.__setattr__(self, "keys", types.MappingProxyType(frozen))

    @property
    def is_test_only(self) -> bool:
        """True when the label marks the set as test-only."""
        return TEST_ONLY in self.label

    def city_keys(self, region: str) -> dict[str, bytes]:
        """Root → city keys for a 6-digit region code (DESIGN §3 key diversification)."""
        return {name: derive_city_key(self.alg, key, region) for name, key in self.keys.items()}

    def card_keys(self, region: str, atr: bytes) -> dict[str, bytes]:
        """Root → city → card keys for the card with this ``atr`` (DESIGN §3 key diversification)."""
        return {
            name: derive_card_key(self.alg, key, atr) for name, key in self.city_keys(region).items()
        }

    # --- JSON form: {"label": str, "alg": "DES3"|"SM4", "keys": {name: hex}} -------------------------
    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with hex keys."""
        return {
            "label": self.label,
            "alg": self.alg.name,
            "keys": {name: key.hex().upper() for name, key in self.keys.items()},
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> IssuerKeys:
        """Parse :meth:`to_json_dict` output; ``ValueError`` naming the first problem found."""
        if not isinstance(data, Mapping):
            raise ValueError("issuer key set must be a JSON object")
        for name in ("label", "alg", "keys"):
            if name not in data:
                raise ValueError(f"issuer key set: missing field {name!r}")
        label, alg_name, keys = data["label"], data["alg"], data["keys"]
        if not isinstance(label, str):
            raise ValueError("issuer key set: 'label' must be a string")
        if not isinstance(alg_name, str) or alg_name not in Alg.__members__:
            expected = ", ".join(Alg.__members__)
            raise ValueError(f"issuer key set: unknown alg {alg_name!r} (expected one of {expected})")
        if not isinstance(keys, Mapping):
            raise ValueError("issuer key set: 'keys' must be an object of name → hex")
        parsed: dict[str, bytes] = {}
        for name, text in keys.items():
            if not isinstance(text, str):
                raise ValueError(f"key {name}: expected a hex string")
            try:
                parsed[name] = bytes.fromhex(text)
            except ValueError:
                raise ValueError(f"key {name}: not a hex string: {text!r}") from None
        return cls(label=label, alg=Alg[alg_name], keys=parsed)

    def to_json(self) -> str:
        """JSON text of :meth:`to_json_dict`, indented for people to read and diff (DESIGN §4)."""
        return json.dumps(self.to_json_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> IssuerKeys:
        """Parse JSON text; ``ValueError`` (``json.JSONDecodeError`` is one) on bad input."""
        return cls.from_json_dict(json.loads(text))


def test_issuer_keys(alg: Alg) -> IssuerKeys:
    """Deterministic TEST ONLY root keys for ``alg``: key = SM3("sscard TEST ONLY <alg>/<name>")[:16]."""
    alg = Alg(alg)
    keys = {name: sm3(f"sscard {TEST_ONLY} {alg.name}/{name}".encode("ascii"))[:16] for name in KEY_NAMES}
    return IssuerKeys(
        label=f"{TEST_ONLY}: sscard demo issuer keys ({alg.name}), published, never use on real cards",
        alg=alg,
        keys=keys,
    )


test_issuer_keys.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
