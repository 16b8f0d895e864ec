"""SM2 (protocols.sm2), the DER writer and reader (protocols.asn1) and SM2 certificates (protocols.x509), checked
against implementations that share no code with them: snowland-smx (a pure-Python SM2), `cryptography`'s X.509
reader, and the OpenSSL command line where it is installed."""
from __future__ import annotations

import datetime as _dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509 as crypto_x509
from pysmx import SM2 as ThirdPartySM2

from firmware_sim.issuance.ca import CA_PEM, TestCA, shipped
from protocols import asn1, sm2, x509
from protocols.errors import MalformedFrame

UTC = _dt.UTC
SUBJECT: x509.Name = (("C", "CN"), ("ST", "广东省"), ("L", "深圳市"), ("CN", "测试员"), ("serialNumber", "T44030001"))


# --- DER -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, der", [
    (0, "020100"), (127, "02017F"), (128, "02020080"), (-1, "0201FF"), (-128, "020180"), (256, "02020100"),
])
def test_integers_take_the_fewest_octets(value: int, der: str) -> None:
    """X.690 §8.3.2."""
    assert asn1.integer(value).hex().upper() == der
    assert asn1.read_integer(bytes.fromhex(der)[2:]) == value


def test_object_identifiers_and_lengths() -> None:
    assert asn1.oid(x509.SM2_WITH_SM3).hex().upper() == "06082A811CCF55018375"       # GM/T 0006 / openssl
    assert asn1.oid(x509.SM2_CURVE).hex().upper() == "06082A811CCF5501822D"
    assert asn1.read_oid(bytes.fromhex("2A811CCF55018375")) == x509.SM2_WITH_SM3
    assert asn1.length(127) == b"\x7F" and asn1.length(128) == b"\x81\x80" and asn1.length(256) == b"\x82\x01\x00"


@pytest.mark.parametrize("bad, why", [
    ("3080", "indefinite"), ("30810100", "shortest"), ("3003020101FF", "after"), ("300502", "wants"),
    ("1F01", "multi-byte"), ("", "no item"),
])
def test_the_reader_is_strict(bad: str, why: str) -> None:
    with pytest.raises(MalformedFrame, match=why):
        asn1.one(bytes.fromhex(bad))


def test_non_minimal_integers_and_arcs_are_refused() -> None:
    with pytest.raises(MalformedFrame):
        asn1.read_integer(bytes.fromhex("007F"))
    with pytest.raises(MalformedFrame):
        asn1.read_oid(bytes.fromhex("2A8001"))


# --- SM2 -----------------------------------------------------------------------------------------------------------
def test_z_and_signatures_agree_with_a_third_party_implementation() -> None:
    private, public = sm2.generate_keypair()
    assert sm2.z_value(public).hex() == ThirdPartySM2.get_za(sm2.DEFAULT_ID, public)
    assert sm2.z_value(public, b"ALICE123@YAHOO.COM").hex() == ThirdPartySM2.get_za(b"ALICE123@YAHOO.COM", public)
    message = b"message digest"
    signature = sm2.sign(private, public, message)
    assert ThirdPartySM2.Verify(signature, message, public, 64, uid=sm2.DEFAULT_ID)
    theirs = ThirdPartySM2.Sign(message, private, "6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F",
                                64, uid=sm2.DEFAULT_ID)
    assert sm2.verify(public, message, theirs)
    assert not sm2.verify(public, message + b".", theirs)


def test_signature_forms_and_ranges() -> None:
    raw = (1).to_bytes(32, "big") + (sm2.N - 1).to_bytes(32, "big")
    der = sm2.signature_der(raw)
    assert der[:6].hex().upper() == "302602010102" and sm2.signature_raw(der) == raw
    assert not sm2.verify_digest(sm2.generate_keypair()[1], bytes(32), bytes(64))            # r = s = 0
    with pytest.raises(MalformedFrame):
        sm2.signature_raw(sm2.signature_der(raw[:32] + sm2.N.to_bytes(32, "big")))           # s = n
    with pytest.raises(ValueError, match="not a point"):
        sm2.check_public_key(bytes(64))
    with pytest.raises(ValueError, match=r"\[1, n − 2\]"):
        sm2.check_private_key((sm2.N - 1).to_bytes(32, "big"))


# --- certificates ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def issued() -> tuple[TestCA, bytes, bytes]:
    ca = shipped()
    _private, public = sm2.generate_keypair()
    der = ca.issue(subject=SUBJECT, public_key=public, not_before=_dt.datetime(2024, 3, 1, tzinfo=UTC),
                   not_after=_dt.datetime(2034, 3, 1, tzinfo=UTC), serial_seed=b"card")
    return ca, public, der


