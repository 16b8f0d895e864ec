"""Card images: the card's non-volatile memory as a JSON document a person can read and diff.

Writes are atomic (temp file, fsync, rename, fsync of the folder; docs/design.md §4), so a process killed
at any point leaves the old image or the new one on disk, never a mixture. Applications the card carries beside
the social security environment (``firmware_sim.apps``) keep their data in sections of their own,
``"apps": {"bank": {…}}``, each loaded as strictly by its application; an image without ``apps`` carries none. Images hold the PIN and the
keys in clear: new ones are created ``0600``, rewrites keep the file's mode. Processes sharing an image
lock it for each command and take up each other's writes (:class:`ImageStore`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from firmware_sim.apps import AppData, load_sections
from firmware_sim.image_fields import hex_field
from protocols.codecs import Fmt
from protocols.crypto import KEY_LENGTHS
from protocols.errors import BadCardImage
from protocols.profile import (BinaryFile, CardProfile, DFSpec, Item, KeyUse, RecordFile,
                               profile as get_profile)

CARD_FORMAT = "sscard.card/2"
OLD_CARD_FORMATS = ("sscard.card/1",)   # keys of the old recipes: refused, with how to make a new image

ACTIVE, BLOCKED, BLOCKED_PERMANENTLY = "active", "blocked", "blocked_permanently"
APP_STATES = (ACTIVE, BLOCKED, BLOCKED_PERMANENTLY)


@dataclass(slots=True)
class KeyState:
    value: bytes
    tries_left: int
    max_tries: int


@dataclass(slots=True)
class PurseState:
    """The purse file TF of a DF with a purse (docs/design.md §3.3): the balance in fen and the offline
    transaction counter (the next debit's number)."""

    balance: int
    offline_counter: int

    def to_json(self) -> dict[str, int]:
        return {"balance": self.balance, "offline_counter": self.offline_counter}


@dataclass(slots=True)
class DFState:
    status: str
    keys: dict[int, KeyState]                    # by key ID
    records: dict[int, list[bytes]]              # by EF FID: whole TLV records (linear) or raw (cyclic, newest first)
    binaries: dict[int, bytearray]               # by EF FID
    purse: PurseState | None = None              # a DF whose spec has a purse; None: an image from before it


@dataclass(slots=True)
class CardImage:
    profile: CardProfile
    atr: bytes
    region: str
    pin: str
    pin_tries_left: int
    dfs: dict[str, DFState]
    card_blocked: bool = False
    note: str = ""
    apps: dict[str, AppData] = field(default_factory=dict)      # by section name (firmware_sim.apps)
    extra: dict[str, Any] = field(default_factory=dict)

    # --- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        dfs: dict[str, Any] = {}
        for spec in self.profile.dfs:
            st = self.dfs[spec.name]
            files: dict[str, Any] = {}
            for ef in spec.files:
                if isinstance(ef, BinaryFile):
                    files[ef.name] = {"binary": st.binaries[ef.fid].rstrip(b"\x00").hex().upper()}
                elif ef.cyclic_records:
                    files[ef.name] = {"cyclic": [r.hex().upper() for r in st.records[ef.fid]]}
                else:
                    files[ef.name] = {"records": [_record_to_json(ef, n, r)
                                                  for n, r in enumerate(st.records[ef.fid])]}
            keys = {}
            for ks in spec.keys:
                k = st.keys.get(ks.key_id)
                if k is None:            # a purse key of a card issued before the purse
                    continue
                keys[ks.name] = {"id": f"{ks.key_id:02X}", "value": k.value.hex().upper(),
                                 "tries_left": k.tries_left, "max_tries": k.max_tries}
            dfs[spec.name] = {"status": st.status, "keys": keys, "files": files}
            if st.purse is not None:
                dfs[spec.name]["purse"] = st.purse.to_json()
        out: dict[str, Any] = {
            "format": CARD_FORMAT,
            "note": self.note,
            "profile": self.profile.name,
            "atr": self.atr.hex().upper(),
            "region": self.region,
            "pin": {"value": self.pin, "tries_left": self.pin_tries_left, "max_tries": self.profile.pin_tries},
            "card_blocked": self.card_blocked,
            "dfs": dfs,
        }
        if self.apps:
            out["apps"] = {name: data.to_json() for name, data in self.apps.items()}
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, doc: Any) -> CardImage:
        try:
            return _card_from_json(doc)
        except BadCardImage:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadCardImage(f"card image: {type(exc).__name__}: {exc}") from exc


