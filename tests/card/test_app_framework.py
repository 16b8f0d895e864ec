"""The application framework (firmware_sim.apps): routing after SELECT, INS dispatch, an application's own image
section, written atomically with the rest and rolled back with it — shown with a small counter application
registered for these tests only (docs/design.md §3.1)."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware_sim import apps
from firmware_sim.apps import AppData, Application, CardServices, CardStatus
from firmware_sim.card_os import CardOS
from firmware_sim.image import load_card
from protocols import commands as C
from protocols.apdu import CommandAPDU
from protocols.errors import BadCardImage
from tests.card.conftest import SSSE, Card, make_image

NAME = b"\xF0TEST.COUNTER"
SELECT = "00A404000D" + NAME.hex().upper()
BUMP = "00DC01040100"                  # UPDATE RECORD 1 with one byte: count one up
READ = "00B2010400"


@dataclass
class CounterData(AppData):
    count: int

    @classmethod
    def from_json(cls, doc: Any, where: str) -> CounterData:
        if not isinstance(doc, dict) or set(doc) != {"count"}:
            raise BadCardImage(f"{where}: expected {{\"count\": N}}")
        if not isinstance(doc["count"], int) or isinstance(doc["count"], bool) or not 0 <= doc["count"] < 1 << 16:
            raise BadCardImage(f"{where}.count: not in 0..65535")
        return cls(doc["count"])

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count}


class CounterApp(Application[CounterData]):
    section = "counter"
    data_type = CounterData
    commands = {C.READ_RECORD.ins: C.READ_RECORD, C.UPDATE_RECORD.ins: C.UPDATE_RECORD}

    @staticmethod
    def names(data: CounterData) -> tuple[bytes, ...]:
        return (NAME,)

    def select(self, data: CounterData, name: bytes) -> bytes:
        return b"\x6F\x02\x84\x00"

    def process(self, data: CounterData, cmd: CommandAPDU, card: CardServices) -> bytes:
        if cmd.ins == C.UPDATE_RECORD.ins:
            if cmd.data != b"\x00":
                raise CardStatus(0x6A80)
            data.count += 1
            card.persist()
            return b"\x90\x00"
        return card.reply(data.count.to_bytes(2, "big"), cmd.le)


@pytest.fixture
def counter_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setitem(apps.APPLICATIONS, CounterApp.section, CounterApp)
    path = make_image(tmp_path, "gen2")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["apps"]["counter"] = {"count": 0}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    yield path


def _count(path: Path) -> int:
    return int(json.loads(path.read_text(encoding="utf-8"))["apps"]["counter"]["count"])


def test_select_routes_commands_to_the_application_until_another_select(counter_image: Path) -> None:
    card = Card(CardOS.from_file(counter_image))
    assert card(READ)[1] == 0x6985                      # the card OS's READ RECORD: no DF selected
    assert card(SELECT + "00") == (b"\x6F\x02\x84\x00", 0x9000)
    assert card(READ) == (b"\x00\x00", 0x9000)          # now the application's
    assert card.sw("0084000008") == 0x6D00              # GET CHALLENGE: not one of its commands
    assert card.sw("80A80000028300") == 0x6D00          # nor GPO (the bank application's)
    card(SSSE)
    assert card.sw(READ) == 0x6986                      # the card OS's again: no current EF in SSSE
    assert card.sw("0084000008") == 0x9000


def test_an_application_takes_its_commands_with_its_own_clas_only(counter_image: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The card's table takes UPDATE RECORD with CLA 00 and 04; an application that takes it with 00 only answers
    6E00 to CLA 04, and counts nothing."""
    narrow = dataclasses.replace(C.UPDATE_RECORD, clas=(0x00,))
    monkeypatch.setattr(CounterApp, "commands", {C.READ_RECORD.ins: C.READ_RECORD, C.UPDATE_RECORD.ins: narrow})
    card = Card(CardOS.from_file(counter_image))
    card(SELECT)
    assert card.sw("04" + BUMP[2:]) == 0x6E00
    assert _count(counter_image) == 0
    assert card.sw(BUMP) == 0x9000 and _count(counter_image) == 1


