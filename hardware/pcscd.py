"""A private pcscd that leaves the system one alone (docs/peers.md §2.6, §4.3).

Runs a bench of PC/SC readers without touching the machine's own pcscd: ``sscard pcscd`` (vpcd readers for
the emulator, serial CCID readers through Debian's ``libccidtwin.so``), the pcsc and serial test suites
(``tests/support/pcscd.py`` keeps one per test process) and the PC/SC benchmarks (``BenchPcscd``: devices
served from a child process behind one vpcd reader).

pcscd 1.9.9 ignores ``PCSCLITE_CSOCK_NAME`` (only the client library honours it; checked: the daemon
still creates ``/run/pcscd/pcscd.comm`` and refuses to start when another pcscd owns it). So the
daemon runs in its own mount namespace (``unshare -m``) where a private directory is bind-mounted on
``/run/pcscd``; the socket it creates there is the same file outside, at ``socket_path``. Clients
reach it by setting ``PCSCLITE_CSOCK_NAME`` (see ``env``). Non-root users get a user namespace as
well (``unshare -r``); where ``/run/pcscd`` does not exist a tmpfs on ``/run`` (inside the namespace
only) provides the mount point, so nothing on the host is created or changed.

Reader entries are plain reader.conf stanzas, one file each in a private config directory given
with ``pcscd -c``: ``vpcd_entry(port)`` for the emulator, ``serial_entry(device)`` for a serial CCID
reader, ``reader_entry(...)`` for anything else. Several vpcd entries work side by side: each one after
the first gets a private copy of the driver (see ``_vpcd_copy``). Look slot names up with ``slot_names``.
The daemon dies with the process that started it (PR_SET_PDEATHSIG).

The libpcsclite client reads ``PCSCLITE_CSOCK_NAME`` once per process, so a process should talk to
one private pcscd, and set the variable before its first PC/SC call.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firmware_sim.device import Device
    from hardware.pcsc import PcscReader

PCSCD = "/usr/sbin/pcscd"
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
CCID_TWIN_DRIVER = "/usr/lib/pcsc/drivers/serial/libccidtwin.so"
VPCD_SLOTS = 2  # Debian's vpcd: one reader.conf entry gives readers "NAME NN 00" (port) and "NAME NN 01" (port + 1)
_VPCD_LIBPATH = re.compile(r"^(\s*LIBPATH\s+)\S*libifdvpcd\S*", re.M)

# The namespace side: mount the private directory on /run/pcscd, then become pcscd.
_NAMESPACE_SCRIPT = r"""
set -e
run="$1"; shift
if [ -d /run/pcscd ]; then
  mount -n --bind "$run" /run/pcscd
else
  mount -n -t tmpfs -o mode=0755,size=1m sscard-run /run
  mkdir /run/pcscd
  mount -n --bind "$run" /run/pcscd
