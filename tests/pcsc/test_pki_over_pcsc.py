"""The PKI application over PC/SC: pyscard → private pcscd → vpcd → the emulated gen3 card (T=0: the FCIs and the
signature come through 61xx and GET RESPONSE, the certificate in READ BINARY chunks), used by the library, by the
standard interface, and refused on a gen2 card."""
from __future__ import annotations

import base64
import json

import pytest
from pysmx import SM2 as ThirdPartySM2

from firmware_sim.apps.pki import PkiData
from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card
from firmware_sim.image import CardImage
from host.errors import WrongCard, WrongPin
from host.standard import SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer
from protocols import sm2, x509
from tests.support.cardkit import app_data

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc


def _pki(image: CardImage) -> PkiData:
    return app_data(image, "pki", PkiData)


def test_pki_certificate_and_signature_over_pcsc(pcscd_vpcd: VpcdBench, serve) -> None:
    image = demo_card("shenzhen-gen3")
    data = _pki(image)
    serve(CardOS(image), 0)
    tracer = Tracer(keep=True)
    term = Terminal(pcscd_vpcd.reader(0), trace=tracer)
    try:
        der = term.read_pki_certificate()
        assert der == data.sign_certificate and ("CN", "林婉婷") in x509.parse(der).subject
        signature = term.pki_sign(b"over PC/SC", "123456")
        assert ThirdPartySM2.Verify(signature.raw, b"over PC/SC", data.sign_public_key, 64, uid=sm2.DEFAULT_ID)
        with pytest.raises(WrongPin):
            term.pki_sign(b"x", "000000")
        assert term.pki_pin_tries_left() == 2
        names = [r["cmd_name"] for r in tracer.records]
        assert "PERFORM SECURITY OPERATION" in names and "GET RESPONSE" in names    # T=0 through pcscd
        assert "123456" not in json.dumps(tracer.records).replace("0123456", "")
    finally:
        term.close()


def test_pki_standard_functions_over_pcsc(pcscd_vpcd: VpcdBench, serve) -> None:
    image = demo_card("shenzhen-gen3")
    serve(CardOS(image), 0)
    driver = SSCardDriver(Terminal(pcscd_vpcd.reader(0)))
    try:
        code, out = driver.PKI_GetCert(1)
        assert code == 0 and base64.b64decode(out.split("|")[0]) == _pki(image).sign_certificate
        code, out = driver.PKI_SignData("123456", "签名", 1)
        signature = sm2.signature_raw(base64.b64decode(out.rstrip("|")))
        assert code == 0 and sm2.verify(_pki(image).sign_public_key, "签名".encode("gbk"), signature)
    finally:
        driver.close()


def test_a_gen2_card_over_pcsc_has_no_pki_application(pcscd_vpcd: VpcdBench, serve) -> None:
    serve(CardOS(demo_card()), 0)
    term = Terminal(pcscd_vpcd.reader(0))
    try:
        with pytest.raises(WrongCard):
            term.read_pki_certificate()
    finally:
        term.close()