def _record_to_json(ef: RecordFile, index: int, rec: bytes) -> dict[str, str]:
    """A record as ``{"tag", "name", "value"}`` when it decodes by its schema exactly, else ``{"hex"}``."""
    if index < len(ef.items):
        item = ef.items[index]
        value = _exact_value(item, rec)
        if value is not None:
            return {"tag": _TAG_HEX[item.tag], "name": item.name, "value": value}
    return {"hex": rec.hex().upper()}


_TAG_HEX = tuple(f"{t:02X}" for t in range(256))


# _decode_exactly's answers for immutable records (most are the same on every card of a batch and in every save),
# by the item's identity and the record: hashing an item itself walks all its fields. An entry keeps its item, so
# the identity cannot pass to another item while the entry lives.
_EXACT: dict[tuple[int, bytes], tuple[Item, str | None]] = {}
_EXACT_BOUND = 8192


def _exact_value(item: Item, rec: bytes | bytearray) -> str | None:
    """:func:`_decode_exactly`, remembered for immutable records."""
    if type(rec) is not bytes:
        return _decode_exactly(item, rec)
    key = (id(item), rec)
    hit = _EXACT.get(key)
    if hit is not None and hit[0] is item:
        return hit[1]
    value = _decode_exactly(item, rec)
    if len(_EXACT) >= _EXACT_BOUND:
        _EXACT.clear()
    _EXACT[key] = (item, value)
    return value


def _decode_exactly(item: Item, rec: bytes | bytearray) -> str | None:
    """The value of a whole TLV record if re-encoding it gives the same bytes, else None. ``cn`` and ``b``
    decodings are canonical (the decoder rejects anything else), so only ``an`` (GBK) and B-TLV templates (their
    sub-items) are re-encoded."""
    if not (len(rec) == 2 + item.length and rec[0] == item.tag and rec[1] == item.length):
        return None
    raw = bytes(rec[2:])
    try:
        value = item.decode_value(raw)
        if (item.fmt is Fmt.AN or item.subs) and item.encode_value(value) != raw:
            return None
    except ValueError:
        return None
    return value





def ascii_digits(value: Any, lengths: range | tuple[int, ...]) -> bool:
    """A string of ASCII decimal digits whose length is in ``lengths`` (``str.isdigit`` also takes "１２３",
    "٤٤٠" and "²", which load and then fail in the BCD codecs)."""
    return isinstance(value, str) and len(value) in lengths and value.isascii() and value.isdigit()


def _count(value: Any) -> bool:
    """An integer counter: JSON true/false are not numbers of tries."""
    return isinstance(value, int) and not isinstance(value, bool)


