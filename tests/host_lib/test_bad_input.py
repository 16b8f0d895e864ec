"""Input that looks almost right: digits that are not ASCII, numbers too long to read, reader specs whose paths
hold ',' or '='. Each is refused where it enters, with a precise message and the documented exit code
(4 bad image, 2 bad argument), never later in a codec. Real files, the real CLI."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.image import CardImage, load_card
from firmware_sim.psam_image import PsamImage, load_psam
from firmware_sim.issuance.personalise import write_new_card, write_new_psam
from host.spec import ReaderSpec, ReaderSpecError
from protocols.codecs import check_date
from protocols.errors import BadCardImage
from tests.support.cli import run

PERSON = {"name": "输入", "ssn": "440106199001011235", "card_number": "I44010001"}
FULL_WIDTH = "１２３４５６"
ARABIC_INDIC = "٤٤٠١٠٠"


def card_doc(tmp: Path) -> dict[str, Any]:
    write_new_card(tmp / "base.json", PERSON, profile="gen2", region="440100", serial=5)
    return json.loads((tmp / "base.json").read_text(encoding="utf-8"))


def psam_doc(tmp: Path) -> dict[str, Any]:
    write_new_psam(tmp / "psam-base.json", "440100", "440100000001")
    return json.loads((tmp / "psam-base.json").read_text(encoding="utf-8"))


def save(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# --- digits ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, value, message", [
    (("pin", "value"), FULL_WIDTH, "pin.value"),
    (("pin", "value"), "12345²", "pin.value"),
    (("region",), ARABIC_INDIC, "region"),
    (("region",), "４４０１００", "region"),
])
def test_card_images_take_ascii_digits_only(tmp_path: Path, where: tuple[str, ...], value: str,
                                            message: str) -> None:
    doc = card_doc(tmp_path)
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    with pytest.raises(BadCardImage, match=message):
        CardImage.from_json(doc)
    path = save(tmp_path / "card.json", doc)
    out = run("pin", "verify", "--reader", f"sim:{path}", "--pin", "123456")
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith(f"sscard: bad image: {path}: {message}: ") and FULL_WIDTH not in out.stderr


@pytest.mark.parametrize("key, value", [("terminal", "４４０１０００００００１"), ("region", ARABIC_INDIC)])
def test_psam_images_take_ascii_digits_only(tmp_path: Path, key: str, value: str) -> None:
    doc = psam_doc(tmp_path)
    doc[key] = value
    with pytest.raises(BadCardImage, match=key):
        PsamImage.from_json(doc)


def test_dates_take_ascii_digits_only() -> None:
    assert check_date("20240301").year == 2024
    with pytest.raises(ValueError, match="YYYYMMDD"):
        check_date("２０２４０３０１")


def test_a_number_of_thousands_of_digits_is_a_bad_image(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    text = json.dumps(card_doc(tmp_path), ensure_ascii=False)
    card.write_text(text.replace('"tries_left": 3', '"tries_left": ' + "7" * 5000, 1), encoding="utf-8")
    with pytest.raises(BadCardImage, match="digits"):
        load_card(card)
    out = run("pin", "tries", "--reader", f"sim:{card}")
    assert out.returncode == 4 and "bad image" in out.stderr and "set_int_max_str_digits" not in out.stderr
    psam = tmp_path / "psam.json"
    doc = psam_doc(tmp_path)
    psam.write_text(json.dumps(doc)[:-1] + ', "note": ' + "9" * 5000 + "}", encoding="utf-8")
    with pytest.raises(BadCardImage):
        load_psam(psam)
    good = save(tmp_path / "good.json", card_doc(tmp_path))
    out = run("pin", "tries", "--reader", f"sim:{good},psam={psam}")
    assert out.returncode == 4, out.stderr


# --- reader specs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind, target, options", [
    ("sim", "sim", "", {}),
    ("sim:c.json,psam=p.json", "sim", "c.json", {"psam": "p.json"}),
    ("sim:/d/a,,b.json", "sim", "/d/a,b.json", {}),
    ("sim:card=/d/x=y.json,psam=/d/p,,q=r.json", "sim", "/d/x=y.json", {"psam": "/d/p,q=r.json"}),
    ("sim:,psam=p.json", "sim", "", {"psam": "p.json"}),
    ("pcsc:Vendor,,Inc 0,psam=Other", "pcsc", "Vendor,Inc 0", {"psam": "Other"}),
    ("ccid-serial:socket://127.0.0.1:9,baud=9600", "ccid-serial", "socket://127.0.0.1:9,baud=9600", {}),
])
def test_reader_specs(text: str, kind: str, target: str, options: dict[str, str]) -> None:
    assert ReaderSpec.parse(text) == ReaderSpec(kind, target, options)


@pytest.mark.parametrize("text, message", [
    ("sim:/d/a,b.json", "'b.json' is neither the first part nor KEY=VALUE (a ',' inside a path or name is "
                        "written ',,')"),
    ("sim:/d/x=y.json", "unknown option '/d/x' (sim takes card=, psam=); a path containing '=' is given as "
                        "card=PATH"),
    ("sim:c.json,card=d.json", "the card is given twice ('c.json' and card=)"),
    ("sim:c.json,psam=", "psam= needs a value (a PSAM image path or reader name)"),
    ("sim:card=", "card= needs a value (a card image path or demo name)"),
    ("sim:c.json,psam=a.json,psam=b.json", "psam= is given twice"),
    ("sim:c.json,", "an empty part after a ','"),
    ("pcsc:0,card=c.json", "unknown option 'card' (pcsc takes psam=)"),
])
def test_reader_spec_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ReaderSpecError) as exc:
        ReaderSpec.parse(text)
    assert str(exc.value) == f"reader spec {text!r}: {message}"


def test_paths_with_commas_and_equals_signs_work_from_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "a=b,c"
    folder.mkdir()
    card = folder / "card.json"
    write_new_card(card, PERSON, profile="gen2", region="440100", serial=6)
    psam = folder / "psam.json"
    write_new_psam(psam, "440100", "440100000009")
    quoted = str(folder).replace(",", ",,")
    out = run("read", "--json", "--reader", f"sim:card={quoted}/card.json,psam={quoted}/psam.json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["terminal_number"] == "440100000009"
    out = run("read", "--reader", f"sim:card={quoted}/card.json,psam=")
    assert out.returncode == 2 and "psam= needs a value" in out.stderr


def test_personalisation_takes_ascii_digits_only() -> None:
    import pytest as _pytest

    from firmware_sim.issuance.personalise import new_card, new_psam
    with _pytest.raises(ValueError, match="terminal"):
        new_psam("440100", terminal="４４０１０００００００１")
    with _pytest.raises(ValueError, match="region"):
        new_psam("４４０１００")
    with _pytest.raises(ValueError, match="ssn"):
        new_card({"name": "甲", "ssn": "４４０１０６１９９００１０１１２３４", "card_number": "A12345678"})
