"""The standard interface as the shared library libsscard.so calls it (native/sscard.c, README "Native library").

The C side passes each call here as ``dispatch(function, args)``: ``iType``/``iAuthType`` as ints, every
``char*`` input as the raw bytes the caller gave (``None`` for a NULL pointer); it gets back ``(code, out)``
with ``out`` the GBK bytes for pOutInfo. Everything about the interface's inputs is decided here, once, so
the C file only moves bytes and handles buffers:

* GBK at the edge: an input that is not GBK is -41 (illegal characters), a NULL input -14 (bad parameter);
  the output is encoded as GBK (a success whose text GBK cannot hold is -41, never a lossy output).
* One driver per process, made at the first call from the configuration (below) and kept, because the HSM
  flows keep state from one step to the next; ``close()`` drops it, so the next call reads the
  configuration again. A driver that cannot be made (a reader spec naming no reader or image, a config
  file that cannot be used) is -11 (reader connection error), or -2 when the reader has no card.
* Calls from any thread are serialised by one lock taken with the GIL released while waiting, so a call
  blocked on a reader never stops another thread's Python. A call made from inside the PIN callback
  (the same thread already in a call) is refused (-23) instead of deadlocking.
* PIN entry: the callback the C program registered (``sscard_set_pin_callback``), else the controlling
  terminal, else none (-31 at once, as the WebSocket bridge does): a library inside a GUI or a service
  must never wait on a console nobody sees.

Configuration (``host.config``, the file the command line and the bridge read too): the reader is
``$SSCARD_READER``, else ``reader`` (with ``psam``) in the config file, else ``sim``; ``device_number`` and
``pin_entry`` come from the file. The file is ``$SSCARD_CONFIG``, else ``./sscard.toml`` in the calling program's
current folder, else ``$XDG_CONFIG_HOME/sscard/sscard.toml`` (``~/.config/sscard/sscard.toml``):

    reader = "pcsc:0"            # a reader spec (docs/design.md §2); $SSCARD_READER wins
    device_number = "CTR-0001"   # 终端设备号, the last field of iReadCardBas and iGetReaderInfo's pReaderSN
    pin_entry = "console"        # or "none": never ask on the terminal (a PIN callback is asked either way)

A file that cannot be used (an unknown key, a value of the wrong type, a reader spec that does not parse) is
-11 with ``host.config``'s message, which names the file and the key; never ignored.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from host import config, errors as E
from host.standard import FUNCTIONS, Result, SSCardDriver, call, console_pin_entry, failure
from host.standard.pinpad import PinPrompt

#: What the C side's PIN function answers: the PIN's bytes, a return code (-31 cancelled, -32 timeout), or
#: None when no callback is registered.
NativePin = Callable[[int], "bytes | int | None"]
_PROMPT_NUMBER = {PinPrompt.CURRENT: 1, PinPrompt.NEW: 2, PinPrompt.CONFIRM: 3}   # sscard.h SSCARD_PIN_*


# --- configuration ------------------------------------------------------------------------------------------
class ConfigError(E.ReaderError):
    """The config file cannot be used (-11, like a reader that cannot be reached)."""


@dataclass(frozen=True)
class Config:
    reader: str = config.DEFAULT_READER
    device_number: str = ""
    pin_entry: str = "console"
    source: str = "the built-in default"     # where the reader spec came from, for messages


def load_config() -> Config:
    """The configuration: the reader by ``host.config.reader_spec``, the rest from the config file."""
    try:
        file = config.load()
        reader, source = config.reader_spec(None, file)
    except config.ConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Config(reader, file.device_number or "", file.pin_entry or "console", source)


# --- the one driver ------------------------------------------------------------------------------------------
_lock = threading.Lock()
_state = threading.local()          # .busy: this thread is inside a call (e.g. in the PIN callback)
_driver: SSCardDriver | None = None
_config: Config | None = None
_native_pin: NativePin | None = None


def attach(native_pin: NativePin | None) -> None:
    """Called once by the C side with its PIN function (which asks the registered callback, if any)."""
    global _native_pin
    _native_pin = native_pin


def _pin_entry(prompt: PinPrompt) -> str | None:
    if _native_pin is not None:
        answer = _native_pin(_PROMPT_NUMBER[prompt])
        if isinstance(answer, bytes):
            try:
                return answer.decode("ascii")
            except UnicodeDecodeError:
                raise E.IllegalCharacters("the PIN may hold digits only") from None
        if answer == E.PIN_ENTRY_TIMEOUT:
            raise E.PinEntryTimeout(f"PIN entry timed out ({prompt.value})")
        if answer is not None:
            return None                 # -31 or any other code: cancelled
    if _config is None or _config.pin_entry == "none" or not _has_terminal():
        raise E.PinEntryUnavailable("no PIN entry: register a PIN callback (sscard_set_pin_callback) "
                                    "or run with a terminal")
    return console_pin_entry(prompt)


def _has_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _open_driver() -> SSCardDriver:
    global _driver, _config
    if _driver is None:
        settings = load_config()
        try:
            driver = SSCardDriver(settings.reader, pin_entry=_pin_entry, device_number=settings.device_number)
        except E.ReaderError:
            raise
        except (E.SSCardError, ValueError, OSError) as exc:
            raise E.ReaderError(f"reader {settings.reader!r} (from {settings.source}): {exc}") from None
        _driver, _config = driver, settings
    return _driver


def close() -> None:
    """Release the readers and forget the configuration (``sscard_close``)."""
    global _driver, _config
    with _lock:
        driver, _driver, _config = _driver, None, None
    if driver is not None:
        driver.close()


# --- one call ------------------------------------------------------------------------------------------------
def dispatch(function: str, args: tuple[object, ...]) -> tuple[int, bytes]:
    """Run one interface function for the C side: ``(code, pOutInfo as GBK bytes)``. Never raises."""
    if getattr(_state, "busy", False):
        code, out = failure(E.IllegalInput(f"{function} called from inside a call (the PIN callback "
                                           "may not call the library)"))
        return code, _encode_failure(out)
    with _lock:
        _state.busy = True
        try:
            code, out = _run(function, args)
        except Exception as exc:     # a bug must not cross into C as an exception
            code, out = failure(exc)
        finally:
            _state.busy = False
    if code != E.OK:
        return code, _encode_failure(out)
    try:
        return code, out.encode("gbk")
    except UnicodeEncodeError as exc:
        code, out = failure(E.IllegalCharacters(f"the output holds a character GBK cannot encode (position "
                                                f"{exc.start})"))
        return code, _encode_failure(out)


def _run(function: str, args: tuple[object, ...]) -> Result:
    params = FUNCTIONS.get(function)
    if params is None:
        return failure(E.NotSupported(f"unknown function {function!r}"))
    if len(args) != len(params):
        return failure(E.BadParameter(f"{function} takes {len(params)} arguments, got {len(args)}"))
    message: dict[str, object] = {"function": function}
    for param, raw in zip(params, args):
        message[param] = _decode(param, raw)
    try:
        driver = _open_driver()
    except E.SSCardError as exc:
        return failure(exc)
    return call(driver, message)


def _decode(param: str, raw: object) -> object:
    if isinstance(raw, int):
        return raw
    if raw is None:
        raise E.BadParameter(f"{param} is NULL")
    if not isinstance(raw, bytes):
        raise E.BadParameter(f"{param} must be bytes")
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError as exc:
        raise E.IllegalCharacters(f"{param} is not GBK (byte {exc.start})") from None


def _encode_failure(out: str) -> bytes:
    return out.encode("gbk", errors="replace")
