"""A PIN-pad bench: the card in a simulated GemPC PinPad on one pty, the PSAM in a simulated GemCore SIM Pro (its SAM
slot, slot 1) on another, and the pad's keypad fed by a key script, the emulator's terminal or a Unix socket.

Reference: docs/serial.md §5 (the GemPC PinPad libccid knows: one slot, so the PSAM needs a second reader),
``hardware.keypad`` (the sources of keys), ``firmware_sim.pinpad`` (what the pad does with them).

``sscard emulate --serial-pty PATH --pinpad [--psam-pty PATH2] [--keys SCRIPT | --keypad-socket SOCK]``
(``host.cli.emulate``, which holds the options) runs :func:`serve_pinpad_cli`.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

from firmware_sim.ccid_reader import GEMPC_PINPAD, CcidSerialFirmware
from firmware_sim.device import Device
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from hardware.keypad import Keypad, KeypadSocket, LinePlayer, ScriptPlayer, read_script
from hardware.serial_serve import FirmwareServer, make_firmware, run_until_stopped

CCID_TWIN = "/usr/lib/pcsc/drivers/serial/libccidtwin.so"


@dataclass
class PinPadBench:
    """The running bench: the pad's server (card), the PSAM's server, the keypad and its sources."""

    pad: FirmwareServer
    psam: FirmwareServer | None
    keypad: Keypad
    sources: list[ScriptPlayer | KeypadSocket | LinePlayer] = field(default_factory=list)

    @property
    def spec(self) -> str:
        """The ``--reader`` spec for sscard's own driver."""
        extra = f",psam={self.psam.url}" if self.psam is not None else ""
        return f"ccid-serial:{self.pad.url},model=GemPCPinPad{extra}"

    def reader_conf(self) -> list[str]:
        """reader.conf lines for pcscd with Debian's libccidtwin.so."""
        lines = [f"DEVICENAME {self.pad.url}:GemPCPinPad  LIBPATH {CCID_TWIN}"]
        if self.psam is not None:
            lines.append(f"DEVICENAME {self.psam.url}:GemCoreSIMPro  LIBPATH {CCID_TWIN}  (PSAM in its second slot)")
        return lines

    def close(self) -> None:
        for source in self.sources:
            if not isinstance(source, LinePlayer):
                source.close()
        self.pad.close()
        if self.psam is not None:
            self.psam.close()
        self.keypad.close()


def serve_pinpad(card: Device | None, psam: Device | None, path: str | None = None, psam_path: str | None = None,
                 baud: int | None = None, *, card_profile: LinkProfile | None = None,
                 keys: str | None = None, keypad_socket: str | None = None) -> PinPadBench:
    """Serve the bench: the GemPC PinPad on a new pty (``path`` becomes a symlink to it), the PSAM's GemCore SIM
    Pro on another (``psam_path``), and the keypad's sources (a script, or ``-`` for lines on stdin; a socket)."""
    keypad = Keypad()
    firmware = CcidSerialFirmware([Iso7816Card(card, card_profile) if card is not None else None], GEMPC_PINPAD)
    pad = FirmwareServer(firmware, baud=baud, keypad=keypad)
    bench = PinPadBench(pad, None, keypad)
    try:
        pad.serve_pty(path)
        if psam is not None:
            bench.psam = FirmwareServer(make_firmware(None, psam), baud=baud)
            bench.psam.serve_pty(psam_path)
        if keys == "-":
            bench.sources.append(LinePlayer(keypad).start())
        elif keys:
            bench.sources.append(ScriptPlayer(keypad, read_script(keys)).start())
        if keypad_socket:
            bench.sources.append(KeypadSocket(keypad, keypad_socket).start())
    except BaseException:
        bench.close()
        raise
    return bench


def serve_pinpad_cli(devices: list[Device], path: str | None, baud: int | None, stop: threading.Event | None = None,
                     *, protocol: str = "t0", fidi: int | None = None, psam_path: str | None = None,
                     keys: str | None = None, keypad_socket: str | None = None) -> int:
    """``sscard emulate --serial-pty [PATH] --pinpad …``: serve the bench, print how to reach it, run until ``stop``
    is set or the process is interrupted."""
    card = devices[0] if devices else None
    psam = devices[1] if len(devices) > 1 else None
    profile = LinkProfile.t1(fidi) if protocol == "t1" else (LinkProfile.t0_only(fidi) if fidi else None)
    if psam_path is None and path:
        psam_path = f"{path}-psam"
    bench = serve_pinpad(card, psam, path, psam_path, baud, card_profile=profile, keys=keys,
                         keypad_socket=keypad_socket)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
    say(f"serving a GemPC PinPad (card) on {bench.pad.url}"
        + (f" and a GemCore SIM Pro (PSAM in slot 1) on {bench.psam.url}" if bench.psam else ""))
    say(f"sscard: --reader {bench.spec}")
    for line in bench.reader_conf():
        say(f"reader.conf: {line}")
    if keypad_socket:
        say(f"keypad: JSON lines on {keypad_socket}, e.g. {{\"keys\": \"123456 OK\", \"wait\": 30}}")
    if keys == "-":
        say("keypad: type keys here when the pad asks (123456 OK, CANCEL, BS, CLEAR)")
    return run_until_stopped(bench.close, stop)
