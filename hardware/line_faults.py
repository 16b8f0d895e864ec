"""Line faults: noise on byte links (serial lines) — a deliberate FAKE for tests: it damages bytes on purpose.
Faults inside an emulated device (removal, forced status words, torn writes) are ``firmware_sim.device_faults``.

Two shapes, both seeded (same seed, same faults):

* ``ByteFaults``: a ``bytes -> bytes`` filter that corrupts (XOR with a random non-zero value) or drops single
  bytes. Plug it into the reader firmware's card line (``CcidSerialFirmware.set_line_filters``) to damage T=1
  blocks between reader and card.
* ``FaultyPipe``: wraps a host-side ``BytePipe`` (see ``hardware.ccid_serial``) and applies a ``ByteFaults`` to
  each direction, and also splits writes into pieces with small delays between them.

Reference: docs/serial.md §1.2 (inject "garbled byte" faults, not parity pulses: a UART cannot
see them), §4.2 (``transport/faults.py``), §4.3 item 2. The T=0 card line is not a target: on real hardware a
garbled T=0 character is repeated after the error signal, so T=0 itself has no recovery to exercise.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from hardware.ccid_serial import BytePipe


@dataclass
class FaultCounts:
    bytes: int = 0
    corrupted: int = 0
    dropped: int = 0
    splits: int = 0
    delays: int = 0


@dataclass
class ByteFaults:
    """Per-byte probabilities ``corrupt`` and ``drop`` (e.g. 1e-3 each), driven by ``seed``."""

    seed: int = 0
    corrupt: float = 0.0
    drop: float = 0.0
    counts: FaultCounts = field(default_factory=FaultCounts)

    def __post_init__(self) -> None:
        self._rnd = random.Random(self.seed)

    def __call__(self, data: bytes) -> bytes:
        if not data or (self.corrupt == 0 and self.drop == 0):
            return data
        out = bytearray()
        rnd = self._rnd
        for b in data:
            self.counts.bytes += 1
            x = rnd.random()
            if x < self.drop:
                self.counts.dropped += 1
                continue
            if x < self.drop + self.corrupt:
                self.counts.corrupted += 1
                b ^= rnd.randrange(1, 256)
            out.append(b)
        return bytes(out)


class FaultyPipe:
    """A ``BytePipe`` that damages what goes through it: ``tx`` faults on written bytes, ``rx`` faults on read
    bytes; with probability ``split`` a write is cut in two with a pause of up to ``max_delay`` seconds."""

    def __init__(self, pipe: BytePipe, *, seed: int = 0, corrupt: float = 0.0, drop: float = 0.0,
                 split: float = 0.0, max_delay: float = 0.003) -> None:
        self.pipe = pipe
        self.tx = ByteFaults(seed * 2 + 1, corrupt, drop)
        self.rx = ByteFaults(seed * 2 + 2, corrupt, drop)
        self.split = split
        self.max_delay = max_delay
        self._rnd = random.Random(seed * 2 + 3)
        self.counts = FaultCounts()

    def write(self, data: bytes) -> None:
        data = self.tx(data)
        if len(data) > 1 and self._rnd.random() < self.split:
            cut = self._rnd.randrange(1, len(data))
            self.counts.splits += 1
            self.pipe.write(data[:cut])
            self.counts.delays += 1
            time.sleep(self._rnd.random() * self.max_delay)
            self.pipe.write(data[cut:])
            return
        self.pipe.write(data)

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:   # bytes that were all dropped must not look like an early timeout
            raw = self.pipe.read(size, max(0.0, deadline - time.monotonic()))
            out = self.rx(raw)
            if out or not raw or time.monotonic() >= deadline:
                return out

    def close(self) -> None:
        self.pipe.close()

    def totals(self) -> dict[str, int]:
        return {"corrupted": self.tx.counts.corrupted + self.rx.counts.corrupted,
                "dropped": self.tx.counts.dropped + self.rx.counts.dropped,
                "bytes": self.tx.counts.bytes + self.rx.counts.bytes, "splits": self.counts.splits}
