"""The sscard command line as a user runs it: output, and exit codes for bad input."""
from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run


def test_read_prints_the_holder() -> None:
    out = run("read", "--reader", "sim")
    assert out.returncode == 0, out.stderr
    assert "陈晓明" in out.stdout and "A44010001" in out.stdout and "广州市" in out.stdout
    data = json.loads(run("read", "--reader", "sim:shenzhen-gen3", "--json").stdout)
    assert data["name"] == "林婉婷" and data["spec_version"] == "3.00" and data["authenticated"] is True


def test_apdu_prints_one_response_per_line_only() -> None:
    out = run("apdu", "--reader", "sim", "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00A4020002EF05",
              "00B2072C0B", "00B2102C00")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("6F") and lines[0].endswith("9000")
    assert lines[1] == "9000"
    assert lines[2] == "0709" + b"A44010001".hex().upper() + "9000"
    assert lines[3] == "6A83"


def test_card_new_and_use(tmp_path: Path) -> None:
    path = tmp_path / "me.json"
    out = run("card", "new", "--out", str(path), "--name", "李雷", "--ssn", "440106200001011230",
              "--card-number", "E44010001", "--profile", "gen3", "--region", "440300")
    assert out.returncode == 0, out.stderr
    out = run("read", "--reader", f"sim:{path}", "--json")
    assert json.loads(out.stdout)["name"] == "李雷"
    assert run("card", "new", "--out", str(path), "--name", "x", "--ssn", "440106200001011230",
               "--card-number", "E44010001").returncode == 2                      # exists
    bad = run("card", "new", "--out", str(tmp_path / "b.json"), "--name", "x", "--ssn", "12",
              "--card-number", "E44010001")
    assert bad.returncode == 2 and "ssn" in bad.stderr


def test_pin_commands_and_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    run("card", "new", "--out", str(path), "--name", "韩梅梅", "--ssn", "440106200001021244",
        "--card-number", "E44010002")
    spec = f"sim:{path}"
    assert run("pin", "verify", "--reader", spec, "--pin", "123456").returncode == 0
    wrong = run("pin", "verify", "--reader", spec, stdin="000000\n")
    assert wrong.returncode == 5 and "2 tries left" in wrong.stderr
    assert run("pin", "tries", "--reader", spec).stdout.strip() == "2"
    assert run("pin", "change", "--reader", spec, "--pin", "123456", "--new-pin", "654321").returncode == 0
    assert run("pin", "reload", "--reader", spec, "--new-pin", "112233").returncode == 0
    assert run("write", "--reader", spec, "SSSEEF06", "09", "韩梅").returncode == 0
    assert json.loads(run("read", "--reader", spec, "--json").stdout)["name"] == "韩梅"


def test_bad_arguments_get_clear_errors(tmp_path: Path) -> None:
    assert run("read", "--reader", "nosuch").returncode == 2
    out = run("apdu", "--reader", "sim", "00A4ZZ")
    assert out.returncode == 2 and "not hexadecimal" in out.stderr
    out = run("apdu", "--reader", "sim", "00A4020003EF05")
    assert out.returncode == 2 and "Lc 3" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "sscard.card/2", "profile": "gen2"}')
    out = run("read", "--reader", f"sim:{bad}")
    assert out.returncode == 4 and "atr" in out.stderr and str(bad) in out.stderr


