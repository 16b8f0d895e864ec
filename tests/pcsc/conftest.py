"""Fixtures for pyscard → private pcscd → vpcd → emulator tests.

``pcscd_vpcd``: the process's private pcscd (``tests.support.pcscd.shared``) with our vpcd entry
"sscard pcsc-tests" on free ports: slot 0 (``card_reader``) for the card, slot 1 (``psam_reader``)
for the PSAM. Other suites add entries of their own to the same daemon.
``serve``: put a Device in a slot and wait until pcscd sees the card; removed again after the test.
Every test also gets a watchdog: a hang dumps all stacks to /tmp/sscard-pcsc-watchdog-PID.log and ends
the run instead of blocking CI.
"""
from __future__ import annotations

import faulthandler
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

import pytest

from firmware_sim.device import Device
from hardware.pcsc import PcscReader, list_readers
from hardware.vpcd_link import VpcdLink
from tests.support.pcscd import (
    PrivatePcscd, free_port_block, missing_requirements, shared, slot_names, vpcd_entry,
)
from tests.support.prereq import missing

READER = "sscard pcsc-tests"  # FRIENDLYNAME of our vpcd entry; other suites add their own entries
CARD_TIMEOUT = 10.0  # pcscd polls vpcd presence every 400 ms; this is only a ceiling
WATCHDOG = 90.0  # per test; a hang dumps every thread's stack to the watchdog log and ends the run


@dataclass
class VpcdBench:
    daemon: PrivatePcscd
    port: int  # slot 0; slot 1 is port + 1
    card_reader: str  # pcscd's name for slot 0
    psam_reader: str  # … and for slot 1

    def reader(self, slot: int = 0, **kw: object) -> PcscReader:
        return PcscReader([self.card_reader, self.psam_reader][slot], **kw)  # type: ignore[arg-type]  # kw holds PcscReader's keyword options


@pytest.fixture(scope="session")
def _watchdog_log() -> Iterator[TextIO]:
    """pytest captures fd 2, so a hang's stacks go to a file of their own; it is deleted unless used."""
    path = os.path.join(tempfile.gettempdir(), f"sscard-pcsc-watchdog-{os.getpid()}.log")
    with open(path, "w") as log:
        yield log
    os.unlink(path)


@pytest.fixture(autouse=True)
def _watchdog(request: pytest.FixtureRequest, _watchdog_log: TextIO) -> Iterator[None]:
    _watchdog_log.write(f"{request.node.nodeid} hung for {WATCHDOG:g} s; the run was ended. Stacks:\n")
    _watchdog_log.flush()
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=_watchdog_log)
    yield
    faulthandler.cancel_dump_traceback_later()
    _watchdog_log.seek(0)
    _watchdog_log.truncate()


@pytest.fixture(scope="session")
def pcscd_vpcd() -> VpcdBench:
    reason = missing_requirements()
    if reason:
        missing(reason)
    daemon = shared()
    port = free_port_block()
    daemon.ensure([vpcd_entry(port, READER)])
    readers = list_readers()
    slots = slot_names(readers, READER)
    if len(slots) != 2:  # e.g. libpcsclite read PCSCLITE_CSOCK_NAME before shared() set it
        pytest.fail(f"pyscard does not see our vpcd readers in the private pcscd ({daemon.socket_path}): {readers}")
    return VpcdBench(daemon, port, *slots)


@pytest.fixture
def serve(pcscd_vpcd: VpcdBench) -> Iterator[Callable[..., VpcdLink]]:
    """``serve(device, slot=0, **link_kw)`` → a started VpcdLink whose card pcscd already sees."""
    started: list[tuple[VpcdLink, int]] = []

    def _serve(device: Device, slot: int = 0, **kw: object) -> VpcdLink:
        link = VpcdLink(device, port=pcscd_vpcd.port + slot, backoff=(0.02, 0.3), **kw).start()  # type: ignore[arg-type]  # kw holds VpcdLink's keyword options
        started.append((link, slot))
        with pcscd_vpcd.reader(slot) as probe:
            assert probe.wait_for_card(CARD_TIMEOUT), f"pcscd did not see the card in slot {slot}"
        return link

    yield _serve
    for link, slot in started:
        link.stop()
        with pcscd_vpcd.reader(slot) as probe:  # so the next test starts with an empty slot
            probe.wait_for_card(CARD_TIMEOUT, present=False)