def _card_from_json(doc: Any) -> CardImage:
    if not isinstance(doc, dict):
        raise BadCardImage("card image: the document is not a JSON object")
    if doc.get("format") in OLD_CARD_FORMATS:
        raise BadCardImage(
            f"card image: format {doc['format']!r} holds keys of the old diversification and authentication "
            "recipes; make a new image with `sscard card new --out FILE …` (or `sscard card batch`)")
    if doc.get("format") != CARD_FORMAT:
        raise BadCardImage(f"card image: format is {doc.get('format')!r}, expected {CARD_FORMAT!r}")
    try:
        prof = get_profile(doc["profile"])
    except ValueError as exc:
        raise BadCardImage(f"card image: {exc}") from None
    atr = hex_field(doc["atr"], "atr")
    if not 2 <= len(atr) <= 33:
        raise BadCardImage(f"atr: {len(atr)} bytes is not a valid ATR length")
    region = doc["region"]
    if not ascii_digits(region, (6,)):
        raise BadCardImage("region: expected a 6-digit region code (ASCII 0-9)")
    pin = doc["pin"]["value"]
    if not ascii_digits(pin, range(4, 13)):
        raise BadCardImage("pin.value: expected 4 to 12 decimal digits (ASCII 0-9)")
    tries = doc["pin"]["tries_left"]
    if not (_count(tries) and 0 <= tries <= prof.pin_tries):
        raise BadCardImage(f"pin.tries_left: {tries!r} not in 0..{prof.pin_tries}")
    dfs: dict[str, DFState] = {}
    for spec in prof.dfs:
        where = f"dfs.{spec.name}"
        d = _section(doc["dfs"], spec.name, where, spec.name)
        if d["status"] not in APP_STATES:
            raise BadCardImage(f"{where}.status: {d['status']!r} not one of {APP_STATES}")
        keys: dict[int, KeyState] = {}
        purse = _purse_from_json(spec, d, where)
        for ks in spec.keys:
            kd = d["keys"].get(ks.name)
            if kd is None and purse is None and ks.use in _PURSE_KEY_USES:
                continue             # a card issued before the purse: no purse, no purse keys
            if not isinstance(kd, dict):
                raise BadCardImage(f"{where}.keys.{ks.name}: missing")
            value = hex_field(kd["value"], f"{where}.keys.{ks.name}.value")
            if len(value) not in KEY_LENGTHS[prof.alg]:
                raise BadCardImage(f"{where}.keys.{ks.name}.value: {len(value)} bytes is not a key length")
            mt, tl = kd.get("max_tries", ks.tries), kd["tries_left"]
            if not (_count(tl) and _count(mt) and 0 <= tl <= mt):
                raise BadCardImage(f"{where}.keys.{ks.name}.tries_left: {tl!r} not in 0..{mt!r}")
            keys[ks.key_id] = KeyState(value, tl, mt)
        records: dict[int, list[bytes]] = {}
        binaries: dict[int, bytearray] = {}
        for ef in spec.files:
            fwhere = f"{where}.files.{ef.name}"
            fd = _section(d["files"], ef.name, fwhere, "this file")
            if isinstance(ef, BinaryFile):
                data = hex_field(fd["binary"], f"{fwhere}.binary")
                if len(data) > ef.size:
                    raise BadCardImage(f"{fwhere}.binary: {len(data)} bytes exceed the file size {ef.size}")
                binaries[ef.fid] = bytearray(data.ljust(ef.size, b"\x00"))
            elif ef.cyclic_records:
                recs = [hex_field(r, f"{fwhere}.cyclic[{i}]") for i, r in enumerate(fd["cyclic"])]
                if len(recs) > ef.cyclic_records or any(len(r) != ef.record_size for r in recs):
                    raise BadCardImage(f"{fwhere}.cyclic: at most {ef.cyclic_records} records of "
                                       f"{ef.record_size} bytes")
                records[ef.fid] = recs
            else:
                recs = fd["records"]
                if len(recs) != len(ef.items):
                    raise BadCardImage(f"{fwhere}.records: {len(recs)} records, the schema has {len(ef.items)}")
                records[ef.fid] = [_record_from_json(ef, i, r, f"{fwhere}.records[{i}]")
                                   for i, r in enumerate(recs)]
        dfs[spec.name] = DFState(d["status"], keys, records, binaries, purse)
    blocked = doc.get("card_blocked", False)
    if not isinstance(blocked, bool):
        raise BadCardImage("card_blocked: expected true or false")
    apps = load_sections(doc["apps"]) if "apps" in doc else {}
    return CardImage(prof, atr, region, pin, tries, dfs, blocked, str(doc.get("note", "")), apps)


