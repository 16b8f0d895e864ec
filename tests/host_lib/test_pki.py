"""The PKI application from the terminal's side (host.pki): the certificate, signatures a third-party SM2
implementation verifies, PIN errors, cards without the application; the command line (sscard pki cert|sign), the
standard interface (PKI_SignData, PKI_VerifySign, PKI_GetCert) and traces that keep the PIN out."""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pysmx import SM2 as ThirdPartySM2

from firmware_sim.apps.pki import PkiData
from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card
from firmware_sim.image import load_card, load_json
from firmware_sim.issuance.ca import CA_PEM
from hardware.inprocess import InProcessReader
from host.cli import main
from host.errors import PinBlocked, WrongCard, WrongPin
from host.pki import PkiClient
from host.standard import ScriptedPins, SSCardDriver, call
from host.terminal import Terminal
from host.trace import Tracer
from protocols import crypto, sm2, x509
from tests.card.conftest import make_image
from tests.support.cardkit import app_data

MESSAGE = "为社会保障卡签名的测试数据 — test data".encode()


@pytest.fixture
def gen3(tmp_path: Path) -> Path:
    return make_image(tmp_path, "gen3")


def _data(path: Path) -> PkiData:
    return app_data(load_card(path), "pki", PkiData)


def _third_party_verifies(public: bytes, message: bytes, signature: bytes) -> bool:
    return bool(ThirdPartySM2.Verify(signature, message, public, 64, uid=sm2.DEFAULT_ID))


# --- the library -----------------------------------------------------------------------------------------------
def test_certificate_and_signature_on_sim(gen3: Path) -> None:
    term = Terminal(InProcessReader(CardOS.from_file(gen3)))
    der = term.read_pki_certificate()
    cert = x509.parse(der)
    assert der == _data(gen3).sign_certificate and ("CN", "测试员") in cert.subject
    signature = term.pki_sign(MESSAGE, "123456")
    assert signature.public_key == cert.public_key and len(signature.raw) == 64
    assert signature.digest == sm2.message_digest(cert.public_key, MESSAGE)
    assert sm2.signature_raw(signature.der) == signature.raw
    assert _third_party_verifies(cert.public_key, MESSAGE, signature.raw)
    assert term.pki_pin_tries_left() == 3


def test_wrong_pin_then_blocked(gen3: Path) -> None:
    term = Terminal(InProcessReader(CardOS.from_file(gen3)))
    with pytest.raises(WrongPin) as info:
        term.pki_sign(MESSAGE, "111111")
    assert info.value.tries_left == 2 and term.pki_pin_tries_left() == 2
    for _ in range(2):
        with pytest.raises((WrongPin, PinBlocked)):
            term.pki_sign(MESSAGE, "111111")
    with pytest.raises(PinBlocked):
        term.pki_sign(MESSAGE, "123456")
    assert term.pki_pin_tries_left() == 0
    term.verify_pin("123456")                         # the social security PIN is another PIN: still good


def test_cards_without_the_application_or_its_certificate(tmp_path: Path) -> None:
    gen2 = Terminal(InProcessReader(CardOS(demo_card())))
    with pytest.raises(WrongCard, match="no PKI application"):
        gen2.read_pki_certificate()
    with pytest.raises(WrongCard):
        gen2.pki_sign(MESSAGE, "123456")
    path = make_image(tmp_path, "gen3", pki=False)
    doc = load_json(path)
    doc["apps"]["pki"] = PkiData.new("123456").to_json()
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    blank = Terminal(InProcessReader(CardOS.from_file(path)))
    assert blank.read_pki_certificate() == b""
    with pytest.raises(Exception, match="no signing key"):
        blank.pki_sign(MESSAGE, "123456")