def test_an_application_draws_on_the_cards_random_source(counter_image: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    class DiceApp(CounterApp):
        def process(self, data: CounterData, cmd: CommandAPDU, card: CardServices) -> bytes:
            return card.reply(card.random(2), cmd.le)
    monkeypatch.setitem(apps.APPLICATIONS, CounterApp.section, DiceApp)
    card = Card(CardOS.from_file(counter_image, rng=lambda n: bytes(range(7, 7 + n))))
    card(SELECT)
    assert card(READ) == (b"\x07\x08", 0x9000)


def test_an_applications_write_goes_to_its_section_atomically(counter_image: Path) -> None:
    card = Card(CardOS.from_file(counter_image))
    card(SELECT)
    assert card.sw(BUMP) == 0x9000 and card.sw(BUMP) == 0x9000
    assert _count(counter_image) == 2                   # on disk before the response left the card
    assert load_card(counter_image).apps["counter"] == CounterData(2)
    assert load_card(counter_image).apps["bank"]        # the other sections stay
    assert not list(counter_image.parent.glob("*.tmp"))


def test_a_write_that_fails_answers_6581_and_rolls_the_section_back(counter_image: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    os_ = CardOS.from_file(counter_image)
    card = Card(os_)
    card(SELECT)
    card.sw(BUMP)

    def broken(doc: dict[str, Any]) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os_.store, "save", broken)
    assert card.sw(BUMP) == 0x6581
    assert card(READ) == (b"\x00\x01", 0x9000)          # the count the disk holds, not the one the write lost
    assert _count(counter_image) == 1


def test_processes_sharing_the_image_see_each_others_writes(counter_image: Path) -> None:
    one, two = Card(CardOS.from_file(counter_image)), Card(CardOS.from_file(counter_image))
    one(SELECT)
    two(SELECT)
    one.sw(BUMP)
    assert two(READ) == (b"\x00\x01", 0x9000)
    two.sw(BUMP)
    assert one(READ) == (b"\x00\x02", 0x9000)


def test_an_application_removed_from_the_image_is_left(counter_image: Path) -> None:
    one = Card(CardOS.from_file(counter_image))
    one(SELECT)
    doc = json.loads(counter_image.read_text(encoding="utf-8"))
    del doc["apps"]["counter"]
    counter_image.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert one.sw(READ) == 0x6985                       # the card OS answers again
    assert one.sw(SELECT) == 0x6A82


def test_sections_load_strictly(counter_image: Path) -> None:
    doc = json.loads(counter_image.read_text(encoding="utf-8"))
    doc["apps"]["counter"]["count"] = -1
    counter_image.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BadCardImage, match=r"apps\.counter\.count: not in 0\.\.65535"):
        load_card(counter_image)
    card = CardOS.from_file(make_image(counter_image.parent, "gen3"))
    assert card.process(bytes.fromhex(SELECT)) == b"\x6A\x82"     # a card without the section lacks the app


class FilingCounterApp(CounterApp):
    """The counter with a file system of its own: SELECT of FID 0001 answers 9000, FID 0002 is refused (6A82);
    every other SELECT is the card OS's."""

    def select_file(self, data: CounterData, cmd: CommandAPDU, card: CardServices) -> bytes | None:
        if cmd.p1 == 0x00 and cmd.data == b"\x00\x01":
            return b"\x90\x00"
        if cmd.p1 == 0x00 and cmd.data == b"\x00\x02":
            raise CardStatus(0x6A82)
        return None


def test_an_application_may_answer_selects_of_its_own_files(counter_image: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(apps.APPLICATIONS, CounterApp.section, FilingCounterApp)
    card = Card(CardOS.from_file(counter_image))
    card(SELECT)
    assert card.sw("00A40000020001") == 0x9000 and card(READ) == (b"\x00\x00", 0x9000)   # still selected
    assert card.sw("00A40000020002") == 0x6A82 and card(READ) == (b"\x00\x00", 0x9000)   # a refusal keeps it
    assert card.sw("00A4000002EF05") == 0x6A82                                             # the card OS's SELECT
    assert card.sw(READ) == 0x6985                                                         # … ended it
