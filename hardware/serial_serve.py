"""Serve a simulated reader firmware on a pty (the path is printed / returned) or on TCP 127.0.0.1, optionally
pacing bytes at a line rate so that timings look like a real serial line.

Reference: docs/serial.md §3.2 (pty pairs: keep the slave raw, ``os.ttyname(master)`` is useless,
link a stable name), §3.1 (``socket://`` carries data only), §2.2.2 (libccid opens the pty 8N2 115200), §4.2
("serve.py"). The firmware is sans-I/O (``receive``/``line_idle``/``take_card_seconds``); this module is its I/O.

PIN pad (docs/serial.md §5): a server given a ``keypad`` (``hardware.keypad``) also feeds the firmware's PIN pad the
keys pressed there and runs the pad's timer, so a PC_to_RDR_Secure is answered when the holder is done.

Pacing model: every byte takes ``bits_per_char / baud`` seconds on the wire in each direction (8N2 = 11 bits);
a command is processed when its last byte would have arrived; the card-line time the firmware reports is spent
before the reply is sent (``pace_card``). Without ``baud`` bytes move as fast as the pty allows.
"""
from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import stat
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from firmware_sim.ccid_reader import GEMCORE_SIM_PRO, CcidSerialFirmware, ReaderModel
from firmware_sim.device import Device
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from hardware.keypad import Keypad, PadLink


class PtyPathError(ValueError):
    """The path asked for the pty's link is taken by something this server must not replace."""


_PTY_SLAVE = re.compile(r"/dev/pts/\d+")


def claim_link(link: str) -> None:
    """Make ``link`` free for the pty's symlink, or raise ``PtyPathError`` saying what is in the way.

    Only a stale link of ours is replaced: a symlink owned by this user to a pty that is gone (a server that
    was killed). A file, a folder, a device, any other symlink, or a link to a pty that is still open
    (another server may be serving there) stays as it is.
    """
    try:
        st = os.lstat(link)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(link)
        if not _PTY_SLAVE.fullmatch(target) or st.st_uid != os.geteuid():
            what = f"a symlink to {target}"
        elif os.path.exists(target):
            what = f"a link to {target}, a pty that is still open (is another emulator serving there?)"
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            return
    elif stat.S_ISDIR(st.st_mode):
        what = "a folder"
    elif stat.S_ISREG(st.st_mode):
        what = "a file"
    else:
        what = "a device, socket or pipe"
    raise PtyPathError(f"--serial-pty {link}: there is {what}; give a path that does not exist "
                       "(the emulator makes it a symlink to its pty)")


class Firmware(Protocol):
    def receive(self, data: bytes) -> bytes: ...

    def line_idle(self) -> bytes: ...

    def take_card_seconds(self) -> float: ...

    @property
    def partial(self) -> bool: ...


@dataclass
class LineStats:
    bytes_in: int = 0
    bytes_out: int = 0
    card_seconds: float = 0.0
    log: list[tuple[str, bytes]] = field(default_factory=list)


def _sleep_until(t: float) -> None:
    while True:
        d = t - time.monotonic()
        if d <= 0:
            return
        time.sleep(d)