fi
exec "$@"
"""


def reader_entry(name: str, device: str, libpath: str, channel_id: int | None = None) -> str:
    """One reader.conf stanza."""
    lines = [f'FRIENDLYNAME "{name}"', f"DEVICENAME {device}", f"LIBPATH {libpath}"]
    if channel_id is not None:
        lines.append(f"CHANNELID {channel_id:#x}")
    return "\n".join(lines) + "\n"


def vpcd_entry(port: int, name: str = "sscard vpcd") -> str:
    """A vpcd reader entry: slots on ``port`` and ``port + 1`` (card, PSAM)."""
    return reader_entry(name, f"/dev/null:{port:#x}", VPCD_DRIVER, port)


#: The reader models Debian's libccidtwin.so takes after the device path (``DEVICENAME /dev/ttyS0:GemPCTwin``).
CCID_TWIN_MODELS = ("GemPCTwin", "GemPCPinPad", "GemCorePOSPro", "GemCoreSIMPro", "GemCoreSIMPro2", "SEC1210")


def serial_entry(device: str, model: str = "GemPCTwin", name: str = "sscard serial") -> str:
    """A serial CCID reader entry for libccidtwin.so: ``device`` (a tty or pty path) holding a reader of ``model``."""
    if model not in CCID_TWIN_MODELS:
        raise ValueError(f"unknown serial reader model {model!r} (libccidtwin.so knows {', '.join(CCID_TWIN_MODELS)})")
    return reader_entry(name, f"{device}:{model}", CCID_TWIN_DRIVER)


def vpcd_ports(entry: str) -> list[int]:
    """The TCP ports a vpcd entry makes pcscd listen on (none for other drivers)."""
    if "libifdvpcd" not in entry:
        return []
    m = re.search(r"^\s*CHANNELID\s+(\S+)", entry, re.M)
    base = int(m.group(1), 0) if m else 0x8C7B
    return [base + i for i in range(VPCD_SLOTS)]


def slot_names(readers: list[str], friendly_name: str) -> list[str]:
    """The names pcscd gave one entry's slots, slot 0 first. pcscd names them ``"FRIENDLYNAME NN SS"``
    where NN depends on the entries loaded before (it is not always 00), so look them up, never guess."""
    pattern = re.compile(re.escape(friendly_name) + r" [0-9A-F]{2} [0-9A-F]{2}")
    return sorted(r for r in readers if pattern.fullmatch(r))


def free_port_block(count: int = VPCD_SLOTS, low: int = 20000, high: int = 32000) -> int:
    """First port of ``count`` consecutive free TCP ports, below Linux's ephemeral range (so a
    connecting client can never self-connect to a port vpcd is not listening on yet), and not 35963."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:  # vpcd binds INADDR_ANY, so test that
                    s.bind(("0.0.0.0", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port block found")


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state (from /proc/net/tcp{,6})."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


#: The Debian package of each file a private pcscd needs.
_PACKAGES = {PCSCD: "pcscd", VPCD_DRIVER: "vsmartcard-vpcd", CCID_TWIN_DRIVER: "libccid"}


def missing_requirements(driver: str = VPCD_DRIVER) -> str | None:
    """Why a private pcscd with readers of ``driver`` (vpcd, or libccidtwin.so) cannot run here, or None."""
    for path, package in ((PCSCD, _PACKAGES[PCSCD]), (driver, _PACKAGES[driver])):
        if not Path(path).exists():
            return f"{path} not installed (Debian package {package}; `make setup` installs it)"
    if shutil.which("unshare") is None:
        return "unshare not installed (Debian package util-linux)"
    return None


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the daemon when the process that started it goes away, however it goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrivatePcscd:
    """Start/stop/restart a private ``pcscd -f -c CONFIGDIR``; ``socket_path`` and ``env`` for clients."""

    def __init__(self, workdir: Path | None = None, *, debug: bool = False, start_timeout: float = 15.0) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sscard-pcscd-"))
        self.rundir = self.workdir / "run"
        self.confdir = self.workdir / "reader.conf.d"
        self.log_path = self.workdir / "pcscd.log"
        self.debug = debug
        self.start_timeout = start_timeout
        self.entries: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return str(self.rundir / "pcscd.comm")

    @property
    def env(self) -> dict[str, str]:
        """Environment variables a PC/SC client (pyscard, scriptor, opensc-tool) needs."""
        return {"PCSCLITE_CSOCK_NAME": self.socket_path}

    def client_env(self) -> dict[str, str]:
        """``os.environ`` plus ``env``, for subprocesses."""
        return {**os.environ, **self.env}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare[1:1] = ["--user", "--map-root-user"]
        flags = ["-f", "-c", str(self.confdir)] + (["-d", "-a"] if self.debug else [])
        return [*unshare, "sh", "-c", _NAMESPACE_SCRIPT, "sh", str(self.rundir), PCSCD, *flags]

    def start(self, reader_conf_entries: list[str]) -> PrivatePcscd:
        """Write the reader entries, start the daemon, wait until it serves and vpcd ports listen."""
        if self.running:
            raise RuntimeError("private pcscd already running; use restart()")
        self.entries = list(reader_conf_entries)
        shutil.rmtree(self.confdir, ignore_errors=True)
        self.confdir.mkdir(parents=True)
        vpcd_seen = 0
        for i, entry in enumerate(self.entries):
            if vpcd_ports(entry):
                if vpcd_seen:
                    entry = _VPCD_LIBPATH.sub(lambda m: m.group(1) + self._vpcd_copy(vpcd_seen), entry)
                vpcd_seen += 1
            (self.confdir / f"{i:02d}-sscard.conf").write_text(entry)
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.rundir.chmod(0o755)
        for stale in self.rundir.iterdir():  # left by a killed daemon; pcscd refuses to start over them
            stale.unlink()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}  # not socket-activated
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, preexec_fn=_die_with_parent, start_new_session=True,
        )
        try:
            self._wait_ready([p for e in self.entries for p in vpcd_ports(e)])
        except BaseException:
            self.stop()
            raise
        return self

    def _vpcd_copy(self, index: int) -> str:
        """A private copy of the vpcd driver. Debian's vpcd keeps its slot sockets in one static array
        indexed by slot number, so two reader.conf entries sharing one loaded driver share sockets: the
        second entry's slot 0 replaces the first's, and both readers then show the same card (checked
        with pcscd 1.9.9 + vsmartcard-vpcd 0.8). pcscd loads each LIBPATH once; a copy at another path
        is a separate load with its own array."""
        path = self.workdir / "drivers" / f"libifdvpcd-{index}.so"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(VPCD_DRIVER, path)
        return str(path)

    def _wait_ready(self, ports: list[int]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"private pcscd exited early:\n{self.log_tail()}")
            if self._socket_answers() and set(ports) <= listening_ports():
                return
            time.sleep(0.02)
        raise RuntimeError(f"private pcscd not ready after {self.start_timeout} s:\n{self.log_tail()}")

    def _socket_answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.socket_path)
                return True
            except OSError:
                return False

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the daemon (SIGTERM, then SIGKILL). Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, downtime: float = 0.0) -> None:
        """Stop and start again with the same entries and socket path (what ``systemctl restart`` does)."""
        self.stop()
        time.sleep(downtime)
        self.start(self.entries)

    def ensure(self, reader_conf_entries: list[str]) -> PrivatePcscd:
        """Make sure the daemon runs with at least these entries (restarting it with the union if needed)."""
        missing = [e for e in reader_conf_entries if e not in self.entries]
        if self.running and not missing:
            return self
        entries = self.entries + missing
        self.stop()
        return self.start(entries)

    def withdraw(self, reader_conf_entries: list[str]) -> None:
        """Run on without these entries (their ptys or ports are gone): restart with the rest, or stop."""
        rest = [e for e in self.entries if e not in reader_conf_entries]
        self.stop()
        if rest:
            self.start(rest)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop and delete the work directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PrivatePcscd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _serve_vpcd(make_devices: Callable[..., list[Device]], args: tuple[Any, ...], port: int,
                link_kw: dict[str, Any], stop: Any) -> None:
    """The emulator process of ``BenchPcscd.serve``: serve the devices on the vpcd ports until ``stop`` is set."""
    from hardware.vpcd_link import VpcdLink
    links = [VpcdLink(d, port=port + i, **link_kw).start() for i, d in enumerate(make_devices(*args))]
    stop.wait()
    for link in links:
        link.stop()