def test_a_certificate_round_trips(issued: tuple[TestCA, bytes, bytes]) -> None:
    ca, public, der = issued
    cert = x509.parse(der)
    assert (cert.version, cert.subject, cert.issuer) == (3, SUBJECT, ca.cert.subject)
    assert cert.public_key == public and cert.key_usage == x509.SIGNING and not cert.is_ca
    assert (cert.not_before.year, cert.not_after.year) == (2024, 2034) and cert.serial.bit_length() <= 128
    assert cert.authority_key_id == ca.cert.subject_key_id == x509.key_identifier(ca.cert.public_key)
    assert cert.signed_by(ca.cert.public_key) and not cert.signed_by(public)
    assert x509.from_pem_or_der(x509.to_pem(der).encode()) == der and x509.certificate_length(der[:4]) == len(der)


def test_another_reader_sees_the_same_certificate(issued: tuple[TestCA, bytes, bytes]) -> None:
    """`cryptography` reads the names, serial, validity and algorithm (it has no SM2 key support)."""
    _ca, _public, der = issued
    theirs = crypto_x509.load_der_x509_certificate(der)
    ours = x509.parse(der)
    assert theirs.subject.rfc4514_string() == "2.5.4.5=T44030001,CN=测试员,L=深圳市,ST=广东省,C=CN"
    assert theirs.serial_number == ours.serial and theirs.not_valid_after_utc == ours.not_after
    assert theirs.signature_algorithm_oid.dotted_string == x509.SM2_WITH_SM3
    assert ThirdPartySM2.Verify(ours.signature, ours.tbs, _ca.cert.public_key, 64, uid=sm2.DEFAULT_ID)


def test_the_shipped_test_ca(issued: tuple[TestCA, bytes, bytes]) -> None:
    ca = shipped()
    assert ca.note.startswith("TEST ONLY") and "TEST ONLY" in x509.name_text(ca.cert.subject)
    assert ca.cert.is_ca and ca.cert.key_usage == x509.CA_USAGES and ca.cert.signed_by(ca.cert.public_key)
    assert x509.from_pem_or_der(CA_PEM.read_bytes()) == ca.certificate
    with pytest.raises(ValueError, match="not a sscard.test-ca/1 file"):
        TestCA.from_json({"format": "x"})
    other = TestCA.create()
    with pytest.raises(ValueError, match="key matches"):
        TestCA.from_json({**ca.to_json(), "private_key": other.private_key.hex()})


def test_tampered_certificates_are_refused_or_do_not_verify(issued: tuple[TestCA, bytes, bytes]) -> None:
    ca, _public, der = issued
    at = der.index("测试员".encode())
    forged = der[:at] + "测试贝".encode() + der[at + len("测试员".encode()):]
    assert not x509.parse(forged).signed_by(ca.cert.public_key)
    with pytest.raises(MalformedFrame, match="not SM2 with SM3"):
        x509.parse(der.replace(bytes.fromhex("2A811CCF55018375"), bytes.fromhex("2A811CCF55018376")))
    with pytest.raises(MalformedFrame):
        x509.parse(der[:-1])
    with pytest.raises(MalformedFrame):
        x509.certificate_length(b"\x31\x82\x01\x00")


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    return path


def test_openssl_reads_the_certificate_and_verifies_its_signature(issued: tuple[TestCA, bytes, bytes],
                                                                  tmp_path: Path) -> None:
    """OpenSSL (a third SM2 implementation) parses the certificate and verifies the CA's signature over the TBS
    with the default ID (GM/T 0009-2012 §10)."""
    openssl = _openssl()
    ca, _public, der = issued
    cert = x509.parse(der)
    (tmp_path / "card.der").write_bytes(der)
    text = subprocess.run([openssl, "x509", "-inform", "DER", "-in", str(tmp_path / "card.der"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "SM2-with-SM3" in text and "Digital Signature, Non Repudiation" in text
    subprocess.run([openssl, "x509", "-in", str(CA_PEM), "-pubkey", "-noout", "-out", str(tmp_path / "ca.pub")],
                   check=True)
    (tmp_path / "tbs").write_bytes(cert.tbs)
    (tmp_path / "sig").write_bytes(sm2.signature_der(cert.signature))
    ok = subprocess.run([openssl, "dgst", "-sm3", "-verify", str(tmp_path / "ca.pub"), "-sigopt",
                         "distid:1234567812345678", "-signature", str(tmp_path / "sig"), str(tmp_path / "tbs")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