def test_a_signature_that_does_not_verify_is_refused(gen3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal(InProcessReader(CardOS.from_file(gen3)))
    monkeypatch.setattr(PkiClient, "sign_digest", lambda self, digest: b"\x01" * 64)
    with pytest.raises(Exception, match="does not verify") as info:
        term.pki_sign(MESSAGE, "123456")
    assert getattr(info.value, "sw", None) == 0x6F00


def test_traces_keep_the_pin_out() -> None:
    tracer = Tracer(keep=True)
    card = CardOS(demo_card("shenzhen-gen3"))
    term = Terminal(InProcessReader(card), trace=tracer)
    term.pki_sign(MESSAGE, "123456")
    client = PkiClient(term.card.engine)
    with term.session():
        client.select()
        client.send(0x80, 0xC4, 0x01, 0x03, bytes.fromhex("C103123456"), 256)     # [S6]'s PIN DIGEST
    text = json.dumps(tracer.records)
    digest = crypto.sm3(bytes.fromhex("123456")).hex().upper()
    assert "123456" not in text.replace("0123456", "") and digest[:16] not in text
    names = [r["cmd_name"] for r in tracer.records]
    assert "PERFORM SECURITY OPERATION" in names and "PIN DIGEST (SM3)" in names
    verify = next(r for r in tracer.records if r["cmd_name"] == "VERIFY")
    assert verify["cmd"] == "0020018110<redacted 16 bytes>"
    pin_digest = next(r for r in tracer.records if r["cmd_name"] == "PIN DIGEST (SM3)")
    assert str(pin_digest["cmd"]).startswith("80C4010305<redacted") and str(pin_digest["rsp"]).startswith("<redacted 32")


# --- the standard interface -------------------------------------------------------------------------------------
def test_standard_interface_functions(gen3: Path, tmp_path: Path) -> None:
    driver = SSCardDriver(f"sim:{gen3}")
    code, out = driver.PKI_GetCert(3)
    fields = out.split("|")
    assert code == 0 and base64.b64decode(fields[0]) == _data(gen3).sign_certificate
    assert fields[1] == "C=CN, ST=广东省, L=深圳市, CN=测试员, serialNumber=T44010001"
    assert fields[2] == "C=CN, O=sscard TEST ONLY, CN=sscard TEST ONLY SM2 CA" and fields[4] == "20240301000000"
    code, out = driver.PKI_SignData("123456", "请签名", 1)
    signature = sm2.signature_raw(base64.b64decode(out.rstrip("|")))
    assert code == 0 and _third_party_verifies(_data(gen3).sign_public_key, "请签名".encode("gbk"), signature)
    assert driver.PKI_SignData("111111", "x", 1) == (-51, "2|wrong PIN, 2 tries left|")
    assert driver.PKI_SignData("12345", "x", 1)[0] == -33
    asked = SSCardDriver(f"sim:{gen3}", pin_entry=ScriptedPins(["123456"]))
    assert asked.PKI_SignData("", "x", 1)[0] == 0                         # an empty pUserPin asks PinEntry
    assert SSCardDriver("sim").PKI_SignData("123456", "x", 1)[0] == -1   # gen2: no PKI application
    assert SSCardDriver("sim").PKI_GetCert(1)[0] == -1
    assert driver.PKI_GetCert(7)[0] == -14


def test_verify_sign(gen3: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """PKI_VerifySign of PKI_SignData's output: 1| and 0, or 0| and -22 when the signature does not verify; the
    card's certificate read from the card (empty pCert) or given, then no card is used."""
    driver = SSCardDriver(f"sim:{gen3}")
    cert_out = driver.PKI_GetCert(1)[1]
    cert = cert_out.split("|")[0]
    signature = driver.PKI_SignData("123456", "请签名", 1)[1]
    assert driver.PKI_VerifySign("", "", "请签名", signature, 1) == (0, "1|")
    assert driver.PKI_VerifySign("999999", cert, "请签名", signature.rstrip("|"), 3) == (0, "1|")   # pUserPin unused
    assert driver.PKI_VerifySign("", cert_out, "请签名", signature, 1) == (0, "1|")    # PKI_GetCert's whole output
    assert driver.PKI_VerifySign("", cert, "请签名!", signature, 1) == (-22, "0|")
    private, public = sm2.generate_keypair()
    other = base64.b64encode(sm2.signature_der(sm2.sign(private, public, "请签名".encode("gbk")))).decode()
    assert driver.PKI_VerifySign("", "", "请签名", other, 1) == (-22, "0|")
    assert "verify" not in capfd.readouterr().err                 # GmSSL's line on a failed check stays hidden
    assert SSCardDriver("sim").PKI_VerifySign("", cert, "请签名", signature, 1) == (0, "1|")   # gen2: card unused
    assert SSCardDriver("sim").PKI_VerifySign("", "", "请签名", signature, 1)[0] == -1
    assert driver.PKI_VerifySign("", cert, "请签名", "%%%", 1)[0] == -23
    assert driver.PKI_VerifySign("", "AAAA", "请签名", signature, 1)[0] == -23
    assert driver.PKI_VerifySign("", cert, "\U0001F600", signature, 1)[0] == -41
    assert driver.PKI_VerifySign("", cert, "请签名", signature, 9)[0] == -14
    assert call(driver, {"function": "PKI_VerifySign", "pCert": cert, "pClearText": "请签名",
                         "pSignature": signature, "iType": 1}) == (0, "1|")
    path = make_image(tmp_path, "gen3", pki=False)
    doc = load_json(path)
    doc["apps"]["pki"] = PkiData.new("123456").to_json()
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert SSCardDriver(f"sim:{path}").PKI_VerifySign("", "", "请签名", signature, 1)[0] == -0x6A82


# --- the command line ---------------------------------------------------------------------------------------------
def test_cli_cert_shows_and_writes_the_certificate(gen3: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"sim:{gen3}"
    assert main(["pki", "cert", "--reader", spec, "--ca", str(CA_PEM)]) == 0
    out = capsys.readouterr().out
    for text in ("主题 Subject", "C=CN, ST=广东省, L=深圳市, CN=测试员, serialNumber=T44010001",
                 "sscard TEST ONLY SM2 CA", "2024-03-01 00:00:00 UTC", "2034-03-01 00:00:00 UTC",
                 "digitalSignature, nonRepudiation", "SM2 04" + _data(gen3).sign_public_key.hex().upper(),
                 "signed by"):
        assert text in out, text
    assert main(["pki", "cert", "--reader", spec, "--out", str(tmp_path / "card.der")]) == 0
    assert (tmp_path / "card.der").read_bytes() == _data(gen3).sign_certificate
    assert "(DER, " in capsys.readouterr().out
    assert main(["pki", "cert", "--reader", spec, "--out", str(tmp_path / "card.pem"), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["serial"] == f"{x509.parse(_data(gen3).sign_certificate).serial:X}"
    assert (tmp_path / "card.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert main(["pki", "cert", "--reader", spec, "--ca", str(tmp_path / "card.pem")]) == 0     # not its issuer
    assert "not issued by" in capsys.readouterr().out


def test_cli_cert_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pki", "cert", "--reader", "sim"]) == 1
    assert "no PKI application" in capsys.readouterr().err
    path = make_image(tmp_path, "gen3", pki=False)
    doc = load_json(path)
    doc["apps"]["pki"] = PkiData.new("123456").to_json()
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert main(["pki", "cert", "--reader", f"sim:{path}"]) == 1
    assert "holds no signing certificate" in capsys.readouterr().err


def test_cli_sign_with_the_pin_as_sscard_pin_takes_it(gen3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    spec = f"sim:{gen3}"
    public = _data(gen3).sign_public_key
    data = tmp_path / "data.bin"
    data.write_bytes(MESSAGE)
    assert main(["pki", "sign", str(data), "--reader", spec, "--pin", "123456"]) == 0
    der = bytes.fromhex(capsys.readouterr().out.strip())
    assert _third_party_verifies(public, MESSAGE, sm2.signature_raw(der))
    monkeypatch.setattr(sys, "stdin", io.StringIO("123456\n"))                  # a line of standard input
    assert main(["pki", "sign", str(data), "--reader", spec, "--raw", "--out", str(tmp_path / "sig")]) == 0
    assert "r‖s, 64 bytes" in capsys.readouterr().out
    assert _third_party_verifies(public, MESSAGE, (tmp_path / "sig").read_bytes())
    assert main(["pki", "sign", str(data), "--reader", spec, "--pin", "123456", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "der" and out["id"] == "1234567812345678" and out["public_key"] == public.hex().upper()


def test_cli_sign_exit_codes(gen3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = f"sim:{gen3}"
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    assert main(["pki", "sign", str(data), "--reader", spec, "--pin", "000000"]) == 5
    assert "2 tries left" in capsys.readouterr().err
    assert main(["pki", "sign", str(data), "--reader", spec, "--pin", "12ab56"]) == 2
    assert main(["pki", "sign", str(tmp_path / "missing"), "--reader", spec, "--pin", "123456"]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["pki", "sign", str(data), "--reader", spec]) == 2
    assert "no PIN given" in capsys.readouterr().err
    assert main(["pki", "sign", str(data), "--reader", "sim", "--pin", "123456"]) == 1
    assert _data(gen3).pin_tries_left == 2                   # only the wrong PIN cost a try


def test_openssl_verifies_what_sscard_pki_sign_wrote(gen3: Path, tmp_path: Path) -> None:
    """The README's recipe: the certificate from ``pki cert --out``, the signature from ``pki sign --out``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    spec = f"sim:{gen3}"
    data = tmp_path / "data.txt"
    data.write_bytes(MESSAGE)
    assert main(["pki", "cert", "--reader", spec, "--out", str(tmp_path / "card.pem")]) == 0
    assert main(["pki", "sign", str(data), "--reader", spec, "--pin", "123456", "--out", str(tmp_path / "sig")]) == 0
    subprocess.run([openssl, "x509", "-in", str(tmp_path / "card.pem"), "-pubkey", "-noout", "-out",
                    str(tmp_path / "card.pub")], check=True)
    done = subprocess.run([openssl, "dgst", "-sm3", "-verify", str(tmp_path / "card.pub"), "-sigopt",
                           "distid:1234567812345678", "-signature", str(tmp_path / "sig"), str(data)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "Verified OK" in done.stdout
