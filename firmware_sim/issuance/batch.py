"""Batch issuance: personalise one card image per row of a CSV of people.

Each good row becomes ``DIR/<card_number>.json`` built by :func:`firmware_sim.issuance.personalise.new_card`:
keys diversified root → city → card from the card's own ATR, card identification code MACed with the
card's IRK (docs/design.md §3 "Key diversification", "Card identification code"). Bad rows are reported with
their line number and the batch goes on.

Columns (header row required, UTF-8): ``name``, ``ssn``, ``card_number`` (required); optional ``region``,
``profile``, ``serial``, ``photo`` (a JPEG inside the photo folder: the CSV's own, or ``--photos DIR``; see
:func:`photo_in`), ``bank_holder_name`` (the name on the bank application, EMV style ``CHEN/XIAOMING``),
``purse_balance`` (the medical purse's balance in yuan, ``100.00``, as ``card new --purse-balance`` takes it;
default 0) and any item name of the card profile (``name_ext``, ``issue_date``, ``expiry_date``, ``ethnicity`` …).
Empty cells mean "default". gen2 and gen3 cards get the bank application with test-only data unless the batch
leaves it out (``BatchConfig.bank``); gen3 cards get the PKI application, a key pair and a test CA certificate
(``BatchConfig.pki``).

ATR serial: the ``serial`` column when given, else the card number read as a base-36 number, modulo 2³²
(the ATR holds 4 serial bytes after the region, as real cards do). Card numbers of one batch rarely lie
2³² apart; when two rows still meet on a serial, the later row is refused (distinct ATRs give distinct
card keys), and re-running a batch reproduces the same cards.

An image already in ``DIR`` is never replaced unless ``force`` is given: it may be a card in use (its PIN
changed, its items rewritten). Its row is refused (``RowError.exists``) and nothing is written for it.

Durability choice (differs from a card's live state, docs/design.md §4): every image is written to a temp
file and renamed into place, so a reader of ``DIR`` never sees half a file, but there is **no fsync per
file**. At the end of the batch the output file system is synced once (``syncfs``, else ``sync``) and the
folder fsynced. A batch killed before that may lose images or leave empty ones (they fail to load with
``BadCardImage``); the remedy is to run the batch again with ``force``, which rewrites identical images (but for
a gen3 card's PKI key pair and certificate, new each time) and deletes the temp files the killed batch left. A card's own state cannot be re-created that way, which is why
``ImageStore`` fsyncs every write. ``durable=True`` restores the per-file fsync (about 10× slower on a
disk). Images are created ``0600``: they hold the card keys and the PIN.
"""
from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path, PurePath
from typing import Any

from firmware_sim.image import atomic_write, dumps, remove_stale_temporaries
from firmware_sim.issuance.personalise import BANK_HOLDER, REQUIRED, new_card, read_jpeg
from protocols.crypto import Alg
from protocols.keys import IssuerKeys, test_issuer_keys
from protocols.profile import PROFILES, RecordFile
from protocols.purse import parse_yuan

PURSE_BALANCE = "purse_balance"
SETTINGS = ("region", "profile", "serial", "photo", PURSE_BALANCE)
ITEM_COLUMNS = frozenset(it.name for p in PROFILES.values() for df in p.dfs for f in df.files
                         if isinstance(f, RecordFile) for it in f.items) - {"card_id"}
COLUMNS = frozenset(REQUIRED) | frozenset(SETTINGS) | ITEM_COLUMNS | {BANK_HOLDER}
MAX_SERIAL = (1 << 32) - 1

Progress = Callable[[int, int], None]   # (rows done, rows in all)


