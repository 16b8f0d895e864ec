"""Card-OS fault injection — a deliberate FAKE for tests and for ``sscard emulate``: it misbehaves on purpose.

Faults at the level of the card operating system (byte-level line faults are ``hardware.line_faults``):

* :class:`FaultyDevice` wraps a real ``CardOS``/``PsamOS`` (any ``firmware_sim.device.Device``) and can
  remove the card at the N-th command (before or after the card ran it), force a status word on chosen
  commands, and play a slow card. Removal surfaces as ``protocols.errors.NoCard`` from ``process`` and
  ``power_on`` until :meth:`FaultyDevice.insert`; a link that can signal card absence (vpcd, a CCID slot)
  turns that into its own "no card" event.
* Slow card: nothing here sleeps unless ``delay`` is set. Each answer of a slow card carries a
  waiting-time request: :meth:`FaultyDevice.take_wtx` returns (and clears) the BWT multiplier the card
  needed for its last answer, and :func:`wtx_process` wires that into a card-side T=1 engine
  (``protocols.t1.T1Card`` or anything with a ``wtx`` attribute), which then sends S(WTX request) before the
  response. ``delay`` (seconds, real sleep) is for links without T=1 (in-process, vpcd, T=0).
* Tearing: :class:`TearingStore` is an ``ImageStore`` that goes through the steps of
  ``firmware_sim.image.atomic_write`` (temp file, write, fsync, rename, fsync of the folder) and stops at a
  chosen step of a chosen save, either with :class:`PowerLoss` (the card dies: nothing answers, the temp
  file stays as a real power cut leaves it; through a :class:`FaultyDevice` the reader sees ``NoCard``) or
  with ``OSError`` (a failing flash: the card answers 6581).
  After it, reloading the file must give the old image or the new one (docs/design.md §4).
"""
from __future__ import annotations

import enum
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from firmware_sim.device import Device
from firmware_sim.image import ImageStore, dumps
from protocols.errors import NoCard


class PowerLoss(BaseException):
    """The power went away in the middle of a write. A ``BaseException``: the card OS must not catch it,
    because a card without power answers nothing."""


@dataclass
class ForcedStatus:
    """Answer ``sw`` instead of the card for matching commands.

    A command matches when every given criterion holds: ``at`` (its 1-based number since the fault device
    was made), ``cla``, ``ins``. ``times`` matches get the forced status (0 = every match). With ``run`` the
    card executes the command first and only its answer is replaced (a lost or lying response); without,
    the card never sees it and nothing changes.
    """

    sw: int
    ins: int | None = None
    cla: int | None = None
    at: int | None = None
    times: int = 1
    run: bool = False
    used: int = 0

    def matches(self, number: int, apdu: bytes) -> bool:
        if self.times and self.used >= self.times:
            return False
        if self.at is not None and number != self.at:
            return False
        if len(apdu) < 2:
            return self.cla is None and self.ins is None
        return (self.cla is None or apdu[0] == self.cla) and (self.ins is None or apdu[1] == self.ins)


