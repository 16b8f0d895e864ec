"""Counter flows over the in-process reader with card and PSAM."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.image import atomic_write, dumps, load_card
from firmware_sim.issuance.personalise import new_card
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from protocols.crypto import Alg
from host.errors import (ApplicationBlocked, AuthenticationFailed, NoPsam, PinBlocked, SecurityNotSatisfied,
                         WrongCard, WrongPin, error_code)
from host.spec import open_terminal
from host.terminal import Terminal

PERSON = {"name": "王小红", "name_ext": "", "ssn": "44010619950505102X", "card_number": "D44010009",
          "issue_date": "20240301", "expiry_date": "20340301"}


@pytest.fixture(params=["gen2", "gen3"])
def term(request: pytest.FixtureRequest, tmp_path: Path) -> Terminal:
    region = "440300" if request.param == "gen3" else "440100"
    img = new_card(PERSON, profile=request.param, region=region, serial=77)
    path = tmp_path / "card.json"
    atomic_write(path, dumps(img.to_json()))
    return Terminal(InProcessReader(CardOS.from_file(path)), InProcessReader(PsamOS(demo_psam(region))))


def test_read_basic_info_authenticates_the_card(term: Terminal) -> None:
    info = term.read_basic_info()
    assert info.name == "王小红" and info.ssn == "44010619950505102X" and info.card_number == "D44010009"
    assert info.authenticated and info.terminal_number.endswith("000001")
    assert info.card_id[:6] == info.region and info.card_id[6:16] == "D156000005"
    assert info.spec_version in ("2.00", "3.00") and info.issue_date == "20240301"


def test_demo_cards_read_through_the_sim_spec() -> None:
    for spec, name in (("sim", "陈晓明"), ("sim:shenzhen-gen3", "林婉婷"), ("sim:foshan-gen2", "欧阳振华")):
        assert open_terminal(spec).read_basic_info().name == name


def test_a_card_of_another_issuer_fails_internal_authentication(tmp_path: Path) -> None:
    from protocols.keys import KEY_NAMES, IssuerKeys
    other = IssuerKeys("TEST ONLY: another issuer", Alg.DES3, {n: bytes([i + 7]) * 16 for i, n in enumerate(KEY_NAMES)})
    img = new_card(PERSON, region="440100", serial=5, issuer=other)
    term = Terminal(InProcessReader(CardOS(img)), InProcessReader(PsamOS(demo_psam("440100"))))
    with pytest.raises(AuthenticationFailed) as info:
        term.read_basic_info()
    assert error_code(info.value) == -21


def test_a_card_of_another_city_of_the_province_is_served(tmp_path: Path) -> None:
    """The PSAM holds root and province keys and the terminal sends the card's own city factor, so a
    Guangzhou counter serves a Foshan card (same province)."""
    img = new_card(PERSON, region="440600", serial=5)
    term = Terminal(InProcessReader(CardOS(img)), InProcessReader(PsamOS(demo_psam("440100"))))
    assert term.read_basic_info().authenticated
    term.write_item("SSSEEF06", "name", "王小明")


def test_pin_flows(term: Terminal) -> None:
    term.verify_pin("123456")
    with pytest.raises(WrongPin) as wrong:
        term.verify_pin("000000")
    assert wrong.value.tries_left == 2 and error_code(wrong.value) == -51
    term.change_pin("123456", "246810")
    assert term.pin_tries_left() == 3
    for left in (2, 1):
        with pytest.raises(WrongPin):
            term.verify_pin("123456")
        assert term.pin_tries_left() == left
    with pytest.raises(PinBlocked) as blocked:
        term.verify_pin("123456")
    assert error_code(blocked.value) == -52
    term.unblock_pin()                   # after external authentication with key 06; no PIN travels
    assert term.pin_tries_left() == 3
    term.verify_pin("246810")
    for _ in range(3):
        with pytest.raises((WrongPin, PinBlocked)):
            term.verify_pin("111111")
    term.reload_pin("135790")
    term.verify_pin("135790")


def test_write_items_both_ways(term: Terminal) -> None:
    term.write_item("SSSEEF06", "name", "王小明")                  # plain after external auth 04
    assert term.read_basic_info().name == "王小明"
    term.write_item("DF01EF06", 0x28, "13900139000")             # CLA 04 with MAC
    assert term.read_items("DF01EF06", ["phone"]) == {"phone": "13900139000"}
    with pytest.raises(ValueError):
        term.write_item("SSSEEF06", "name", "名" * 16)              # 32 bytes of GBK > 30


def test_block_and_unblock(term: Terminal) -> None:
    term.block_application()
    with pytest.raises(ApplicationBlocked):
        term.read_basic_info()
    term.unblock_application()
    assert term.read_basic_info().name == "王小红"
    term.block_application(permanent=True)
    with pytest.raises(ApplicationBlocked) as perm:
        term.unblock_application()
    assert perm.value.sw == 0x9303


def test_a_fresh_terminal_unblocks_with_the_region_of_its_psam(tmp_path: Path) -> None:
    """A blocked SSSE hides its card ID code (EF05 answers 6985), so a terminal that did not read it before
    diversifies the MAC key with the region its PSAM was issued for, or the one it is given."""
    img = new_card(PERSON, profile="gen2", region="440100", serial=78)
    path = tmp_path / "card.json"
    atomic_write(path, dumps(img.to_json()))

    def fresh(region: str = "440100") -> Terminal:
        return Terminal(InProcessReader(CardOS.from_file(path)), InProcessReader(PsamOS(demo_psam(region))))

    fresh().block_application()
    with pytest.raises(AuthenticationFailed):
        fresh().unblock_application(region="440300")         # another city's MAC key: 6988, still blocked
    with pytest.raises(ApplicationBlocked):
        fresh().read_basic_info()
    with pytest.raises(AuthenticationFailed):
        fresh("440300").unblock_application()                 # a PSAM of another city
    fresh().unblock_application()
    assert fresh().read_basic_info().name == "王小红"


def test_card_block(term: Terminal) -> None:
    term.block_card()
    with pytest.raises(ApplicationBlocked) as info:
        term.read_basic_info()
    assert info.value.sw == 0x6A81


def test_photo_is_a_jpeg_after_authentication() -> None:
    photo = open_terminal("sim").read_photo()
    assert photo[:2] == b"\xFF\xD8" and photo[-2:] == b"\xFF\xD9" and len(photo) > 500


def test_no_psam_and_gen3_without_psam() -> None:
    from firmware_sim.demo import demo_card
    term = Terminal(InProcessReader(CardOS(demo_card("shenzhen-gen3"))))
    with pytest.raises(NoPsam):
        term.reload_pin("123456")
    with pytest.raises(NoPsam):
        term.read_basic_info()                                     # EF06 needs RKSSSE on gen3
    term2 = Terminal(InProcessReader(CardOS(demo_card("shenzhen-gen3"))))
    term2.connect()
    term2.card.select_df("SSSE")
    with pytest.raises(SecurityNotSatisfied):
        term2.card.read_file("SSSE/EF06")


def test_wrong_card_is_reported() -> None:
    from tests.host_lib.test_engine import ScriptedDevice
    other_card = ScriptedDevice(["6A82"])     # fake: a card without the SSSE application
    term = Terminal(InProcessReader(other_card))
    with pytest.raises(WrongCard) as info:
        term.read_basic_info(authenticate=False)
    assert error_code(info.value) == -1


def test_flows_persist_to_the_image(tmp_path: Path) -> None:
    img = new_card(PERSON, serial=9)
    path = tmp_path / "c.json"
    atomic_write(path, dumps(img.to_json()))
    term = open_terminal(f"sim:{path}")
    term.change_pin("123456", "777777")
    assert load_card(path).pin == "777777"
