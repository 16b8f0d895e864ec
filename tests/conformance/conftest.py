"""One conformance suite, any reader (docs/design.md §2): the ``bench`` fixture names a reader spec with a card in it.

Without ``--reader``/``SSCARD_READER`` every emulated path runs: ``sim`` (gen2 and gen3), PC/SC through a
private pcscd + vpcd, and a CCID serial reader on a pty. Emulated paths give each test a fresh card, so
irreversible tests run there; on a physical reader they run only with ``--irreversible``.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from host.spec import open_terminal
from host.terminal import Terminal

EMULATED_PATHS = ["sim-gen2", "sim-gen3", "pcsc-vpcd", "ccid-serial-t0", "ccid-serial-t1"]


@dataclass
class Bench:
    spec: str
    pin: str
    fresh: bool                                  # an emulated card, new for this test
    remove: Callable[[], None] | None = None     # take the card out (emulated paths)
    insert: Callable[[], None] | None = None
    extended_length: bool = True
    terminals: list[Terminal] = field(default_factory=list)

    def terminal(self) -> Terminal:
        term = open_terminal(self.spec)
        self.terminals.append(term)
        return term


def _paths(config: pytest.Config) -> list[str]:
    spec = config.getoption("--reader") or os.environ.get("SSCARD_READER")
    return [f"spec={spec}"] if spec else EMULATED_PATHS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench" in metafunc.fixturenames:
        metafunc.parametrize("bench_path", _paths(metafunc.config), indirect=True)


@pytest.fixture
def bench_path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fresh_image(tmp: Path, profile: str) -> Path:
    from tests.card.conftest import make_image
    return make_image(tmp, profile)


@pytest.fixture
def bench(bench_path: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    pin = request.config.getoption("--card-pin")
    if bench_path.startswith("spec="):
        b = Bench(bench_path[5:], pin, fresh=False)
    elif bench_path.startswith("sim-"):
        path = _fresh_image(tmp_path, bench_path[4:])
        b = Bench(f"sim:{path}", "123456", fresh=True)
        taken: list[object] = []
        b.remove = lambda: taken.append(b.terminals[-1].card_reader.remove())
        b.insert = lambda: b.terminals[-1].card_reader.insert(taken.pop())
    elif bench_path == "pcsc-vpcd":
        b = request.getfixturevalue("vpcd_bench_factory")(tmp_path)
    elif bench_path.startswith("ccid-serial-"):
        b, server = _serial_bench(tmp_path, t1=bench_path.endswith("t1"))
        request.addfinalizer(server.close)
    else:
        raise AssertionError(bench_path)
    yield b
    for term in b.terminals:
        term.close()


def irreversible(bench: Bench, request: pytest.FixtureRequest) -> None:
    """Skip unless the card is an emulated fresh one or ``--irreversible`` was given."""
    if not (bench.fresh or request.config.getoption("--irreversible")):
        pytest.skip("changes the card for good; run with --irreversible on a test card")


# --- the PC/SC path: pyscard → private pcscd → vpcd → emulator --------------------------------------------
@pytest.fixture(scope="session")
def _vpcd_links(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, object, str, str]]:
    from firmware_sim.card_os import CardOS
    from firmware_sim.demo import demo_psam
    from firmware_sim.psam import PsamOS
    from hardware.pcsc import PcscReader, list_readers
    from hardware.vpcd_link import VpcdLink
    from tests.support.pcscd import free_port_block, missing_requirements, shared, slot_names, vpcd_entry
    from tests.support.prereq import missing
    reason = missing_requirements()
    if reason:
        missing(reason)
    name = "sscard conformance"
    port = free_port_block()
    shared().ensure([vpcd_entry(port, name)])
    names = slot_names(list_readers(), name)
    if len(names) < 2:
        pytest.fail(f"pyscard does not see the private pcscd's vpcd readers: {list_readers()}")
    card_reader, psam_reader = names[0], names[1]
    # Every fresh card has the same ATR as this first one: pcscd keeps the ATR it read at insertion.
    first = CardOS.from_file(_fresh_image(tmp_path_factory.mktemp("vpcd-card"), "gen2"))
    card = VpcdLink(first, port=port, backoff=(0.02, 0.3)).start()
    psam = VpcdLink(PsamOS(demo_psam("440100")), port=port + 1, backoff=(0.02, 0.3)).start()
    for reader in (card_reader, psam_reader):
        with PcscReader(reader) as probe:
            assert probe.wait_for_card(10.0), f"pcscd did not see a card in {reader}"
    yield card, psam, card_reader, psam_reader
    card.stop()
    psam.stop()


@pytest.fixture
def vpcd_bench_factory(_vpcd_links: tuple) -> Callable[[Path], Bench]:
    from firmware_sim.card_os import CardOS
    from hardware.pcsc import PcscReader
    card_link, _psam_link, card_reader, psam_reader = _vpcd_links

    def make(tmp: Path) -> Bench:
        card_link.device = CardOS.from_file(_fresh_image(tmp, "gen2"))   # a fresh card in the same slot

        def remove() -> None:
            card_link.remove_card()
            with PcscReader(card_reader) as probe:
                probe.wait_for_card(10.0, present=False)

        def insert() -> None:
            card_link.insert_card()
            with PcscReader(card_reader) as probe:
                probe.wait_for_card(10.0)
        return Bench(f"pcsc:{card_reader},psam={psam_reader}", "123456", True, remove, insert)
    return make


# --- the serial path: our ccid-serial driver → pty → simulated two-slot CCID reader firmware ---------------
def _serial_bench(tmp: Path, t1: bool) -> tuple[Bench, object]:
    """A fresh card behind a GemCore SIM Pro on a new pty; T=1 (with PPS to TA1 96) or T=0."""
    from firmware_sim.card_os import CardOS
    from firmware_sim.demo import demo_psam
    from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
    from firmware_sim.psam import PsamOS
    from hardware.serial_serve import serve_pty
    card = CardOS.from_file(_fresh_image(tmp, "gen2"))
    profile = LinkProfile.t1(0x96) if t1 else LinkProfile.t0_only(0x96)
    server = serve_pty(card, PsamOS(demo_psam("440100")), None, card_profile=profile)
    taken: list[object] = []

    def remove() -> None:
        server.firmware.remove(0)
        taken.append(card)

    def insert() -> None:
        server.firmware.insert(0, Iso7816Card(taken.pop(), profile))  # type: ignore[arg-type]  # the card slot's device is a CardOS
    return Bench(f"ccid-serial:{server.url}", "123456", True, remove, insert, extended_length=t1), server
