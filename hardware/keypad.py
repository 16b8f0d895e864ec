"""The simulated PIN pad's keypad: where key presses come from, and the clock of a PIN entry.

Reference: docs/serial.md §5 (the GemPC PinPad personality), ``firmware_sim/pinpad.py`` (what the pad does with the
keys, sans-I/O), ``protocols.pinpad`` (key names and the key-script syntax).

* ``Keypad``: a queue of key presses with a wake-up descriptor, and the state of the PIN entry the reader is running
  (which prompt, how many digits typed — never which), so a source can wait until the holder is asked.
* ``PadLink``: what ``FirmwareServer`` runs next to the firmware: keys from the keypad into the firmware, the pad's
  timer (bTimeOut, restarted by every key), the state published back to the keypad.
* Sources: ``ScriptPlayer`` plays a key script (``123456 OK``, ``wait:2`` pauses, ``CANCEL`` …), waiting for each
  prompt before typing into it; ``KeypadSocket`` takes JSON lines on a Unix socket, so a test, a person
  (``socat - UNIX-CONNECT:PATH``) or the counter page's bridge can type (see ``KeypadSocket`` for the messages).
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import IO, Any

from protocols.pinpad import CANCEL, ENTER, KeyEvent, Wait, key_name, parse_keys


class Keypad:
    """Key presses waiting for the reader, and the PIN entry's state as the reader last published it."""

    def __init__(self) -> None:
        self._keys: deque[str] = deque()
        self._cond = threading.Condition()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._closed = False
        self._session: object = None
        self.prompt: str | None = None
        self.prompt_serial = 0        # counts the prompts the reader has shown
        self.digits = 0
        self.timeout: float | None = None
        self.pressed = 0

    # -- the sources' side ------------------------------------------------------------------------------------------
    def press(self, key: str) -> None:
        """Press one key (any name ``protocols.pinpad.key_name`` knows). Keys pressed while no entry goes on are
        dropped by the reader."""
        key = key_name(key)
        with self._cond:
            self._keys.append(key)
            self.pressed += 1
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._w, b"k")

    def wait_prompt(self, after: int, timeout: float | None = None) -> int | None:
        """Block until the reader shows a prompt numbered above ``after``; its number, or None on timeout/close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                if self.prompt is not None and self.prompt_serial > after:
                    return self.prompt_serial
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(0.5 if left is None else min(left, 0.5))
        return None

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"entry": self.prompt is not None, "prompt": self.prompt, "prompt_serial": self.prompt_serial,
                    "digits": self.digits, "timeout": self.timeout}

    # -- the reader's side -----------------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self._r

    def take(self) -> list[str]:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._r, 4096):
                pass
        with self._cond:
            keys = list(self._keys)
            self._keys.clear()
        return keys

    def publish(self, session: object, prompt: str | None, prompt_number: int, digits: int,
                timeout: float | None) -> None:
        """The reader's PIN entry now: ``session`` identifies one Secure command, ``prompt_number`` its prompt."""
        with self._cond:
            key = (id(session), prompt_number) if prompt is not None else None
            if key is not None and key != self._session:
                self.prompt_serial += 1
            self._session = key
            self.prompt, self.digits, self.timeout = prompt, digits, timeout
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