class BenchPcscd:
    """A private pcscd with one vpcd reader ``name`` whose slots are served from a child process, as ``sscard
    emulate --vpcd`` serves them, so a measuring client does not share the GIL with the emulator (the
    benchmarks). A context manager: entering starts the daemon (and sets ``PCSCLITE_CSOCK_NAME`` in this
    process), leaving stops it and deletes its files."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.daemon = PrivatePcscd()
        os.environ.update(self.daemon.env)   # before this process's first PC/SC call
        self.mp = multiprocessing.get_context("spawn")
        self.port = 0

    def __enter__(self) -> BenchPcscd:
        try:
            self.port = free_port_block()
            self.daemon.start([vpcd_entry(self.port, self.name)])
        except BaseException:
            self.daemon.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.cleanup()

    @contextmanager
    def serve(self, slots: int, make_devices: Callable[..., list[Device]], *args: Any,
              **link_kw: Any) -> Iterator[list[PcscReader]]:
        """Serve the ``slots`` devices ``make_devices(*args)`` returns (a module-level function, called in the
        child process) in slots 0, 1 …, with ``link_kw`` for each ``VpcdLink``; yield a connected reader per
        slot. On leaving, the child has stopped and pcscd has seen the cards go, so the reader can serve again."""
        from hardware.pcsc import PcscReader
        stop = self.mp.Event()
        child = self.mp.Process(target=_serve_vpcd, args=(make_devices, args, self.port, link_kw, stop), daemon=True)
        child.start()
        readers = [PcscReader(f"{self.name} 00 {i:02d}") for i in range(slots)]
        try:
            for r in readers:
                if not r.wait_for_card(15):
                    raise RuntimeError(f"pcscd did not see the card in {r.name}")
                r.connect()
            yield readers
        finally:
            for r in readers:
                r.disconnect()
            stop.set()
            child.join(10)
            if child.is_alive():
                child.kill()
            for r in readers:
                r.wait_for_card(10, present=False)
                r.disconnect()
