"""Options several ``sscard`` commands share: ``--reader`` and issuer key files (``--issuer-keys``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from host.spec import default_spec
from protocols.keys import IssuerKeys


def reader_arg(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--reader", "-r", default=default_spec(),
                    help="reader spec: sim, sim:CARD.json[,psam=PSAM.json], pcsc[:N|NAME], ccid-serial:DEV "
                         "(default: $SSCARD_READER or sim)")


def issuer_keys(*paths: str) -> tuple[IssuerKeys, ...]:
    """Issuer key sets from JSON files (protocols.keys); the shipped test sets are in firmware_sim/demo/.

    Errors name the file and the key, never a key's value: each key's hex is checked here before the parser
    sees it (its own message would quote the value)."""
    sets = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        keys = data.get("keys") if isinstance(data, dict) else None
        for name, text in keys.items() if isinstance(keys, dict) else ():
            if isinstance(text, str):
                try:
                    bytes.fromhex(text)
                except ValueError:
                    raise ValueError(f"{path}: key {name}: not a hex string") from None
        try:
            sets.append(IssuerKeys.from_json_dict(data))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return tuple(sets)
