"""Known-answer vectors for protocols.crypto from sources outside this repository (docs/design.md §4: each names its
source). Two kinds:

* Published vectors of ISO/IEC 9797-1 MAC algorithm 3 (the retail MAC) and of the single-DES CBC-MAC, each named by
  document, clause and its value as printed there.
* Vectors computed once with the ``openssl`` command line, **OpenSSL 3.0.19 27 Jan 2026** (single DES through its
  legacy provider; SM4 through its default provider), by ``scripts/crypto-vectors.sh``. That script spells each
  recipe of docs/design.md §3 (retail MAC, CBC-MAC, key diversification, process keys, authentication, secure
  messaging) as openssl ECB/CBC calls, without this project's code. The hex below is its output, pasted; the tests
  never run openssl, so CI does not depend on it. Rerun the script to check or extend them.
"""
from __future__ import annotations

import pytest

from protocols import crypto
from protocols.crypto import Alg

H = bytes.fromhex
DES, SM4 = Alg.DES3, Alg.SM4


# --- published vectors --------------------------------------------------------------------------------------------
#: ISO/IEC 9797-1 MAC algorithm 3 (DES, padding method 2) from ICAO Doc 9303 "Machine Readable Travel Documents",
#: Part 11 "Security Mechanisms for MRTDs", Appendix D (worked example of Basic Access Control): D.3 (the MACs of
#: E_IFD and E_IC under K_MAC) and D.4.1–D.4.3 (secure messaging: SSC ‖ padded header ‖ data objects under KS_MAC).
#: (key, message before padding, full 8-byte MAC)
ICAO_9303_D = [
    ("7962D9ECE03D1ACD4C76089DCE131543",
     "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2", "5F1448EEA8AD90A7"),   # D.3 M_IFD
    ("7962D9ECE03D1ACD4C76089DCE131543",
     "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F", "2F2D235D074D7449"),   # D.3 M_IC
    ("F1CB1F1FB5ADF208806B89DC579DC1F8", "887022120C06C2270CA4020C800000008709016375432908C044F6",
     "BF8B92D635FF24F8"),                                                                      # D.4.1 command
    ("F1CB1F1FB5ADF208806B89DC579DC1F8", "887022120C06C22899029000", "FA855A5D4C50A8ED"),     # D.4.1 response
    ("F1CB1F1FB5ADF208806B89DC579DC1F8", "887022120C06C2290CB0000080000000970104",
     "ED6705417E96BA55"),                                                                      # D.4.2 command
    ("F1CB1F1FB5ADF208806B89DC579DC1F8", "887022120C06C22A8709019FF0EC34F992265199029000",
     "AD55CC17140B2DED"),                                                                      # D.4.2 response
    ("F1CB1F1FB5ADF208806B89DC579DC1F8", "887022120C06C22B0CB0000480000000970112",
     "2EA28A70F3C7B535"),                                                                      # D.4.3 command
    ("F1CB1F1FB5ADF208806B89DC579DC1F8",
     "887022120C06C22C871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A99029000",
     "C8B2787EAEA07D74"),                                                                      # D.4.3 response
]


@pytest.mark.parametrize(("key", "message", "full"), ICAO_9303_D, ids=[v[2] for v in ICAO_9303_D])
def test_retail_mac_icao_9303_appendix_d(key: str, message: str, full: str) -> None:
    assert crypto.cbc_mac_block(DES, H(key), crypto.pad80(H(message), 8)) == H(full)
    assert crypto.mac(DES, H(key), H(message)) == H(full)[:4]


def test_retail_mac_bouncy_castle_iso9797alg3mactest() -> None:
    """Bouncy Castle's ``org.bouncycastle.crypto.test.ISO9797Alg3MacTest`` (also in its JCE ``MacTest`` as
    ``outputISO9797``): MAC algorithm 3, DES, zero IV, a 16-byte message that needs no padding."""
    key = H("7CA110454A1A6E570131D9619DC1376E")
    assert crypto.cbc_mac_block(DES, key, b"Hello World !!!!") == H("F09B856213BAB83B")


def test_single_des_cbc_mac_fips_113() -> None:
    """The DES MAC example of FIPS PUB 113 "Computer Data Authentication" (key 0123456789ABCDEF, the text
    "7654321 Now is the time for " zero-padded to 32 bytes), as Bouncy Castle's JCE ``MacTest`` carries it
    (``output1`` zero IV, ``output2`` IV 1234567890ABCDEF): what the 8-byte-key branch (a process key) computes."""
    key = H("0123456789ABCDEF")
    text = b"7654321 Now is the time for " + bytes(4)
    assert crypto.cbc_mac_block(DES, key, text)[:4] == H("F1D30F68")
    assert crypto.cbc_mac_block(DES, key, text, H("1234567890ABCDEF"))[:4] == H("58D2E77E")


