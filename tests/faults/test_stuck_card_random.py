"""A card whose random generator is stuck (fault injection: every GET CHALLENGE answers the same bytes) must not
make the HSM-mode read repeat itself. The terminal chooses the internal-authentication process factor and data
(docs/design.md §3 "Standard interface, HSM mode"), not the card, so a card that wants to replay a recorded
exchange cannot choose the question, and a recorded HSM answer never fits a new read.

With a card that draws fresh challenges a terminal taking the card's challenges as its randoms looks just as
good; only a card whose challenges repeat tells the two apart.
"""
from __future__ import annotations

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.hsm import SoftwareHsm
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.errors import HSM_MISMATCH
from host.standard import SSCardDriver
from host.standard.formats import split_fields
from host.terminal import Terminal
from tests.support import cardkit as ck


def stuck_card_driver(profile: str) -> tuple[SSCardDriver, CardOS]:
    cos = CardOS(ck.new_image(profile), rng=lambda n: bytes.fromhex("5A") * n)
    psam = PsamOS(demo_psam(ck.REGION[profile]))
    term = Terminal(InProcessReader(cos, "stuck card"), InProcessReader(psam, "test PSAM"))
    return SSCardDriver(term, device_number="SIM0001"), cos


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_the_terminal_asks_a_new_question_even_when_the_card_repeats_its_challenges(profile: str) -> None:
    driver, cos = stuck_card_driver(profile)
    assert cos.process(ck.GET_CHALLENGE) == cos.process(ck.GET_CHALLENGE)      # the card is stuck indeed
    code, first = driver.iReadCardBas_HSM_Step1(1)
    assert code == 0
    recorded = SoftwareHsm().read_basic_info(first)
    assert driver.iReadCardBas_HSM_Step2(recorded)[0] == 0                       # a genuine card, a right answer
    code, second = driver.iReadCardBas_HSM_Step1(1)
    assert code == 0
    ia_first, ia_second = split_fields(first)[4:6], split_fields(second)[4:6]
    assert ia_first[0] != ia_second[0] and ia_first[1] != ia_second[1]         # process factor and data are new
    assert bytes.fromhex("5A" * 8).hex().upper() not in ia_second              # and not the card's challenge
    assert driver.iReadCardBas_HSM_Step2(recorded)[0] == HSM_MISMATCH            # the recorded answer is stale
