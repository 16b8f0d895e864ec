"""``sscard.toml``: the one configuration file of the command line, the bridge and the native library.

Which file: ``$SSCARD_CONFIG`` (it must then exist), else ``./sscard.toml`` in the current folder, else
``$XDG_CONFIG_HOME/sscard/sscard.toml`` (``~/.config/sscard/sscard.toml``). The first one found is the only
one read; files are not merged. Keys (all optional)::

    reader = "pcsc:ACS"          # a reader spec (docs/design.md §2)
    psam = "SAM"                 # the PSAM of that reader, joined to it as ",psam=…": a reader name or index
                                 # (pcsc), a PSAM image (sim), a serial device (ccid-serial)
    port = 13526                 # the bridge's TCP port (sscard serve)
    device_number = "CTR-0001"   # 终端设备号: iReadCardBas's last field, iGetReaderInfo's pReaderSN
    pin_entry = "console"        # native library: "none" never asks on the terminal

The reader is the first of: the command line (``--reader``), ``$SSCARD_READER``, the file, ``sim``
(``reader_spec``); ``psam`` belongs to the file's reader, so a reader given on the command line or in the
environment is used as given. The bridge's port and device number: the command line, then the file.

The whole file is checked when it is read: an unknown key, a value of the wrong type, a reader spec that does
not parse, a port out of range is a ``ConfigError`` naming the file, the key and the problem (``sscard`` exits 2,
the native library answers -11), never a value silently ignored. Commands read the file only when they need a
value from it, so a command given everything on its command line runs whatever the file holds.

Why one module: the three front ends must agree on where the file is, what it may say and which source wins;
``host.spec.default_spec`` (the Python library's default reader) reads the environment only.
"""
from __future__ import annotations

import datetime
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from host.separators import SEPARATORS
from host.spec import ENV_VAR as READER_ENV, ReaderSpec, ReaderSpecError

CONFIG_ENV = "SSCARD_CONFIG"
FILE_NAME = "sscard.toml"
DEFAULT_READER = "sim"
PIN_ENTRIES = ("console", "none")
KEYS = ("reader", "psam", "port", "device_number", "pin_entry")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Config:
    """What a config file says; ``None`` for a key it leaves out (``path`` None: no file was found)."""

    path: Path | None = None
    reader: str | None = None           # with the file's psam joined to it
    port: int | None = None
    device_number: str | None = None
    pin_entry: str | None = None


def config_path() -> Path | None:
    """The config file to read, or None when there is none (a ``$SSCARD_CONFIG`` naming no file is an error)."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"${CONFIG_ENV} names {path}, which is not a file")
        return path
    local = Path(FILE_NAME)
    if local.is_file():
        return local.absolute()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(base) / "sscard" / FILE_NAME
    return user if user.is_file() else None


def load(path: Path | None = None) -> Config:
    """Read and check ``path``, or the file ``config_path`` finds; an empty ``Config`` when there is none."""
    path = path if path is not None else config_path()
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    return parse(text, path)


def parse(text: str, path: Path) -> Config:
    """Check the TOML ``text`` of the file ``path`` (named in every error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(f"config file {path}: {key} {problem}")

    for key in data:
        if key not in KEYS:
            hint = f"; did you mean {key.replace('-', '_')}?" if key.replace("-", "_") in KEYS else ""
            raise ConfigError(f"config file {path}: unknown key {key!r} (keys: {', '.join(KEYS)}){hint}")
    for key in ("reader", "psam", "device_number", "pin_entry"):
        if key in data and not isinstance(data[key], str):
            raise bad(key, f"must be a string, not {_toml_type(data[key])}")
    reader: str | None = data.get("reader")
    psam: str | None = data.get("psam")
    if reader is not None:
        reader = _check_spec(reader, bad("reader", "is not a reader spec"))
    if psam is not None:
        if not psam.strip():
            raise bad("psam", "is empty")
        if reader is None:
            raise bad("psam", "needs reader in the same file (it names that reader's PSAM)")
        reader = _check_spec(_join_psam(reader, psam, bad), bad("psam", "does not fit the reader"))
    port = data.get("port")
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int):
            raise bad("port", f"must be an integer, not {_toml_type(port)}")
        if not 1 <= port <= 65535:
            raise bad("port", f"must be from 1 to 65535, not {port}")
    device_number: str | None = data.get("device_number")
    if device_number is not None:
        for i, c in enumerate(device_number, 1):
            if c in SEPARATORS:
                raise bad("device_number", f"may not contain | or $ (character {i} is {c!r}): they separate "
                                           "the standard interface's fields")
        try:
            device_number.encode("gbk")
        except UnicodeEncodeError as exc:
            raise bad("device_number", f"has a character GBK cannot encode (character {exc.start + 1})") from None
    pin_entry: str | None = data.get("pin_entry")
    if pin_entry is not None and pin_entry not in PIN_ENTRIES:
        raise bad("pin_entry", f"must be one of {', '.join(PIN_ENTRIES)}, not {pin_entry!r}")
    return Config(path, reader, port, device_number, pin_entry)


def reader_spec(command_line: str | None = None, config: Config | None = None) -> tuple[str, str]:
    """The reader spec to use and where it came from: ``command_line``, else ``$SSCARD_READER``, else the
    config file's (``config``, or the file ``config_path`` finds, read only when needed), else ``sim``."""
    if command_line is not None:
        return command_line, "the command line"
    env = os.environ.get(READER_ENV)
    if env:
        return env, f"${READER_ENV}"
    config = config if config is not None else load()
    if config.reader is not None:
        return config.reader, str(config.path)
    return DEFAULT_READER, "the built-in default"


def _check_spec(spec: str, error: ConfigError) -> str:
    try:
        ReaderSpec.parse(spec)
    except ReaderSpecError as exc:
        raise ConfigError(f"{error}: {exc}") from None
    return spec


def _join_psam(reader: str, psam: str, bad: Callable[[str, str], ConfigError]) -> str:
    """``reader`` with ``,psam=PSAM`` added (``,`` doubled where the spec quotes it); refused when the reader
    names a PSAM already."""
    kind, _, rest = reader.strip().partition(":")
    if kind == "ccid-serial":
        if "," in psam:
            raise bad("psam", "may not contain ',' for a ccid-serial reader")
        taken = any(part.partition("=")[0].strip().lower() == "psam" for part in rest.split(",")[1:])
        joined = f"{reader.strip()},psam={psam}"
    else:
        taken = "psam" in ReaderSpec.parse(reader).options
        quoted = psam.replace(",", ",,")
        joined = f"{reader.strip()},psam={quoted}" if rest else f"{kind}:psam={quoted}"
    if taken:
        raise bad("psam", "is given twice: the reader spec names a PSAM already (psam=)")
    return joined


def _toml_type(value: object) -> str:
    """The TOML name of a value's type, for messages."""
    for types, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
                        (list, "an array"), (dict, "a table"), (datetime.datetime, "a date-time"),
                        (datetime.date, "a date"), (datetime.time, "a time")):
        if isinstance(value, types):
            return name
    return type(value).__name__