# --- vectors computed with the openssl command line (see the module docstring) -----------------------------------
OPENSSL_VERSION = "OpenSSL 3.0.19 27 Jan 2026"

K16 = H("404142434445464748494A4B4C4D4E4F")                          # 2-key 3DES
K24 = H("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123")          # 3-key 3DES (NIST SP 800-67 example keys)
K8 = H("133457799BBCDFF1")                                           # single DES, as a process key is used
KSM4 = H("0123456789ABCDEFFEDCBA9876543210")                         # the GB/T 32907-2016 example key
CHALLENGE = H("1122334455667788")
MESSAGES = {
    "MSG1": H("04D6850004"),                                         # 5 bytes: one block after padding
    "MSG2": H("04DC01340E0102030405060708090A0B0C0D0E"),             # 19 bytes
    "MSG3": bytes(range(24)),                                        # whole blocks: the padding adds one
}
REGION = "440100"
ATR = H("3B6D0000") + H("00814E43238697159900BF7C7A")                # card factor 8697159900BF7C7A
PROCESS_FACTOR, AUTH_DATA = H("1A2B3C4D5E6F7081"), H("0102030405060708")
PIN = "123456"

# Output of `bash scripts/crypto-vectors.sh` with OpenSSL 3.0.19 27 Jan 2026 (full blocks; the MACs are their left
# 4 bytes).
OPENSSL_VECTORS = {
    "retail_mac_k16_iv0_MSG1": "135E9652DF081FDD",
    "retail_mac_k16_chal_MSG1": "2910D6FFB42BDA83",
    "retail_mac_k24_chal_MSG1": "CA686270B9E67899",
    "des_cbc_mac_k8_chal_MSG1": "EEE32AEA6B7414D4",
    "sm4_cbc_mac_chal_MSG1": "C09259D48303C7BFC53F57F92E01A285",
    "retail_mac_k16_iv0_MSG2": "C679A9145D042C1A",
    "retail_mac_k16_chal_MSG2": "794DD1F0E78B4AD1",
    "retail_mac_k24_chal_MSG2": "F5B2B7F5C9EA7267",
    "des_cbc_mac_k8_chal_MSG2": "81D3566AAD3ED058",
    "sm4_cbc_mac_chal_MSG2": "21E91BE50A6024B59FC69A5FC6B81631",
    "retail_mac_k16_iv0_MSG3": "33ED25BBFE999023",
    "retail_mac_k16_chal_MSG3": "BC291E0B52C4D50C",
    "retail_mac_k24_chal_MSG3": "9C5264866D505B0D",
    "des_cbc_mac_k8_chal_MSG3": "283E8279A8BA28DE",
    "sm4_cbc_mac_chal_MSG3": "AF771218ED9D309E9BCDB1E5BB2F7FBB",
    "retail_mac_k16_iv0_empty": "D0F922CDA84C6A45",
    "sm4_cbc_mac_iv0_empty": "8C338E5A27E349BEAE39214FEDA97099",
    "diversify_des3_province": "80364B4C376D1E019ADA8B2DE910542D",
    "diversify_des3_city": "18CFF2048042BF5403C7E74D210D317E",
    "diversify_des3_card": "F18A88833899AB411C34BF3C02A2B4B7",
    "process_key_des3": "6391D962FE1942B9",
    "process_encrypt_des3": "E0279497D447A7FA",
    "internal_auth_des3": "7E8D00845ED9C9BE",
    "sm_mac_des3_MSG1": "C506A9E4464272C0",
    "sm_mac_des3_MSG2": "30A6C63BF16BADA3",
    "sm_encipher_des3_pin": "2983D35174908F65",
    "diversify_sm4_province": "04400C4F07B373EC52C1696A98252A16",
    "diversify_sm4_city": "A65ACDCB63906973268A1E8D4E46A5EE",
    "diversify_sm4_card": "8D1BADB90A3B097990FB6301D6B899A0",
    "process_key_sm4": "D5611410C7DCDD6CB77744E115D01774",
    "process_encrypt_sm4": "889A556C380F6BD9",
    "internal_auth_sm4": "BC2277B544FDC227",
    "sm_mac_sm4_MSG1": "ACC5A7156947BF171879A9D9B38580DD",
    "sm_mac_sm4_MSG2": "E068BFB8F9E71F9FADBB2CF83EEFDC3B",
    "sm_encipher_sm4_pin": "4F3FC03D8F9D341B16AFCE095AF0A1E8",
}
V = {name: H(value) for name, value in OPENSSL_VECTORS.items()}
ALGS = [(DES, "des3", K16), (SM4, "sm4", KSM4)]