class PadLink:
    """Connects a firmware's PIN pad (``press``, ``pin_time_out``, ``pin_session``, ``pin_timeout``) to a ``Keypad``
    and a clock for ``FirmwareServer``. Every method is called with the server's firmware lock held."""

    def __init__(self, keypad: Keypad, firmware: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.keypad = keypad
        self.firmware = firmware
        self.clock = clock
        self.deadline: float | None = None
        self._session: object = None

    def fileno(self) -> int:
        return self.keypad.fileno()

    def wait(self) -> float | None:
        """Seconds until the pad's timer runs out (None: no entry)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self.clock())

    def keys(self) -> bytes:
        out = bytearray()
        for key in self.keypad.take():
            if self.firmware.pin_session is None:
                continue                      # no entry: a pad ignores its keys
            out += self.firmware.press(key)
            if self.firmware.pin_session is not None:
                self.deadline = self.clock() + self.firmware.pin_timeout   # every key restarts the timer
            self.sync()
        return bytes(out)

    def tick(self) -> bytes:
        """The reply frame if the timer ran out."""
        if self.deadline is None or self.clock() < self.deadline:
            return b""
        out = self.firmware.pin_time_out()
        self.sync()
        return out

    def sync(self) -> None:
        """After any firmware call: start the timer of a new entry, publish the state."""
        session = self.firmware.pin_session
        if session is None:
            self.deadline = None
            self._session = None
            self.keypad.publish(None, None, 0, 0, None)
            return
        if session is not self._session:
            self._session = session
            self.deadline = self.clock() + self.firmware.pin_timeout
        self.keypad.publish(session, session.prompt, session.prompt_number, session.digits, self.firmware.pin_timeout)


# --- sources -------------------------------------------------------------------------------------------------------
TERMINATING = (ENTER, CANCEL)


def play(keypad: Keypad, events: Iterable[KeyEvent], *, stop: threading.Event | None = None,
         prompt_timeout: float | None = None, after: int | None = None) -> bool:
    """Type ``events`` as a holder does: each key waits until the reader shows a prompt; after OK or Cancel the next
    key waits for the next prompt; ``Wait`` pauses. ``after``: the prompt number already answered (default: type
    into the prompt showing now, if any). False when a prompt did not come within ``prompt_timeout`` or ``stop``
    was set."""
    stop = stop or threading.Event()
    if after is None:
        status = keypad.status()
        after = status["prompt_serial"] - (1 if status["entry"] else 0)
    current: int | None = None
    for event in events:
        if stop.is_set():
            return False
        if current is None:
            current = _wait_prompt(keypad, after, stop, prompt_timeout)
            if current is None:
                return False
        if isinstance(event, Wait):
            if stop.wait(event.seconds):
                return False
            continue
        keypad.press(event)
        if event in TERMINATING:
            after, current = current, None
    return True


def _wait_prompt(keypad: Keypad, after: int, stop: threading.Event, limit: float | None) -> int | None:
    deadline = None if limit is None else time.monotonic() + limit
    while not stop.is_set():
        step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        got = keypad.wait_prompt(after, step)
        if got is not None:
            return got
        if deadline is not None and time.monotonic() >= deadline:
            return None
    return None


class ScriptPlayer:
    """Plays a key script (``protocols.pinpad.parse_keys`` syntax) on a thread, prompt by prompt."""

    def __init__(self, keypad: Keypad, script: str | list[KeyEvent]) -> None:
        self.keypad = keypad
        self.events = parse_keys(script) if isinstance(script, str) else list(script)
        self.stop = threading.Event()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sscard-keypad-script", daemon=True)

    def start(self) -> ScriptPlayer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            play(self.keypad, self.events, stop=self.stop, after=0)
        finally:
            self.finished.set()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5)


def read_script(spec: str) -> str:
    """``--keys``: a file's text when ``spec`` names a file, else the script itself."""
    if spec != "-" and os.path.isfile(spec):
        with open(spec, encoding="utf-8") as fh:
            return fh.read()
    return spec


class LinePlayer:
    """Keys typed on a stream (``--keys -``: the emulator's terminal), one script line at a time, as they come."""

    def __init__(self, keypad: Keypad, stream: IO[str] = sys.stdin) -> None:
        self.keypad = keypad
        self.stream = stream
        self._thread = threading.Thread(target=self._run, name="sscard-keypad-lines", daemon=True)

    def start(self) -> LinePlayer:
        self._thread.start()
        return self

    def _run(self) -> None:
        for line in self.stream:
            try:
                events = parse_keys(line)
            except ValueError as exc:
                print(f"keypad: {exc}", file=sys.stderr, flush=True)
                continue
            for event in events:
                if isinstance(event, Wait):
                    time.sleep(event.seconds)
                else:
                    self.keypad.press(event)


class KeypadSocket:
    """The keypad as a Unix socket taking JSON lines (one answer line each):

    * ``{"keys": "123456 OK", "wait": 10}`` types the keys as ``play`` does (into the prompt showing now, or the
      next one within ``wait`` seconds, default 0); answer ``{"ok": true}`` or ``{"ok": false, "error": …}``;
    * ``{"wait": 10}`` waits up to 10 s for a prompt; ``{"status": true}`` answers at once. Both answer the state:
      ``{"ok": true, "entry": true, "prompt": "current", "prompt_serial": 3, "digits": 2, "timeout": 30.0}``
      (how many digits are typed, never which).

    The socket is made 0600 at a path that must not exist (a stale socket nobody answers on is replaced)."""

    def __init__(self, keypad: Keypad, path: str) -> None:
        self.keypad = keypad
        self.path = path
        self._claim(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._sock.bind(path)
        finally:
            os.umask(old)
        self._sock.listen(4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="sscard-keypad-socket", daemon=True)

    @staticmethod
    def _claim(path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ValueError(f"--keypad-socket {path}: something else is there; give a path that does not exist")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)            # a socket nobody answers on: left by an emulator that was killed
            return
        finally:
            probe.close()
        raise ValueError(f"--keypad-socket {path}: another keypad answers there")

    def start(self) -> KeypadSocket:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="sscard-keypad-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as stream:
            for line in stream:
                if not line.strip():
                    continue
                stream.write(json.dumps(self.answer(line), ensure_ascii=False) + "\n")
                stream.flush()

    def answer(self, line: str) -> dict[str, Any]:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            return {"ok": False, "error": 'send JSON objects such as {"keys": "123456 OK"}'}
        wait = message.get("wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0:
            return {"ok": False, "error": "wait is a number of seconds"}
        if "keys" in message:
            keys = message["keys"]
            try:
                events = parse_keys(keys if isinstance(keys, str) else " ".join(map(str, keys)))
            except (ValueError, TypeError) as exc:
                return {"ok": False, "error": str(exc)}
            if not play(self.keypad, events, stop=self._stop, prompt_timeout=float(wait)):
                return {"ok": False, "error": "no PIN entry is waiting for keys"}
            return {"ok": True}
        if wait:
            status = self.keypad.status()
            after = status["prompt_serial"] - (1 if status["entry"] else 0)
            self.keypad.wait_prompt(after, float(wait))
        return {"ok": True, **self.keypad.status()}

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def send(path: str, message: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """One request to a ``KeypadSocket`` (tests, the bridge): the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(message) + "\n").encode("utf-8"))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data.decode("utf-8"))
