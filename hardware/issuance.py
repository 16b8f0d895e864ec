"""Batch issuance as the host sees it: the one door from ``host`` to ``firmware_sim.batch`` (docs/design.md §1:
``host`` imports ``hardware``, ``hardware`` imports ``firmware_sim``). Writing card images is the
device side's business, so the engine lives in ``firmware_sim``; this module only forwards.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from firmware_sim.batch import (BatchConfig, BatchInputError, BatchResult, Progress, RowError, read_jpeg,
                                read_people, run_batch)

from protocols.keys import IssuerKeys

__all__ = ["BatchInputError", "BatchResult", "RowError", "issue_cards", "read_jpeg"]


def issue_cards(people_csv: Path | str, out_dir: Path | str, *, profile: str = "gen2", region: str = "440100",
                workers: int = 1, durable: bool = False, encoding: str = "utf-8-sig",
                issuers: Iterable[IssuerKeys] = (), progress: Progress | None = None,
                photo_dir: Path | str | None = None) -> BatchResult:
    """Personalise a card image per good row of ``people_csv`` into ``out_dir`` with ``issuers`` (one key set
    per algorithm; the TEST ONLY sets for an algorithm not given). Photos are read from ``photo_dir``
    (default: the CSV's folder) and never from outside it.

    Raises ``BatchInputError`` (a ``ValueError``) when the CSV as a whole is unusable; bad rows are in
    ``result.errors`` with their line numbers.
    """
    csv_path = Path(people_csv)
    photos = Path(photo_dir) if photo_dir is not None else csv_path.parent
    if not photos.is_dir():
        raise BatchInputError(f"photo folder {photos}: not a folder")
    rows = read_people(csv_path, encoding)
    config = BatchConfig(Path(out_dir), profile=profile, region=region, photo_dir=photos,
                         durable=durable, issuers={k.alg: k for k in issuers})
    return run_batch(rows, config, workers=workers, progress=progress)
