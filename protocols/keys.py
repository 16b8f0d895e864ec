"""Issuer key sets: root keys by name, the keys derived from them for PSAMs and cards, and a JSON-able form
(docs/design.md §3 "Key hierarchy").

No I/O here: the JSON *text* is made and parsed by :meth:`IssuerKeys.to_json` / :meth:`IssuerKeys.from_json`
and callers decide where it lives. Key IDs used in EXTERNAL AUTHENTICATE belong to the card profile.
"""
from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.crypto import KEY_LENGTHS, Alg, card_factor, city_factor, derive, diversify, province_factor, sm3
from protocols.profile import KEY_NAMES, KeySpec, key_spec

__all__ = ["HSM_KEY_ADDRESSES", "KEY_NAMES", "RELOAD_AUTH_ADDRESS", "RELOAD_SM_ADDRESS", "TEST_ONLY",
           "WRITE_BAS_ADDRESS", "IssuerKeys", "hsm_address", "test_issuer_keys"]

#: Marker every test key set carries in its label.
TEST_ONLY = "TEST ONLY"

#: Key "addresses" the HSM steps of the standard interface name keys by (docs/sources.md §4.2, §5.4): the
#: terminal writes them into a step's output, the HSM finds the key by them. Opaque strings to both.
RELOAD_AUTH_ADDRESS = "0090"      # key 06 (RLK): external authentication before PIN RELOAD and UNBLOCK
RELOAD_SM_ADDRESS = "0173"        # STK: the MAC'd PIN RELOAD and PIN UNBLOCK commands
#: The address a card-making kiosk asks its HSM for the external authentication of iWriteCardBas by (the update
#: key UK, 04, that opens EF05 and EF06; docs/sources.md §6.1, S7 ``DataCenter::WriteCard``).
WRITE_BAS_ADDRESS = "0094"

#: The 6-digit addresses one vendor's interface names read and write keys by (docs/sources.md §4.2, S34), for
#: the keys of the shipped profiles that guard the same files.
_S34_ADDRESSES: dict[str, str] = {
    "RK": "004C0A", "DF01.RK": "004F2E", "DF02.RK": "006435", "DF03.RK": "01932B", "DF03.RK2": "01962C",
    "DF04.RK": "01822D", "DF07.RK": "007A3D", "DF07.RK2": "00803F", "DF07.RK3": "0086B1",
    "UK": "009412", "DF01.UK1": "009742", "DF01.UK2": "009A43", "DF01.UK3": "017624", "DF01.UK4": "017925",
}


def _address(spec: KeySpec) -> str:
    """A key's HSM address: S34's where it gives one, else (choice) ``00`` ‖ the PSAM's P1 ‖ P2 for the key."""
    fixed = {"RLK": RELOAD_AUTH_ADDRESS, "STK": RELOAD_SM_ADDRESS, **_S34_ADDRESSES}
    return fixed.get(spec.name) or f"00{spec.psam.p1:02X}{spec.psam.p2:02X}"


#: Address → key name (a name of :data:`KEY_NAMES`), for every key of the profiles, and S7's ``0094`` for UK.
HSM_KEY_ADDRESSES: dict[str, str] = {**{_address(key_spec(name)): name for name in KEY_NAMES},
                                     WRITE_BAS_ADDRESS: "UK"}


def hsm_address(name: str) -> str:
    """The HSM address of the key named ``name`` (``KeyError`` for a name no profile has)."""
    return _address(key_spec(name))



@dataclass(frozen=True)
class IssuerKeys:
    """An issuer's root keys for one algorithm (docs/sources.md §4.2). ``keys`` maps every name of :data:`KEY_NAMES`
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

    def level_key(self, name: str, region: str, levels: int) -> bytes:
        """The key a PSAM holds for ``name`` when it applies ``levels`` factors itself: the root key for 3,
        the province key for 2, the city key for 1."""
        if not 1 <= levels <= 3:
            raise ValueError(f"a PSAM key has 1 to 3 diversification levels, not {levels}")
        above = (city_factor(region), province_factor(region))[levels - 1:]
        return derive(self.alg, self.keys[name], above)

    def city_keys(self, region: str) -> dict[str, bytes]:
        """Root → province → city keys of ``region`` (the same for every card of a city)."""
        above = (city_factor(region), province_factor(region))
        return {name: derive(self.alg, key, above) for name, key in self.keys.items()}

    def card_keys(self, region: str, atr: bytes) -> dict[str, bytes]:
        """Root → province → city → card keys for the card with this ``atr`` issued in ``region``."""
        factor = card_factor(atr)
        return {name: diversify(self.alg, key, factor) for name, key in self.city_keys(region).items()}

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
                raise ValueError(
                    f"key {name}: not a hex string ({len(text)} characters; the value is not shown)") from None
        return cls(label=label, alg=Alg[alg_name], keys=parsed)

    def to_json(self) -> str:
        """JSON text of :meth:`to_json_dict`, indented for people to read and diff."""
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
