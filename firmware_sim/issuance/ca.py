"""sscard's test certificate authority: it certifies the signing keys gen3 cards generate at issuance.

TEST ONLY. Its SM2 key and self-signed certificate are shipped in ``firmware_sim/demo/pki-test-ca.json`` (the
certificate also as ``pki-test-ca.pem``, for tools such as ``openssl verify``); ``scripts/make_test_ca.py`` makes
a new pair. Anyone can sign with its key, so nothing it certifies proves anything: it exists so that the card's
certificate (file 0018 of the PKI application) is a real SM2 certificate a terminal can read and check, and
the demo cards carry one (docs/design.md §3.4).

Certificates follow ``protocols.x509`` (GM/T 0015-2012 §5.2): the CA's own with keyCertSign, cRLSign and
cA TRUE; a card's with digitalSignature and nonRepudiation, its subject C / ST / L / CN / serialNumber, its
validity the card's issue and expiry dates, its serial number derived from the card and its key.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_sim.demo import DEMO_DIR
from protocols import sm2, x509
from protocols.crypto import sm3
from protocols.errors import MalformedFrame

CA_FILE = DEMO_DIR / "pki-test-ca.json"
CA_PEM = DEMO_DIR / "pki-test-ca.pem"
FORMAT = "sscard.test-ca/1"
NOTE = ("TEST ONLY: sscard's test certificate authority; its private key is public (it is in this file), so a "
        "certificate it issued proves nothing")
CA_NAME: x509.Name = (("C", "CN"), ("O", "sscard TEST ONLY"), ("CN", "sscard TEST ONLY SM2 CA"))
CA_VALIDITY = (_dt.datetime(2020, 1, 1, tzinfo=_dt.UTC), _dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=_dt.UTC))


@dataclass(frozen=True)
class TestCA:
    """The test CA: its key pair and its self-signed certificate (DER)."""

    private_key: bytes
    certificate: bytes
    note: str = NOTE

    __test__ = False         # not a pytest test class, whatever its name

    @functools.cached_property
    def cert(self) -> x509.Certificate:
        """The CA's certificate, parsed (once)."""
        return x509.parse(self.certificate)

    @classmethod
    def create(cls) -> TestCA:
        """A new CA: a fresh key pair and its self-signed certificate."""
        private, public = sm2.generate_keypair()
        key_id = x509.key_identifier(public)
        serial = _serial(b"CA", public)
        tbs = x509.build_tbs(serial=serial, issuer=CA_NAME, subject=CA_NAME, not_before=CA_VALIDITY[0],
                             not_after=CA_VALIDITY[1], public_key=public, issuer_key_id=key_id, ca=True)
        return cls(private, x509.assemble(tbs, sm2.sign(private, public, tbs)))

    @classmethod
    def from_json(cls, doc: Any, where: str = "test CA") -> TestCA:
        """Load and check a CA file's contents: ``ValueError`` naming what is wrong, never the key."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{where}: not a {FORMAT} file")
        try:
            ca = cls(sm2.check_private_key(bytes.fromhex(doc["private_key"])), bytes.fromhex(doc["certificate"]),
                     str(doc["note"]))
            cert = ca.cert
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where}: missing or mistyped field {exc}") from None
        except (ValueError, MalformedFrame) as exc:
            raise ValueError(f"{where}: {exc}") from None
        probe = sm2.sign(ca.private_key, cert.public_key, b"probe")
        if not ca.note.startswith("TEST ONLY") or not cert.is_ca or not cert.signed_by(cert.public_key) \
                or not sm2.verify(cert.public_key, b"probe", probe):
            raise ValueError(f"{where}: not a self-signed TEST ONLY CA whose key matches its certificate")
        return ca

    def to_json(self) -> dict[str, str]:
        return {"format": FORMAT, "note": self.note, "private_key": self.private_key.hex().upper(),
                "certificate": self.certificate.hex().upper()}

    def issue(self, *, subject: x509.Name, public_key: bytes, not_before: _dt.datetime, not_after: _dt.datetime,
              serial_seed: bytes) -> bytes:
        """A signing certificate (DER) for ``public_key``; its serial number derives from ``serial_seed`` and the
        key, so the same card and key get the same serial."""
        own = self.cert
        tbs = x509.build_tbs(serial=_serial(serial_seed, public_key), issuer=own.subject, subject=subject,
                             not_before=not_before, not_after=not_after, public_key=public_key,
                             issuer_key_id=own.subject_key_id)
        return x509.assemble(tbs, sm2.sign(self.private_key, own.public_key, tbs))


def _serial(seed: bytes, public_key: bytes) -> int:
    """A positive 16-byte serial number (as real card certificates have, docs/sources.md §7)."""
    return int.from_bytes(sm3(seed + public_key)[:16], "big") >> 1 | 1 << 126


def load(path: Path | str = CA_FILE) -> TestCA:
    """The CA in ``path`` (default: the shipped test CA)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg})") from None
    return TestCA.from_json(doc, str(path))


@functools.lru_cache(maxsize=1)
def shipped() -> TestCA:
    """The shipped test CA (``firmware_sim/demo/pki-test-ca.json``), loaded once."""
    return load(CA_FILE)