class FirmwareServer:
    """Runs one firmware on one endpoint (a pty, or a TCP listener taking one client at a time) in a thread."""

    def __init__(self, firmware: Firmware, *, baud: int | None = None, bits_per_char: int = 11,
                 pace_card: bool = True, idle_timeout: float = 0.05, log: bool = False,
                 keypad: Keypad | None = None) -> None:
        self.firmware = firmware
        self.keypad = keypad
        self._pad = PadLink(keypad, firmware) if keypad is not None else None
        self.baud = baud
        self.char_time = bits_per_char / baud if baud else 0.0
        self.pace_card = pace_card and baud is not None
        self.idle_timeout = idle_timeout
        self.keep_log = log
        self.stats = LineStats()
        self.path: str | None = None
        self.address: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._link: str | None = None
        self._pty = ""
        self._listener: socket.socket | None = None
        self._rx_clock = 0.0
        self._tx_clock = 0.0

    # -- endpoints ------------------------------------------------------------------------------------------
    def serve_pty(self, link: str | None = None) -> str:
        """Open a pty pair, serve the master side, return the slave's path (or ``link``, a symlink to it).

        ``link`` must not exist, or be a stale link of ours (:func:`claim_link`); else ``PtyPathError``.
        """
        if link:
            claim_link(link)
        master, slave = os.openpty()
        try:
            tty.setraw(slave)   # no echo, no CR/LF translation until a host opens it (§3.2)
            path = os.ttyname(slave)
            if link:
                try:
                    os.symlink(path, link)           # fails rather than replace what appeared meanwhile
                except FileExistsError:
                    raise PtyPathError(f"--serial-pty {link}: something was created there meanwhile") from None
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        self._pty = path
        if link:
            self._link = link
            path = link
        self.path = path
        self._start(self._pty_loop)
        return path

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on TCP (``socket://host:port`` for pyserial); returns the bound address."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(1)
        self._listener = srv
        self.address = srv.getsockname()[:2]
        self._start(self._tcp_loop)
        return self.address

    @property
    def url(self) -> str:
        if self.path:
            return self.path
        assert self.address is not None
        return f"socket://{self.address[0]}:{self.address[1]}"

    def _start(self, target: Callable[[], object]) -> None:
        self._thread = threading.Thread(target=target, name="sscard-serial-serve", daemon=True)
        self._thread.start()

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self._listener is not None:
            self._listener.close()
        if self._link:
            with contextlib.suppress(OSError):
                if os.readlink(self._link) == self._pty:    # still our link, not what replaced it
                    os.unlink(self._link)

    def __enter__(self) -> FirmwareServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the byte loop ------------------------------------------------------------------------------------------
    def _pty_loop(self) -> None:
        assert self._master is not None
        fd = self._master
        self._serve(lambda n: os.read(fd, n), lambda b: os.write(fd, b), fd)

    def _tcp_loop(self) -> None:
        assert self._listener is not None
        while True:
            r, _, _ = select.select([self._listener.fileno(), self._stop_r], [], [])
            if self._stop_r in r:
                return
            conn, _ = self._listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with conn:
                if self._serve(lambda n: conn.recv(n), lambda b: conn.sendall(b), conn.fileno()):
                    return

    def _serve(self, read: Callable[[int], bytes], write: Callable[[bytes], object], fd: int) -> bool:
        """Serve until the peer goes away (False) or ``close`` is called (True)."""
        pad = self._pad
        watch = [fd, self._stop_r] + ([pad.fileno()] if pad is not None else [])
        while True:
            partial = self.firmware.partial
            timeout = self.idle_timeout if partial else None
            pad_wait = pad.wait() if pad is not None else None
            if pad_wait is not None:
                timeout = pad_wait if timeout is None else min(timeout, pad_wait)
            r, _, _ = select.select(watch, [], [], timeout)
            if self._stop_r in r:
                return True
            if pad is not None:
                with self._lock:
                    out = pad.keys() if pad.fileno() in r else b""
                    out += pad.tick()
                    self.stats.card_seconds += self.firmware.take_card_seconds() if out else 0.0
                self._send(write, out)
            if fd not in r:
                if partial and not r and (pad_wait is None or pad_wait >= self.idle_timeout):
                    with self._lock:
                        out = self.firmware.line_idle()
                    self._send(write, out)
                continue
            try:
                data = read(65536)
            except OSError:
                time.sleep(0.01)   # pty with no slave opener (EIO): wait for the host
                continue
            if not data:
                return False
            now = time.monotonic()
            self.stats.bytes_in += len(data)
            if self.keep_log:
                self.stats.log.append(("in", data))
            if self.char_time:
                self._rx_clock = max(self._rx_clock, now) + len(data) * self.char_time
                _sleep_until(self._rx_clock)
            with self._lock:
                out = self.firmware.receive(data)
                card = self.firmware.take_card_seconds()
                if pad is not None:
                    pad.sync()
            self.stats.card_seconds += card
            if out and self.pace_card and card:
                time.sleep(card)
            self._send(write, out)

    def _send(self, write: Callable[[bytes], object], out: bytes) -> None:
        if not out:
            return
        self.stats.bytes_out += len(out)
        if self.keep_log:
            self.stats.log.append(("out", out))
        if not self.char_time:
            write(out)
            return
        chunk = max(1, int(0.002 / self.char_time))
        self._tx_clock = max(self._tx_clock, time.monotonic())
        for i in range(0, len(out), chunk):
            part = out[i:i + chunk]
            self._tx_clock += len(part) * self.char_time
            _sleep_until(self._tx_clock)
            write(part)


# --- convenience for the CLI ------------------------------------------------------------------------------------
def make_firmware(card: Device | None, psam: Device | None, *, card_profile: LinkProfile | None = None,
                  psam_profile: LinkProfile | None = None, model: ReaderModel = GEMCORE_SIM_PRO) -> CcidSerialFirmware:
    """A two-slot GemCore SIM Pro firmware around APDU-level devices (slot 0 card, slot 1 PSAM)."""
    cards = [Iso7816Card(d, p) if d is not None else None for d, p in ((card, card_profile), (psam, psam_profile))]
    return CcidSerialFirmware(cards, model)


def serve_pty(card: Device | None, psam: Device | None, path: str | None = None, baud: int | None = None, *,
              card_profile: LinkProfile | None = None, psam_profile: LinkProfile | None = None,
              tcp_port: int | None = None) -> FirmwareServer:
    """What ``sscard emulate --serial-pty PATH`` calls: serve card + PSAM on a new pty (``path``, which must
    not exist, becomes a symlink to it), or on TCP 127.0.0.1:``tcp_port`` when given. Returns the running
    server (``.url``)."""
    server = FirmwareServer(make_firmware(card, psam, card_profile=card_profile, psam_profile=psam_profile), baud=baud)
    try:
        if tcp_port is not None:
            server.serve_tcp("127.0.0.1", tcp_port)
        else:
            server.serve_pty(path)
    except BaseException:
        server.close()
        raise
    return server


def serve_pty_cli(devices: list[Device], path: str | None, baud: int | None,
                  stop: threading.Event | None = None, *, protocol: str = "t0", fidi: int | None = None) -> int:
    """``sscard emulate --serial-pty [PATH] [--baud N] [--protocol t0|t1] [--fidi HEX]``: serve ``devices``
    ([card] or [card, PSAM]) on a pty, print the reader spec to use, and run until ``stop`` is set or the
    process is interrupted."""
    card = devices[0] if devices else None
    psam = devices[1] if len(devices) > 1 else None
    profile = LinkProfile.t1(fidi) if protocol == "t1" else (LinkProfile.t0_only(fidi) if fidi else None)
    server = serve_pty(card, psam, path, baud, card_profile=profile)
    print(f"serving a two-slot CCID serial reader (GemCoreSIMPro): --reader ccid-serial:{server.url}",
          file=sys.stderr, flush=True)
    print(f"reader.conf: DEVICENAME {server.url}:GemCoreSIMPro  LIBPATH /usr/lib/pcsc/drivers/serial/libccidtwin.so",
          file=sys.stderr, flush=True)
    return run_until_stopped(server.close, stop)


def run_until_stopped(close: Callable[[], None], stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set or the process is interrupted, then ``close``; the exit code (0)."""
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        close()
    return 0


if __name__ == "__main__":  # pragma: no cover - a manual tool; the CLI owns the real entry point
    print("use `sscard emulate --serial-pty PATH` (host.cli), or serve_pty() from Python", file=sys.stderr)
    sys.exit(2)
