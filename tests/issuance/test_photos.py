"""The ``photo`` column of ``sscard card batch``: a JPEG inside the photo folder (the CSV's own or ``--photos
DIR``) and nothing else: no absolute paths, no ``..``, no symlinks out, no non-JPEG files. Each refusal names
the row's line; the other rows are still issued. Real files, the real CLI."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from firmware_sim.issuance.batch import BatchConfig, read_people, run_batch
from firmware_sim.demo import DEMO_DIR
from firmware_sim.image import load_card
from tests.support.cli import run

JPEG = (DEMO_DIR / "photo-1.jpg").read_bytes()
SECRET = b"\xFF\xD8 the contents of a secret file \xFF\xD9"      # even shaped like a JPEG


def people(folder: Path, photos: list[str]) -> Path:
    rows = [f"人{i},440106199001011235,A{i:08d},{photo}" for i, photo in enumerate(photos, 1)]
    path = folder / "people.csv"
    path.write_text("name,ssn,card_number,photo\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """tmp/secret.txt outside; tmp/batch/ with the CSV, photos and a few traps."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    batch = tmp_path / "batch"
    (batch / "photos").mkdir(parents=True)
    (batch / "photos" / "ok.jpg").write_bytes(JPEG)
    (batch / "me.jpg").write_bytes(JPEG)
    (batch / "inside.jpg").symlink_to(batch / "photos" / "ok.jpg")
    (batch / "out.jpg").symlink_to(tmp_path / "secret.txt")
    (batch / "photos" / "up").symlink_to(tmp_path)
    (batch / "text.jpg").write_bytes(b"not a picture")
    (batch / "no-eoi.jpg").write_bytes(JPEG[:-2])
    (batch / "big.jpg").write_bytes(JPEG[:2] + bytes(5000) + JPEG[-2:])
    os.mkfifo(batch / "pipe.jpg")
    return batch


CASES = [                                   # (photo cell, what the error says; "" = issued)
    ("me.jpg", ""),
    ("photos/ok.jpg", ""),
    ("inside.jpg", ""),
    ("../secret.txt", "'..' leads out"),
    ("photos/../../secret.txt", "'..' leads out"),
    ("{abs}", "absolute path"),
    ("out.jpg", "symlink that leads out"),
    ("photos/up/secret.txt", "symlink that leads out"),
    ("text.jpg", "not a JPEG"),
    ("no-eoi.jpg", "not a JPEG"),
    ("big.jpg", "the card's photo file holds 4096"),
    ("pipe.jpg", "not a regular file"),
    ("missing.jpg", "no such file"),
]


def test_photos_stay_inside_the_csv_folder_and_are_jpegs(layout: Path) -> None:
    cells = [c.format(abs=layout.parent / "secret.txt") for c, _ in CASES]
    result = run_batch(read_people(people(layout, cells)), BatchConfig(layout / "out", photo_dir=layout))
    errors = {e.line: e.message for e in result.errors}
    for line, (cell, why) in enumerate(CASES, 2):
        image = layout / "out" / f"A{line - 1:08d}.json"
        if why:
            assert why in errors.get(line, ""), (cell, errors.get(line))
            assert not image.exists()
        else:
            assert line not in errors, errors[line]
            assert bytes(load_card(image).dfs["SSSE"].binaries[0xEF08]).startswith(JPEG)
    assert result.issued == 3
    for image in (layout / "out").iterdir():
        assert b"secret file" not in image.read_bytes()


def test_the_cli_reports_the_line_and_takes_a_photo_folder(layout: Path, tmp_path: Path) -> None:
    csv = people(tmp_path, ["../secret.txt", "ok.jpg"])         # the CSV elsewhere, the photos in --photos
    out = run("card", "batch", str(csv), "--out", str(tmp_path / "out"), "--photos", str(layout / "photos"), "-q")
    assert out.returncode == 1
    assert f"{csv}:2: A00000001: photo '../secret.txt': '..' leads out" in out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["A00000002.json"]
    out = run("card", "batch", str(csv), "--out", str(tmp_path / "out"), "--photos", str(tmp_path / "none"))
    assert out.returncode == 2 and "not a folder" in out.stderr


def test_card_new_takes_only_a_jpeg(layout: Path, tmp_path: Path) -> None:
    base = ["card", "new", "--name", "张三", "--ssn", "440106200001011230", "--card-number", "E44010001"]
    out = run(*base, "--out", str(tmp_path / "a.json"), "--photo", str(layout / "text.jpg"))
    assert out.returncode == 2 and "not a JPEG" in out.stderr
    assert not (tmp_path / "a.json").exists()
    out = run(*base, "--out", str(tmp_path / "b.json"), "--photo", str(layout / "me.jpg"))
    assert out.returncode == 0, out.stderr