def _section(parent: dict[str, Any], name: str, where: str, what: str) -> dict[str, Any]:
    """``parent[name]``, the object of a DF or file the profile has; an image made before the profile had ``what``
    lacks it."""
    section = parent.get(name)
    if not isinstance(section, dict):
        raise BadCardImage(f"{where}: missing (an image made before the profile had {what}: make a new one with "
                           "`sscard card new` or `sscard card batch`)")
    return section


_PURSE_KEY_USES = (KeyUse.PURCHASE, KeyUse.TAC)


def _purse_from_json(spec: DFSpec, d: dict[str, Any], where: str) -> PurseState | None:
    """The DF's purse: required with its keys when the image has one; an image of a card issued before the purse
    has neither (its DF answers the purse commands 6A82)."""
    if "purse" not in d:
        if spec.purse is not None and any(k.name in d["keys"] for k in spec.keys if k.use in _PURSE_KEY_USES):
            raise BadCardImage(f"{where}.purse: missing (the image has the purse keys)")
        return None
    if spec.purse is None:
        raise BadCardImage(f"{where}.purse: {spec.name} has no purse")
    p = d["purse"]
    if not isinstance(p, dict) or set(p) != {"balance", "offline_counter"}:
        raise BadCardImage(f"{where}.purse: expected balance and offline_counter")
    balance, counter = p["balance"], p["offline_counter"]
    if not (_count(balance) and 0 <= balance <= 0xFFFFFFFF):
        raise BadCardImage(f"{where}.purse.balance: expected fen from 0 to 4294967295")
    if not (_count(counter) and 0 <= counter <= 0xFFFF):
        raise BadCardImage(f"{where}.purse.offline_counter: expected 0 to 65535")
    return PurseState(balance, counter)


def _record_from_json(ef: RecordFile, index: int, rec: Any, where: str) -> bytes:
    item = ef.items[index]
    if not isinstance(rec, dict):
        raise BadCardImage(f"{where}: expected an object")
    if "hex" in rec:
        raw = hex_field(rec["hex"], where + ".hex")
    else:
        try:
            raw = item.encode_record(rec["value"])
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadCardImage(f"{where} ({item.name}): {exc}") from None
        if "tag" in rec and hex_field(rec["tag"], where + ".tag") != bytes((item.tag,)):
            raise BadCardImage(f"{where}: tag {rec['tag']} is not the schema's {item.tag:02X}")
    if len(raw) != 2 + item.length or raw[0] != item.tag or raw[1] != item.length:
        raise BadCardImage(f"{where}: record must be {item.tag:02X} {item.length:02X} and {item.length} bytes")
    return raw


# --- storage -----------------------------------------------------------------------------------------

_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
NEW_FILE_MODE = 0o600        # images hold the PIN and the keys: only the owner reads a new one
_TEMP_SUFFIX = re.compile(r"(?:(?P<pid>\d+)\.\d+|[a-z0-9_]{8})\.tmp")    # after "IMAGE."


def _temp_name(path: str) -> str:
    """``IMAGE.PID.THREAD.tmp``: one writer per thread, and a name that says which process wrote it."""
    return f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"