class BatchInputError(ValueError):
    """The CSV as a whole cannot be used (unreadable, no header, missing or unknown columns)."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int                 # 1-based line of the CSV where the row starts (the header is line 1)
    fields: dict[str, str]
    error: str = ""           # the row could not even be split into the header's columns


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    card_number: str
    message: str
    exists: bool = False      # refused because its image is already there (and ``force`` was not given)

    def __str__(self) -> str:
        who = f" ({self.card_number})" if self.card_number else ""
        return f"line {self.line}{who}: {self.message}"


@dataclass
class BatchResult:
    out_dir: Path
    rows: int = 0
    issued: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rate(self) -> float:
        return self.issued / self.seconds if self.seconds > 0 else 0.0


# --- input ---------------------------------------------------------------------------------------------
class NotInEncoding(BatchInputError):
    """The CSV's bytes are not text in the encoding asked for; ``gbk`` tells whether they read as GBK (what
    Excel on Chinese Windows saves)."""

    def __init__(self, message: str, gbk: bool) -> None:
        super().__init__(message)
        self.gbk = gbk


def _encoding_name(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else encoding


def read_people(path: Path | str, encoding: str = "utf-8-sig") -> list[Row]:
    """Rows of a people CSV with their starting line numbers; ``BatchInputError`` if the file is unusable
    (``NotInEncoding`` if it is not ``encoding`` text)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise BatchInputError(f"unknown text encoding {encoding!r} (e.g. utf-8, gbk, gb18030)") from None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        try:
            raw.decode("gbk")
            gbk = True
        except UnicodeDecodeError:
            gbk = False
        raise NotInEncoding(f"{path}: not {_encoding_name(encoding)} text (line {line}, byte {exc.start + 1}: "
                            f"{exc.reason})", gbk) from None
    try:
        return list(parse_people(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise BatchInputError(f"{path}: {exc}") from None


def parse_people(lines: Iterable[str]) -> Iterator[Row]:
    """Rows of CSV text; the header decides the columns (see the module docstring)."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise BatchInputError("the CSV is empty (a header row is required)") from None
    names = [h.strip().lower().replace("-", "_").replace(" ", "_") for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BatchInputError(f"header lacks the column(s) {', '.join(missing)}")
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise BatchInputError(f"unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(COLUMNS))}")
    if len(set(names)) != len(names):
        raise BatchInputError("a column appears twice in the header")
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            yield Row(line, {}, f"{len(cells)} cells, the header has {len(names)}")
            continue
        yield Row(line, {n: c.strip() for n, c in zip(names, cells)})


def photo_in(folder: Path, name: str) -> bytes:
    """The JPEG a CSV's ``photo`` cell names: a path relative to ``folder`` that stays inside it. Absolute
    paths, ``..`` and symlinks that lead out of ``folder`` are refused (``ValueError``), so a CSV cannot put
    an arbitrary file of this machine on a card."""
    what = f"photo {name!r}"
    rel = PurePath(name)
    if rel.is_absolute():
        raise ValueError(f"{what}: an absolute path; photos are named relative to the photo folder {folder}")
    if ".." in rel.parts:
        raise ValueError(f"{what}: '..' leads out of the photo folder {folder}")
    base = folder.resolve()
    try:
        real = (base / rel).resolve(strict=True)
    except FileNotFoundError:
        raise ValueError(f"{what}: no such file in the photo folder {folder}") from None
    except (OSError, RuntimeError):
        raise ValueError(f"{what}: cannot be resolved (a symlink loop?)") from None
    if not real.is_relative_to(base):
        raise ValueError(f"{what}: a symlink that leads out of the photo folder {folder}")
    return read_jpeg(real, what)


def purse_balance_of(cell: str) -> int:
    """The ``purse_balance`` cell in fen (empty: 0): yuan with at most two decimals, as ``card new
    --purse-balance`` takes it (``protocols.purse.parse_yuan``); ``ValueError`` naming the column, not the value."""
    if not cell:
        return 0
    try:
        return parse_yuan(cell)
    except ValueError as exc:
        raise ValueError(f"{PURSE_BALANCE}: {exc}") from None


def serial_for(card_number: str) -> int:
    """The default ATR serial of a card: its 9-character card number as a base-36 number, modulo 2³²."""
    return int(card_number, 36) % (1 << 32)


# --- output ----------------------------------------------------------------------------------------------
def fast_dumps(doc: Any) -> str:
    """The same text as ``firmware_sim.image.dumps`` (``json.dumps(indent=1, ensure_ascii=False)`` and a
    newline), several times faster: the standard library formats indented JSON in pure Python."""
    try:
        return _fmt(doc, "\n") + "\n"
    except _Unsupported:
        return dumps(doc)


class _Unsupported(Exception):
    pass


def _scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if type(v) is int:
        return int.__repr__(v)
    raise _Unsupported


def _fmt(o: Any, nl: str) -> str:
    """``o`` (a dict or list) at the indentation ``nl``; scalars are inlined to save calls."""
    inner = nl + " "
    enc = encode_basestring
    parts = []
    if type(o) is dict:
        if not o:
            return "{}"
        for k, v in o.items():
            if type(k) is not str:
                raise _Unsupported
            tv = type(v)
            if tv is str:
                parts.append(enc(k) + ": " + enc(v))
            elif tv is dict or tv is list:
                parts.append(enc(k) + ": " + _fmt(v, inner))
            elif tv is int:
                parts.append(enc(k) + ": " + int.__repr__(v))
            else:
                parts.append(enc(k) + ": " + _scalar(v))
        return "{" + inner + ("," + inner).join(parts) + nl + "}"
    if type(o) is not list:
        raise _Unsupported
    if not o:
        return "[]"
    for v in o:
        tv = type(v)
        if tv is str:
            parts.append(enc(v))
        elif tv is dict or tv is list:
            parts.append(_fmt(v, inner))
        else:
            parts.append(_scalar(v))
    return "[" + inner + ("," + inner).join(parts) + nl + "]"


def sync_folder(folder: Path) -> None:
    """Flush the folder's file system once (``syncfs``; ``sync`` where that is missing), then the folder."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.syncfs(fd) != 0:
                raise OSError(ctypes.get_errno(), "syncfs failed")
        except (AttributeError, OSError):
            os.sync()
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the engine -------------------------------------------------------------------------------------------
class _CityKeyCache(IssuerKeys):
    """An issuer key set whose city keys are derived once per region: they are the same for every card of a
    city, and half of the diversification work of a card otherwise (docs/design.md §3)."""

    def city_keys(self, region: str) -> dict[str, bytes]:
        cache: dict[str, dict[str, bytes]] = self.__dict__.setdefault("_cities", {})
        keys = cache.get(region)
        if keys is None:
            keys = cache[region] = super().city_keys(region)
        return dict(keys)



def _cached(issuer: IssuerKeys) -> IssuerKeys:
    return issuer if isinstance(issuer, _CityKeyCache) else _CityKeyCache(issuer.label, issuer.alg, issuer.keys)


@dataclass
class BatchConfig:
    out_dir: Path
    profile: str = "gen2"
    region: str = "440100"
    photo_dir: Path = Path(".")
    durable: bool = False
    issuers: Mapping[Alg, IssuerKeys] | None = None   # default: the TEST ONLY key sets
    force: bool = False                                # replace images that are already there
    bank: bool | None = None       # the bank application: None on gen2/gen3 cards, False on none, True on all
    pki: bool | None = None        # the PKI application: None on gen3 cards, False on none


class Issuer:
    """Personalises rows into ``config.out_dir``; one instance per process."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        given = dict(config.issuers or {})
        self._issuers = {alg: _cached(given.get(alg) or test_issuer_keys(alg)) for alg in Alg}
        self._photos: dict[str, bytes] = {}

    def issue(self, row: Row, serial: int) -> RowError | None:
        """Write one card image; a ``RowError`` instead if the row is bad."""
        f = row.fields
        try:
            if row.error:
                raise ValueError(row.error)
            profile = f.get("profile") or self.config.profile
            if profile not in PROFILES:
                raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
            person = {k: v for k, v in f.items() if v and k not in SETTINGS}
            balance = purse_balance_of(f.get(PURSE_BALANCE, ""))
            photo = self._photo(f["photo"]) if f.get("photo") else b""
            card = new_card(person, profile=profile, region=f.get("region") or self.config.region, serial=serial,
                            issuer=self._issuers[PROFILES[profile].alg], photo=photo, bank=self.config.bank,
                            purse_balance=balance,
                            pki=None if self.config.pki is None else self.config.pki and profile == "gen3")
            text = fast_dumps(card.to_json())
            out = self.config.out_dir / f"{f['card_number']}.json"
            try:
                atomic_write(out, text, durable=self.config.durable, replace=self.config.force)
            except FileExistsError:
                return RowError(row.line, f.get("card_number", ""),
                                f"{out} exists: not replaced (it may be a card in use; --force replaces it)",
                                exists=True)
        except (ValueError, OSError) as exc:
            return RowError(row.line, f.get("card_number", ""), str(exc))
        return None

    def _photo(self, name: str) -> bytes:
        data = self._photos.get(name)
        if data is None:
            data = self._photos[name] = photo_in(self.config.photo_dir, name)
        return data


def plan(rows: list[Row]) -> tuple[list[tuple[Row, int]], list[RowError]]:
    """Give each row its ATR serial; rows whose card number or serial repeats an earlier row are bad."""
    todo: list[tuple[Row, int]] = []
    errors: list[RowError] = []
    numbers: dict[str, int] = {}
    serials: dict[int, int] = {}
    for row in rows:
        f = row.fields
        cn = f.get("card_number", "")
        try:
            if row.error:
                raise ValueError(row.error)
            if cn in numbers:
                raise ValueError(f"card_number {cn} repeats line {numbers[cn]}")
            text = f.get("serial", "")
            serial: int | None = None
            if text:
                try:
                    serial = int(text, 0)
                except ValueError:
                    raise ValueError(f"serial {text!r} is not a number") from None
                if not 0 <= serial <= MAX_SERIAL:
                    raise ValueError(f"serial {text} does not fit the ATR's 4 serial bytes")
            elif len(cn) == 9 and cn.isascii() and cn.isalnum() and cn.upper() == cn:
                serial = serial_for(cn)
            if serial is not None and serial in serials:
                raise ValueError(f"ATR serial {serial:08X} repeats line {serials[serial]}")
        except ValueError as exc:
            errors.append(RowError(row.line, cn, str(exc)))
            continue
        if cn:
            numbers[cn] = row.line
        if serial is None:     # no usable card number: the row's own validation will say why
            serial = 0
        else:
            serials[serial] = row.line
        todo.append((row, serial))
    return todo, errors


def run_batch(rows: list[Row], config: BatchConfig, *, workers: int = 1,
              progress: Progress | None = None) -> BatchResult:
    """Personalise every good row; never stops on a bad one. ``workers`` > 1 uses that many processes."""
    t0 = time.perf_counter()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(config.out_dir)      # temp files of an earlier batch that was killed
    result = BatchResult(config.out_dir, rows=len(rows))
    todo, result.errors = plan(rows)
    total, done = len(rows), len(rows) - len(todo)
    if progress:
        progress(done, total)
    if workers <= 1 or len(todo) < 2 * _CHUNK:
        issuer = Issuer(config)
        step = max(1, total // 200)
        for row, serial in todo:
            err = issuer.issue(row, serial)
            if err is None:
                result.issued += 1
            else:
                result.errors.append(err)
            done += 1
            if progress and (done % step == 0 or done == total):
                progress(done, total)
    else:
        for issued, errors in _run_parallel(todo, config, workers):
            result.issued += issued
            result.errors.extend(errors)
            done += issued + len(errors)
            if progress:
                progress(done, total)
    sync_folder(config.out_dir)
    result.errors.sort(key=lambda e: e.line)
    result.seconds = time.perf_counter() - t0
    return result


def issue_cards(people_csv: Path | str, out_dir: Path | str, *, profile: str = "gen2", region: str = "440100",
                workers: int = 1, durable: bool = False, encoding: str = "utf-8-sig",
                issuers: Iterable[IssuerKeys] = (), progress: Progress | None = None,
                photo_dir: Path | str | None = None, force: bool = False, bank: bool | None = None,
                pki: bool | None = None) -> BatchResult:
    """Personalise a card image per good row of ``people_csv`` into ``out_dir`` with ``issuers`` (one key set
    per algorithm; the TEST ONLY sets for an algorithm not given). Photos are read from ``photo_dir``
    (default: the CSV's folder) and never from outside it. Images already in ``out_dir`` are kept (their rows are
    errors with ``exists`` set) unless ``force``. ``bank``, ``pki``: see ``BatchConfig``.

    Raises ``BatchInputError`` (a ``ValueError``) when the CSV as a whole is unusable; bad rows are in
    ``result.errors`` with their line numbers.
    """
    csv_path = Path(people_csv)
    photos = Path(photo_dir) if photo_dir is not None else csv_path.parent
    if not photos.is_dir():
        raise BatchInputError(f"photo folder {photos}: not a folder")
    rows = read_people(csv_path, encoding)
    config = BatchConfig(Path(out_dir), profile=profile, region=region, photo_dir=photos,
                         durable=durable, issuers={k.alg: k for k in issuers}, force=force, bank=bank,
                         pki=pki)
    return run_batch(rows, config, workers=workers, progress=progress)


# --- processes ---------------------------------------------------------------------------------------------
_CHUNK = 250
_worker: Issuer | None = None


def _init_worker(config: BatchConfig) -> None:
    global _worker
    _worker = Issuer(config)


def _issue_chunk(chunk: list[tuple[Row, int]]) -> tuple[int, list[RowError]]:
    assert _worker is not None
    errors = [e for e in (_worker.issue(row, serial) for row, serial in chunk) if e is not None]
    return len(chunk) - len(errors), errors


def _run_parallel(todo: list[tuple[Row, int]], config: BatchConfig,
                  workers: int) -> Iterator[tuple[int, list[RowError]]]:
    import multiprocessing
    chunks = [todo[i:i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
    with multiprocessing.get_context().Pool(workers, _init_worker, (config,)) as pool:
        yield from pool.imap_unordered(_issue_chunk, chunks)


def report_json(result: BatchResult) -> str:
    """A machine-readable summary (for ``--json``)."""
    return json.dumps({"out": str(result.out_dir), "rows": result.rows, "issued": result.issued,
                       "bad_rows": [{"line": e.line, "card_number": e.card_number, "error": e.message}
                                    for e in result.errors],
                       "seconds": round(result.seconds, 3)}, ensure_ascii=False)