class FaultyDevice:
    """A ``Device`` around a real one, with the faults of this module's docstring. Counts commands in
    ``commands``; ``log`` holds ``(number, apdu, response or None)`` for tests to inspect."""

    def __init__(self, device: Device, *, remove_at: int | None = None, remove_after_run: bool = False,
                 forced: list[ForcedStatus] | None = None, slow_wtx: int = 0, delay: float = 0.0) -> None:
        self.device = device
        self.remove_at = remove_at
        self.remove_after_run = remove_after_run
        self.forced = list(forced or [])
        self.slow_wtx = slow_wtx
        self.delay = delay
        self.present = True
        self.commands = 0
        self.log: list[tuple[int, bytes, bytes | None]] = []
        self._wtx = 0

    # --- Device ----------------------------------------------------------------------------------------
    @property
    def atr(self) -> bytes:
        return self.device.atr

    def power_on(self) -> bytes:
        self._need_card()
        return self.device.power_on()

    def reset(self) -> bytes:
        self._need_card()
        return self.device.reset()

    def power_off(self) -> None:
        if self.present:
            self.device.power_off()

    def process(self, apdu: bytes) -> bytes:
        self._need_card()
        self.commands += 1
        n = self.commands
        if self.remove_at == n:
            if self.remove_after_run:
                self.device.process(apdu)   # the card did the work; the answer never leaves the slot
            self.remove()
            self.log.append((n, bytes(apdu), None))
            raise NoCard(f"card removed at command {n}")
        rsp: bytes | None = None
        try:
            for f in self.forced:
                if f.matches(n, apdu):
                    f.used += 1
                    if f.run:
                        self.device.process(apdu)
                    rsp = f.sw.to_bytes(2, "big")
                    break
            if rsp is None:
                rsp = self.device.process(apdu)
        except PowerLoss:     # a tearing store cut the power: to the reader the card is gone, mid-command
            self.present = False
            self.log.append((n, bytes(apdu), None))
            raise NoCard(f"the card lost power during command {n}") from None
        if self.delay:
            time.sleep(self.delay)
        self._wtx = self.slow_wtx
        self.log.append((n, bytes(apdu), rsp))
        return rsp

    # --- controls ----------------------------------------------------------------------------------------
    def remove(self) -> None:
        """Take the card out: volatile state is lost, every command raises ``NoCard`` until ``insert``."""
        if self.present:
            self.device.power_off()
        self.present = False

    def insert(self, device: Device | None = None) -> None:
        """Put the card back, or another one: after a power loss, a device reloaded from its image file
        (``CardOS.from_file``) is the card as it boots again."""
        if device is not None:
            self.device = device
        self.present = True

    def take_wtx(self) -> int:
        """The BWT multiplier the last answer needed (0: none); cleared by reading it."""
        wtx, self._wtx = self._wtx, 0
        return wtx

    def _need_card(self) -> None:
        if not self.present:
            raise NoCard("no card in the slot (removed by fault injection)")


class _HasWtx(Protocol):
    wtx: int


def wtx_process(device: FaultyDevice, engine_ref: Callable[[], _HasWtx]) -> Callable[[bytes], bytes]:
    """A ``process`` function for a card-side T=1 engine: after each command it sets the engine's ``wtx``
    to the slow card's request, so the engine sends S(WTX request) before the answer.

    ``engine_ref`` returns the engine (it does not exist yet when its ``process`` is made)::

        engine: T1Card
        engine = T1Card(wtx_process(dev, lambda: engine))
    """
    def process(apdu: bytes) -> bytes:
        rsp = device.process(apdu)
        engine_ref().wtx = device.take_wtx()
        return rsp
    return process


# --- tearing -------------------------------------------------------------------------------------------------
class TearPoint(enum.Enum):
    """Where, in the steps of ``atomic_write``, the power goes."""

    BEFORE_WRITE = "temp file created, nothing written"
    PARTIAL_WRITE = "half of the new image written to the temp file"
    BEFORE_RENAME = "temp file complete and fsynced, not yet renamed"
    AFTER_RENAME = "renamed over the image, folder not yet fsynced"


class TearingStore(ImageStore):
    """An image store whose ``tear_on``-th save (1-based) stops at ``point`` by raising ``error``
    (:class:`PowerLoss` by default; an ``OSError`` class for a failing flash the card survives). Other saves
    are normal atomic writes. ``saves`` counts every call; ``torn_doc`` is the image the torn save was writing
    (None until the fault happened)."""

    def __init__(self, path: Path | str, *, tear_on: int, point: TearPoint,
                 error: type[BaseException] = PowerLoss) -> None:
        super().__init__(path)
        self.tear_on, self.point, self.error = tear_on, point, error
        self.saves = 0
        self.torn_doc: dict[str, Any] | None = None

    def save(self, doc: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves != self.tear_on:
            super().save(doc)
            return
        self.torn_doc = doc
        assert self.path is not None
        with self.locked():
            self.mark_writing()
            self._tear(self.path, dumps(doc).encode("utf-8"))

    def _stop(self, point: TearPoint) -> None:
        if point is self.point:
            raise self.error(f"fault injection: power lost ({point.value})")

    def _tear(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            self._stop(TearPoint.BEFORE_WRITE)
            if self.point is TearPoint.PARTIAL_WRITE:
                os.write(fd, data[:len(data) // 2])
                os.fsync(fd)
                self._stop(TearPoint.PARTIAL_WRITE)
            os.write(fd, data)
            os.fsync(fd)
            self._stop(TearPoint.BEFORE_RENAME)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self._stop(TearPoint.AFTER_RENAME)