def atomic_write(path: Path | str, text: str, *, durable: bool = True, replace: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (temp file, rename): a reader sees the old file or the new.

    ``replace=False`` never replaces a file that is there: ``FileExistsError`` instead, and nothing is written
    (the temp file is linked into place, which fails if the name exists, even if another process made it
    a moment ago).

    A new file is created ``0600``; a rewrite keeps the mode (and, where allowed, the owner) of the file it
    replaces. The temp file is ``0600`` from its creation on, so an interrupted write never exposes more.
    ``durable`` also fsyncs the file before the rename and the folder after it, so the new state survives a
    power cut once this returns (a card's live state). Without it the caller syncs later (batch issuance).
    """
    path = os.fspath(path)
    tmp = _temp_name(path)
    data = memoryview(text.encode("utf-8"))
    try:
        old = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        old = None
    try:
        fd = os.open(tmp, _O_NEW, NEW_FILE_MODE)
        try:
            # fchmod, not O_CREAT's mode: that one is masked by the umask and ignored for a left-over file
            os.fchmod(fd, stat.S_IMODE(old.st_mode) if old is not None else NEW_FILE_MODE)
            if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, old.st_uid, old.st_gid)
            while data:
                data = data[os.write(fd, data):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _link_new(tmp: str, path: str) -> None:
    """Put ``tmp`` in place at ``path`` only if nothing is there (``FileExistsError``); ``tmp`` is gone after."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists", path) from None
    except OSError:                 # a file system without hard links: check, then rename
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists", path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: Path | str, name: str | None = None) -> list[str]:
    """Delete the temp files that interrupted writes left in ``folder``: of the image ``name`` only, or of
    every ``*.json`` image when ``name`` is None. Returns the names removed.

    ``IMAGE.PID.THREAD.tmp`` (:func:`atomic_write`) is stale once process PID is gone;
    ``IMAGE.<8 random characters>.tmp`` (``tempfile.mkstemp``, fault injection) is stale whenever the image is
    opened again. Nothing else is touched.
    """
    removed: list[str] = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if name is not None:
            if not entry.startswith(name + "."):
                continue
            m = _TEMP_SUFFIX.fullmatch(entry, len(name) + 1)
        else:
            image, dot, _ = entry.partition(".json.")
            m = _TEMP_SUFFIX.fullmatch(entry, len(image) + len(dot)) if dot else None
            if m is not None and m["pid"] is None:
                continue          # whose image is it? only a writer's pid says it is stale
        if m is None or (m["pid"] is not None and _process_alive(int(m["pid"]))):
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.unlink(os.path.join(folder, entry))
            removed.append(entry)
    return removed


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def load_json(path: Path | str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise BadCardImage(f"{path}: not JSON ({exc})") from None
    except UnicodeDecodeError:
        raise BadCardImage(f"{path}: not UTF-8 text") from None
    except RecursionError:   # e.g. "[[[[…": found by tests/fuzz
        raise BadCardImage(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:   # an integer of thousands of digits (sys.int_max_str_digits)
        if "integer string conversion" in str(exc):
            raise BadCardImage(f"{path}: a number of more than {sys.get_int_max_str_digits()} digits") from None
        raise BadCardImage(f"{path}: not a usable JSON document ({exc})") from None


_Image = TypeVar("_Image")


def load_image(path: Path | str, from_json: Callable[[Any], _Image]) -> _Image:
    """Load an image file with ``from_json`` (a card's or a PSAM's); a bad image's error names the file."""
    doc = load_json(path)
    try:
        return from_json(doc)
    except BadCardImage as exc:
        raise BadCardImage(f"{path}: {exc}") from None


def load_card(path: Path | str) -> CardImage:
    """Load a card image file; a bad image's error names the file."""
    return load_image(path, CardImage.from_json)


_Signature = tuple[int, int, int, int]    # device, inode, size, mtime_ns of the image file
# The lock file holds "GGGGGGGGGGGGGGGGGGGG F\n": a 20-digit generation counter and a save mark.
_FLAG_AT, _STATE_SIZE = 21, 23
_WRITING, _IDLE = b"w", b"-"


class ImageStore:
    """Where a device keeps its image: a JSON file written atomically, or nowhere (``path=None``).

    Several processes may serve one image at once (``sscard emulate``, ``sscard serve``, the CLI). Each
    command a device runs holds an exclusive ``flock`` on ``IMAGE.lock`` beside the image
    (:meth:`begin_command` … :meth:`end_command`), and :meth:`begin_command` first reloads the image when it
    changed since this store last saw it: another process saved (the generation counter every save counts
    in the lock file moved on) or replaced the file (its device, inode, size or mtime differ).

    The lock file also records a save in progress; opening a store after one that never finished (a process
    killed mid-write) deletes the temp files interrupted writes of this image left behind. The folder is
    only listed then, so opening an image among thousands stays cheap.
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._file = os.fspath(path) if path is not None else ""
        self._lock_file = self._file + ".lock"
        self._lock: _LockFile | None = None
        self._held = False
        self._depth = 0
        self._seen: tuple[int, _Signature | None] | None = None    # (generation, file) at our last look
        if self.path is not None:
            with self.locked():
                if self._state()[1] == _WRITING:
                    remove_stale_temporaries(self.path.parent, self.path.name)
                    self._record(self._state()[0], _IDLE)

    @property
    def lock_path(self) -> Path | None:
        return Path(self._lock_file) if self.path is not None else None

    def save(self, doc: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.locked():
            self.mark_writing()
            atomic_write(self._file, dumps(doc))
            self._saved()

    def mark_writing(self) -> None:
        """Note in the lock file (held) that a save is under way; a completed save clears the mark."""
        if self._held:
            os.pwrite(self._lock.fd, _WRITING, _FLAG_AT)   # type: ignore[union-attr]  # held implies a lock file

    # --- cross-process coherence ---------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the image's lock (re-entrant within this store); no reload."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def begin_command(self, reload: Callable[[], None]) -> None:
        """Take the lock for one command; call ``reload`` first if the image changed since we last saw it.

        If ``reload`` raises (the file is no longer a good image), the lock is released and the error passes.
        """
        self._acquire()
        try:
            now = self._state()[0], self._signature()
            if now != self._seen:
                if now[1] is not None:
                    reload()
                self._seen = now
        except BaseException:
            self._release()
            raise

    def end_command(self) -> None:
        self._release()

    def _saved(self) -> None:
        """After a save under the lock: count a generation, clear the save mark, remember the file as ours."""
        generation = self._state()[0] + 1
        self._record(generation, _IDLE)
        self._seen = (generation, self._signature())

    def _state(self) -> tuple[int, bytes]:
        """The lock file's generation counter and save mark (0 and idle without a lock file)."""
        if not self._held:
            return 0, _IDLE
        text = os.pread(self._lock.fd, _STATE_SIZE, 0)   # type: ignore[union-attr]  # held implies a lock file
        digits = text[:_FLAG_AT - 1]
        return (int(digits) if digits.isdigit() else 0), text[_FLAG_AT:_FLAG_AT + 1] or _IDLE

    def _record(self, generation: int, flag: bytes) -> None:
        if self._held:
            os.pwrite(self._lock.fd, b"%020d %s\n" % (generation, flag), 0)   # type: ignore[union-attr]  # held implies a lock file

    def _signature(self) -> _Signature | None:
        try:
            st = os.stat(self._file)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _acquire(self) -> None:
        if self._depth == 0 and self.path is not None:
            self._held = self._lock_now()
        self._depth += 1

    def _release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._held:
            self._held = False
            fcntl.flock(self._lock.fd, fcntl.LOCK_UN)   # type: ignore[union-attr]  # held implies a lock file

    def _lock_now(self) -> bool:
        """Take the exclusive flock on the lock file there is now; False where none can be made (a read-only
        folder, where no process can replace the image either)."""
        while True:
            if self._lock is None:
                try:
                    self._lock = _LockFile(self._lock_file)
                except OSError as exc:
                    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                        return False
                    raise
            fcntl.flock(self._lock.fd, fcntl.LOCK_EX)
            try:
                st = os.stat(self._lock_file)
                if (st.st_dev, st.st_ino) == self._lock.ident:
                    return True
            except FileNotFoundError:
                pass
            self._lock.close()       # deleted or replaced while we waited: lock the one there now
            self._lock = None


class _LockFile:
    """An open lock file (created 0600); closed when dropped."""

    __slots__ = ("fd", "ident")

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), NEW_FILE_MODE)
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()