@pytest.mark.parametrize("msg", sorted(MESSAGES))
def test_retail_mac_two_key(msg: str) -> None:
    data = MESSAGES[msg]
    assert crypto.cbc_mac_block(DES, K16, crypto.pad80(data, 8)) == V[f"retail_mac_k16_iv0_{msg}"]
    assert crypto.mac(DES, K16, data) == V[f"retail_mac_k16_iv0_{msg}"][:4]
    assert crypto.mac(DES, K16, data, CHALLENGE) == V[f"retail_mac_k16_chal_{msg}"][:4]
    assert crypto.cbc_mac_block(DES, K16, crypto.pad80(data, 8), CHALLENGE) == V[f"retail_mac_k16_chal_{msg}"]


@pytest.mark.parametrize("msg", sorted(MESSAGES))
def test_retail_mac_three_key(msg: str) -> None:
    assert crypto.mac(DES, K24, MESSAGES[msg], CHALLENGE) == V[f"retail_mac_k24_chal_{msg}"][:4]


@pytest.mark.parametrize("msg", sorted(MESSAGES))
def test_single_des_cbc_mac(msg: str) -> None:
    """An 8-byte key (a 3DES card's process key): plain single-DES CBC."""
    assert crypto.cbc_mac_block(DES, K8, crypto.pad80(MESSAGES[msg], 8), CHALLENGE) == V[f"des_cbc_mac_k8_chal_{msg}"]
    assert crypto.mac(DES, K8, MESSAGES[msg], CHALLENGE) == V[f"des_cbc_mac_k8_chal_{msg}"][:4]


@pytest.mark.parametrize("msg", sorted(MESSAGES))
def test_sm4_cbc_mac(msg: str) -> None:
    """SM4 CBC-MAC with the 8-byte challenge as IV, right-padded with 00 to 16 bytes (docs/design.md §3)."""
    data = MESSAGES[msg]
    assert crypto.cbc_mac_block(SM4, KSM4, crypto.pad80(data, 16), CHALLENGE) == V[f"sm4_cbc_mac_chal_{msg}"]
    assert crypto.mac(SM4, KSM4, data, CHALLENGE) == V[f"sm4_cbc_mac_chal_{msg}"][:4]


def test_mac_of_the_empty_message() -> None:
    assert crypto.mac(DES, K16, b"") == V["retail_mac_k16_iv0_empty"][:4]
    assert crypto.mac(SM4, KSM4, b"") == V["sm4_cbc_mac_iv0_empty"][:4]


@pytest.mark.parametrize(("alg", "name", "root"), ALGS, ids=["des3", "sm4"])
def test_diversification(alg: Alg, name: str, root: bytes) -> None:
    """root → province ("440000sh") → city ("440100sx") → card (the last 8 ATR bytes)."""
    province, city, card = (V[f"diversify_{name}_{level}"] for level in ("province", "city", "card"))
    assert crypto.diversify(alg, root, crypto.province_factor(REGION)) == province
    assert crypto.diversify(alg, province, crypto.city_factor(REGION)) == city
    assert crypto.diversify(alg, city, crypto.card_factor(ATR)) == card
    assert crypto.derive_card_key(alg, root, REGION, ATR) == card


@pytest.mark.parametrize(("alg", "name", "root"), ALGS, ids=["des3", "sm4"])
def test_process_key_and_its_answer(alg: Alg, name: str, root: bytes) -> None:
    sk = crypto.process_key(alg, root, PROCESS_FACTOR)
    assert sk == V[f"process_key_{name}"]
    assert crypto.process_encrypt(alg, sk, AUTH_DATA) == V[f"process_encrypt_{name}"]
    assert crypto.external_auth_cryptogram(alg, root, PROCESS_FACTOR, AUTH_DATA) == V[f"process_encrypt_{name}"]


@pytest.mark.parametrize(("alg", "name", "root"), ALGS, ids=["des3", "sm4"])
def test_internal_authentication_with_the_card_key(alg: Alg, name: str, root: bytes) -> None:
    card_key = crypto.derive_card_key(alg, root, REGION, ATR)
    assert crypto.internal_auth_answer(alg, card_key, PROCESS_FACTOR + AUTH_DATA) == V[f"internal_auth_{name}"]


@pytest.mark.parametrize(("alg", "name", "root"), ALGS, ids=["des3", "sm4"])
def test_secure_messaging(alg: Alg, name: str, root: bytes) -> None:
    for msg in ("MSG1", "MSG2"):
        assert crypto.sm_mac(alg, root, CHALLENGE, MESSAGES[msg]) == V[f"sm_mac_{name}_{msg}"][:4]
    blob = crypto.sm_encipher(alg, root, CHALLENGE, crypto.pin_to_bcd(PIN))
    assert blob == V[f"sm_encipher_{name}_pin"]
    assert crypto.decipher_lv(alg, crypto.process_key(alg, root, CHALLENGE), blob) == crypto.pin_to_bcd(PIN)
