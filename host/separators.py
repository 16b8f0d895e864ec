"""The standard interface's field separators, refused inside any value a terminal writes or outputs.

Every pOutInfo field ends with ``|`` and every file segment of pFileAddr/pWriteData with ``$`` (docs/sources.md
§6.2): a value holding one would add or shift fields. Used by the interface and by ``Terminal.write_item``.
"""
from __future__ import annotations

from host.errors import IllegalCharacters

SEPARATORS = "|$"


def check_no_separators(value: str, what: str) -> None:
    """``IllegalCharacters`` (-41) if ``value`` holds ``|`` or ``$``, naming ``what`` and the position only."""
    for i, c in enumerate(value, 1):
        if c in SEPARATORS:
            raise IllegalCharacters(f"{what}: character {i} is {c!r}, which separates the standard interface's "
                                    "fields; values may not contain | or $")