def test_images_of_the_old_recipes_are_refused_with_a_way_out(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text('{"format": "sscard.card/1", "profile": "gen2"}')
    out = run("read", "--reader", f"sim:{old}")
    assert out.returncode == 4 and str(old) in out.stderr and "sscard card new" in out.stderr
    old_psam = tmp_path / "old-psam.json"
    old_psam.write_text('{"format": "sscard.psam/1"}')
    out = run("read", "--reader", f"sim:guangzhou-gen2,psam={old_psam}")
    assert out.returncode == 4 and str(old_psam) in out.stderr and "sscard psam new" in out.stderr
    assert run("read", "--reader", f"sim:{tmp_path}/missing.json").returncode == 2
    assert run("frobnicate").returncode == 2


def test_issuer_key_files_drive_personalisation(tmp_path: Path) -> None:
    from protocols.crypto import Alg
    from protocols.keys import IssuerKeys
    from protocols.keys import KEY_NAMES
    keys = IssuerKeys("TEST ONLY: other issuer", Alg.DES3, {n: bytes([i + 1]) * 16 for i, n in enumerate(KEY_NAMES)})
    kf = tmp_path / "keys.json"
    kf.write_text(keys.to_json())
    card, psam = tmp_path / "c.json", tmp_path / "p.json"
    assert run("card", "new", "--out", str(card), "--name", "甲", "--ssn", "440106200001011230",
               "--card-number", "E44010001", "--issuer-keys", str(kf)).returncode == 0
    # the demo PSAM holds other keys: the card is not recognised as genuine
    assert run("read", "--reader", f"sim:{card}").returncode == 5
    assert run("psam", "new", "--out", str(psam), "--issuer-keys", str(kf)).returncode == 0
    out = run("read", "--reader", f"sim:{card},psam={psam}", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["authenticated"] is True
    bad = tmp_path / "bad.json"
    bad.write_text('{"label": "x", "alg": "DES3", "keys": {}}')
    out = run("card", "new", "--out", str(tmp_path / "x.json"), "--name", "甲", "--ssn", "440106200001011230",
              "--card-number", "E44010001", "--issuer-keys", str(bad))
    assert out.returncode == 2 and "missing key" in out.stderr


def test_error_messages_name_the_field_never_the_value(tmp_path: Path) -> None:
    from protocols.crypto import Alg
    from protocols.keys import test_issuer_keys
    data = test_issuer_keys(Alg.DES3).to_json_dict()
    name = next(iter(data["keys"]))
    secret = data["keys"][name][:-1] + "Z"
    data["keys"][name] = secret
    kf = tmp_path / "keys.json"
    kf.write_text(json.dumps(data))
    out = run("psam", "new", "--out", str(tmp_path / "p.json"), "--issuer-keys", str(kf))
    assert out.returncode == 2 and f"{kf}: key {name}: not a hex string" in out.stderr
    assert secret[:-1] not in out.stderr

    out = run("apdu", "--reader", "sim", "00B2072C00", "0020000003123456ZZ")
    assert out.returncode == 2 and "APDU 2: not hexadecimal: character 17" in out.stderr
    assert "123456" not in out.stderr
    out = run("apdu", "--reader", "sim", "00200000031234567")
    assert out.returncode == 2 and "odd number of digits (17)" in out.stderr and "1234567" not in out.stderr

    card = tmp_path / "card.json"
    assert run("card", "new", "--out", str(card), "--name", "李雷", "--ssn", "440106200001011230",
               "--card-number", "E44010001").returncode == 0
    image = card.read_text(encoding="utf-8")
    for old, new, field in (('"李雷"', '"李雷' + "梅" * 20 + '"', "(name)"),
                            ('"440106200001011230"', '"44010620000101123X5"', "(ssn)")):
        bad = tmp_path / "bad.json"
        bad.write_text(image.replace(old, new), encoding="utf-8")
        out = run("read", "--reader", f"sim:{bad}")
        assert out.returncode == 4 and field in out.stderr and "bytes in GBK" in out.stderr
        assert new.strip('"')[:6] not in out.stderr and "李雷" not in out.stderr


def test_write_refuses_the_interface_separators(tmp_path: Path) -> None:
    card = tmp_path / "c.json"
    assert run("card", "new", "--out", str(card), "--name", "李雷", "--ssn", "440106200001011230",
               "--card-number", "E44010001").returncode == 0
    spec = f"sim:{card}"
    for file, tag, value, where in (("SSSEEF06", "name", "陈|110101199001011237|X", "character 2 is '|'"),
                                    ("DF01EF06", "28", "139$", "character 4 is '$'")):
        out = run("write", "--reader", spec, file, tag, value)
        assert out.returncode == 2 and where in out.stderr and "may not contain | or $" in out.stderr
        assert "110101" not in out.stderr
    assert json.loads(run("read", "--reader", spec, "--json").stdout)["name"] == "李雷"
    out = run("card", "new", "--out", str(tmp_path / "d.json"), "--name", "陈|X", "--ssn", "440106200001011230",
              "--card-number", "E44010002")
    assert out.returncode == 2 and "--name: character 2 is '|'" in out.stderr and not (tmp_path / "d.json").exists()
