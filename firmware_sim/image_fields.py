"""Fields of card and PSAM image files, checked as they are loaded: errors name the field, never its value."""
from __future__ import annotations

from typing import Any

from protocols.errors import BadCardImage


def hex_field(text: Any, where: str) -> bytes:
    """The bytes of a hex string field ``where``; ``BadCardImage`` naming it if it is not one."""
    if not isinstance(text, str):
        raise BadCardImage(f"{where}: expected a hex string, got {type(text).__name__}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BadCardImage(f"{where}: not hexadecimal") from None
