"""Known-answer and property tests for protocols.crypto (docs/design.md §3).

Composite recipes (3DES EDE, retail MAC, CBC-MAC, diversification, authentication) are recomputed here
from single-block ECB steps, whose own correctness is pinned by published vectors. Vectors from outside the
project (ICAO Doc 9303, FIPS 113, Bouncy Castle, the openssl command line) are in test_vectors.py.
"""
from __future__ import annotations

import warnings

import pytest

from protocols import crypto
from protocols.crypto import Alg

H = bytes.fromhex
DES, SM4 = Alg.DES3, Alg.SM4
K1, K2, K3 = H("0123456789ABCDEF"), H("FEDCBA9876543210"), H("89ABCDEF01234567")
K16 = K1 + K2
K24 = K1 + K2 + K3
SM4_KEY = H("0123456789abcdeffedcba9876543210")
ATR = H("3B6D0000") + H("00814E43238697159900BF7C7A")  # public example historical bytes (docs/sources.md §4.8)


# --- hand-made references built from single blocks -------------------------------------------------------
def des_e(key8: bytes, block: bytes) -> bytes:
    return crypto.ecb_encrypt(DES, key8, block)


def des_d(key8: bytes, block: bytes) -> bytes:
    return crypto.ecb_decrypt(DES, key8, block)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def tdes_e_by_hand(key: bytes, block: bytes) -> bytes:
    """EDE: E_K1(D_K2(E_K1(x))) for 2-key, E_K3(D_K2(E_K1(x))) for 3-key."""
    k1, k2 = key[:8], key[8:16]
    k3 = key[16:24] or k1
    return des_e(k3, des_d(k2, des_e(k1, block)))


def retail_mac_by_hand(key: bytes, data: bytes, iv: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 with padding method 2, written block by block."""
    padded = data + b"\x80" + b"\x00" * (-(len(data) + 1) % 8)
    k1, k2 = key[:8], key[8:16]
    state = iv
    for i in range(0, len(padded), 8):
        state = des_e(k1, xor(state, padded[i : i + 8]))
    return des_e(k1, des_d(k2, state))[:4]  # output transformation 3


def sm4_cbc_mac_by_hand(key: bytes, data: bytes, iv: bytes) -> bytes:
    padded = data + b"\x80" + b"\x00" * (-(len(data) + 1) % 16)
    state = iv
    for i in range(0, len(padded), 16):
        state = crypto.ecb_encrypt(SM4, key, xor(state, padded[i : i + 16]))
    return state[:4]


# --- algorithm ids and block sizes -------------------------------------------------------------------
def test_alg_ids_are_the_fci_9f0c_values() -> None:
    assert Alg.DES3 == 0x01 and Alg.SM4 == 0x03
    assert crypto.block_size(DES) == 8 and crypto.block_size(SM4) == 16
    assert crypto.block_size(3) == 16  # type: ignore[arg-type]  # a plain int, as the FCI carries it
    with pytest.raises(ValueError):
        crypto.block_size(2)  # type: ignore[arg-type]  # SSF33 is not supported


# --- published block cipher vectors ---------------------------------------------------------------------
def test_sm4_published_vector() -> None:
    # GB/T 32907-2016 example 1
    ct = crypto.ecb_encrypt(SM4, SM4_KEY, SM4_KEY)
    assert ct == H("681edf34d206965e86b3e94f536e4246")
    assert crypto.ecb_decrypt(SM4, SM4_KEY, ct) == SM4_KEY


def test_single_des_published_vector() -> None:
    ct = crypto.ecb_encrypt(DES, H("133457799BBCDFF1"), H("0123456789ABCDEF"))
    assert ct == H("85E813540F0AB405")
    assert crypto.ecb_decrypt(DES, H("133457799BBCDFF1"), ct) == H("0123456789ABCDEF")


def test_single_des_weak_key_vector() -> None:
    # FIPS/NBS validation vector: key 0101..01, plaintext 95F8A5E5DD31D900 -> 8000000000000000
    assert crypto.ecb_encrypt(DES, H("0101010101010101"), H("95F8A5E5DD31D900")) == H("8000000000000000")


@pytest.mark.parametrize("key", [K16, K24], ids=["2-key", "3-key"])
def test_triple_des_is_ede_of_single_des(key: bytes) -> None:
    data = H("4E6F772069732074") + H("68652074696D6520")
    expected = b"".join(tdes_e_by_hand(key, data[i : i + 8]) for i in (0, 8))
    assert crypto.ecb_encrypt(DES, key, data) == expected
    assert crypto.ecb_decrypt(DES, key, expected) == data


def test_two_key_equals_k1k2k1() -> None:
    data = bytes(range(16))
    assert crypto.ecb_encrypt(DES, K16, data) == crypto.ecb_encrypt(DES, K1 + K2 + K1, data)


def test_no_deprecation_warnings_for_short_des_keys() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for key in (H("1122334455667788"), H("00112233445566778899AABBCCDDEEFF")):
            crypto.ecb_encrypt(DES, key, bytes(8))


@pytest.mark.parametrize(
    ("alg", "key", "data"),
    [
        (DES, bytes(7), bytes(8)),
        (DES, bytes(17), bytes(8)),
        (SM4, bytes(8), bytes(16)),
        (SM4, bytes(24), bytes(16)),
        (DES, K16, bytes(7)),
        (SM4, SM4_KEY, bytes(8)),
    ],
)
def test_ecb_rejects_bad_key_or_partial_block(alg: Alg, key: bytes, data: bytes) -> None:
    with pytest.raises(ValueError):
        crypto.ecb_encrypt(alg, key, data)
    with pytest.raises(ValueError):
        crypto.ecb_decrypt(alg, key, data)


# --- padding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "block", "padded"),
    [
        (b"", 8, "8000000000000000"),
        (H("01020304050607"), 8, "0102030405060780"),
        (H("0102030405060708"), 8, "01020304050607088000000000000000"),
        (H("AA"), 16, "AA800000000000000000000000000000"),
    ],
)
def test_pad80_always_adds(data: bytes, block: int, padded: str) -> None:
    assert crypto.pad80(data, block) == H(padded)
    assert crypto.unpad80(H(padded)) == data


def test_unpad80_keeps_trailing_data_zeros() -> None:
    assert crypto.unpad80(crypto.pad80(H("1200"), 8)) == H("1200")
    assert crypto.unpad80(crypto.pad80(H("80"), 8)) == H("80")


@pytest.mark.parametrize("bad", ["", "0000000000000000", "1234567812345681", "12800001"])
def test_unpad80_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        crypto.unpad80(H(bad))


# --- MAC (docs/design.md §3) ----------------------------------------------------------------------------------
MAC_DATA = [b"", H("04D6850004"), H("84240000") + bytes(range(12)), bytes(range(32)), bytes(range(40))]


@pytest.mark.parametrize("data", MAC_DATA, ids=lambda d: f"{len(d)}B")
@pytest.mark.parametrize("iv", [b"", H("1122334455667788"), H("11223344")], ids=["noiv", "iv8", "iv4"])
def test_retail_mac_matches_hand_chaining(data: bytes, iv: bytes) -> None:
    iv8 = iv + bytes(8 - len(iv))
    expected = retail_mac_by_hand(K16, data, iv8)
    assert crypto.mac(DES, K16, data, iv) == expected
    assert len(expected) == 4


def test_retail_mac_known_answer_fixed() -> None:
    # independent composition, spelled out for one 2-block message so the chaining is visible
    data = H("84240000") + H("0C")  # 5 bytes -> one block "8424 0000 0C80 0000"
    challenge = H("0102030405060708")
    o1 = des_e(K1, xor(challenge, H("842400000C800000")))
    expected = des_e(K1, des_d(K2, o1))[:4]
    assert crypto.mac(DES, K16, data, challenge) == expected
    data2 = bytes(range(8)) + H("AB")  # two blocks
    o1 = des_e(K1, xor(challenge, bytes(range(8))))
    o2_in = xor(o1, H("AB80000000000000"))
    assert crypto.mac(DES, K16, data2, challenge) == tdes_e_by_hand(K16, o2_in)[:4]


def test_retail_mac_with_three_key_final_block() -> None:
    data = bytes(range(20))
    padded = crypto.pad80(data, 8)
    state = bytes(8)
    for i in range(0, len(padded) - 8, 8):
        state = des_e(K1, xor(state, padded[i : i + 8]))
    expected = tdes_e_by_hand(K24, xor(state, padded[-8:]))[:4]
    assert crypto.mac(DES, K24, data) == expected


def test_mac_with_single_des_key_is_plain_cbc() -> None:
    data = bytes(range(21))
    padded = crypto.pad80(data, 8)
    state = H("A0A1A2A3A4A5A6A7")
    for i in range(0, len(padded), 8):
        state = des_e(K3, xor(state, padded[i : i + 8]))
    assert crypto.mac(DES, K3, data, H("A0A1A2A3A4A5A6A7")) == state[:4]


@pytest.mark.parametrize("data", MAC_DATA, ids=lambda d: f"{len(d)}B")
def test_sm4_cbc_mac_matches_hand_chaining(data: bytes) -> None:
    challenge = H("1122334455667788")  # 8-byte challenge padded with 00 to 16 (docs/design.md §3)
    expected = sm4_cbc_mac_by_hand(SM4_KEY, data, challenge + bytes(8))
    assert crypto.mac(SM4, SM4_KEY, data, challenge) == expected


def test_mac_depends_on_iv_key_and_data() -> None:
    base = crypto.mac(DES, K16, b"hello", H("0000000000000001"))
    assert base != crypto.mac(DES, K16, b"hello", H("0000000000000002"))
    assert base != crypto.mac(DES, K2 + K1, b"hello", H("0000000000000001"))
    assert base != crypto.mac(DES, K16, b"hellp", H("0000000000000001"))


def test_mac_rejects_long_iv() -> None:
    with pytest.raises(ValueError):
        crypto.mac(DES, K16, b"x", bytes(9))
    with pytest.raises(ValueError):
        crypto.mac(SM4, SM4_KEY, b"x", bytes(17))


# --- key diversification ---------------------------------------------------------------------------
def test_city_and_card_factors() -> None:
    assert crypto.city_factor("420100") == H("3432303130307378")  # docs/sources.md §4.3 example
    assert crypto.card_factor(ATR) == H("8697159900BF7C7A")
    # A T=1 ATR ends with TCK, which is not part of the factor: the factor is the last 8 historical bytes.
    hist = bytes.fromhex("00814E43238697159900BF7C7A")
    body = bytes((0x8D, 0x01)) + hist
    tck = 0
    for b in body:
        tck ^= b
    assert crypto.card_factor(b"\x3B" + body + bytes((tck,))) == H("8697159900BF7C7A")


@pytest.mark.parametrize("region", ["42010", "4201000", "42010a", "", "４２０１００", " 42010"])
def test_city_factor_rejects(region: str) -> None:
    with pytest.raises(ValueError):
        crypto.city_factor(region)


def test_card_factor_rejects_short_atr() -> None:
    with pytest.raises(ValueError):
        crypto.card_factor(bytes(7))


def test_diversify_des3_right_half_uses_not_factor() -> None:
    f = H("3432303130307378")
    not_f = H("CBCDCFCECFCF8C87")
    k = crypto.diversify(DES, K16, f)
    assert len(k) == 16
    assert k[:8] == tdes_e_by_hand(K16, f)
    assert k[8:] == tdes_e_by_hand(K16, not_f)
    assert k[8:] != tdes_e_by_hand(K16, f)


def test_diversify_sm4_uses_f_then_not_f_in_one_block() -> None:
    f = H("8697159900BF7C7A")
    k = crypto.diversify(SM4, SM4_KEY, f)
    assert k == crypto.ecb_encrypt(SM4, SM4_KEY, f + H("7968EA66FF408385"))
    assert k != crypto.ecb_encrypt(SM4, SM4_KEY, f + f)
    assert len(k) == 16


@pytest.mark.parametrize("alg,key", [(DES, K16), (SM4, SM4_KEY)])
def test_diversify_rejects_bad_factor(alg: Alg, key: bytes) -> None:
    for factor in (bytes(7), bytes(9), bytes(16)):
        with pytest.raises(ValueError):
            crypto.diversify(alg, key, factor)


@pytest.mark.parametrize("alg,root", [(DES, K16), (SM4, SM4_KEY)])
def test_three_level_derivation_by_hand(alg: Alg, root: bytes) -> None:
    """root → province ("440000sh") → city ("440300sx") → card (last 8 ATR bytes), one level at a time."""
    assert crypto.province_factor("440300") == b"440000sh" == H("3434303030307368")
    assert crypto.factors("440300", ATR) == (ATR[-8:], H("3434303330307378"), H("3434303030307368"))
    province = crypto.diversify(alg, root, H("3434303030307368"))
    city = crypto.diversify(alg, province, H("3434303330307378"))
    card = crypto.diversify(alg, city, ATR[-8:])
    assert crypto.derive_card_key(alg, root, "440300", ATR) == card
    assert crypto.derive(alg, root, crypto.factors("440300", ATR)[1:]) == city
    assert crypto.derive_card_key(alg, root, "440300", ATR[:-1] + b"\x7b") != card
    assert crypto.derive_card_key(alg, root, "450300", ATR) != card


# --- process keys, authentication, secure messaging (docs/design.md §3) ----------------------------------
P = H("1A2B3C4D5E6F7081")
D = H("0102030405060708")


def test_des3_process_key_and_answers_by_hand() -> None:
    sk = crypto.process_key(DES, K16, P)
    assert sk == tdes_e_by_hand(K16, P) and len(sk) == 8
    assert crypto.process_encrypt(DES, sk, D) == des_e(sk, D)
    assert crypto.internal_auth_answer(DES, K16, P + D) == des_e(sk, D)
    assert crypto.external_auth_cryptogram(DES, K16, P, D) == des_e(sk, D)


def test_sm4_process_key_and_folded_answers_by_hand() -> None:
    sk = crypto.process_key(SM4, SM4_KEY, P)
    assert sk == crypto.ecb_encrypt(SM4, SM4_KEY, P + bytes(8)) and len(sk) == 16
    block = crypto.ecb_encrypt(SM4, sk, D + bytes(8))
    folded = xor(block[:8], block[8:])
    assert crypto.fold(block) == folded
    assert crypto.process_encrypt(SM4, sk, D) == folded
    assert crypto.internal_auth_answer(SM4, SM4_KEY, P + D) == folded
    assert crypto.external_auth_cryptogram(SM4, SM4_KEY, P, D) == folded


@pytest.mark.parametrize("alg,key", [(DES, K16), (SM4, SM4_KEY)])
def test_internal_authentication_takes_the_process_factor_first(alg: Alg, key: bytes) -> None:
    assert crypto.internal_auth_answer(alg, key, P + D) != crypto.internal_auth_answer(alg, key, D + P)
    assert crypto.internal_auth_answer(alg, key, P + D) == crypto.external_auth_cryptogram(alg, key, P, D)


def test_secure_messaging_mac_by_hand_des3() -> None:
    """MAC = left 4 bytes of CBC single DES under E_K(R), IV zero, over header ‖ Lc ‖ data ‖ 80 00.."""
    message = H("8424000104") + H("")
    sk = crypto.process_key(DES, K16, P)
    block = des_e(sk, xor(crypto.pad80(message, 8), bytes(8)))
    assert crypto.sm_mac(DES, K16, P, message) == block[:4]
    long = H("04DC0134" "0E") + bytes(range(10))
    padded = crypto.pad80(long, 8)
    chain = bytes(8)
    for i in range(0, len(padded), 8):
        chain = des_e(sk, xor(chain, padded[i:i + 8]))
    assert crypto.sm_mac(DES, K16, P, long) == chain[:4]


def test_secure_messaging_mac_by_hand_sm4() -> None:
    message = H("841E000004")
    sk = crypto.process_key(SM4, SM4_KEY, P)
    assert crypto.sm_mac(SM4, SM4_KEY, P, message) == crypto.ecb_encrypt(SM4, sk, crypto.pad80(message, 16))[:4]


@pytest.mark.parametrize("alg,key", [(DES, K16), (SM4, SM4_KEY)])
def test_enciphered_pin_block_under_the_process_key(alg: Alg, key: bytes) -> None:
    """What a production terminal sends in PIN RELOAD: ECB_SK(03 12 34 56 80 00..)."""
    sk = crypto.process_key(alg, key, P)
    blob = crypto.sm_encipher(alg, key, P, crypto.pin_to_bcd("123456"))
    plain = H("0312345680") + bytes(crypto.block_size(alg) - 5)
    assert blob == crypto.ecb_encrypt(alg, sk, plain)
    assert crypto.decipher_lv(alg, sk, blob) == H("123456")


def test_cbc_mac_block_is_the_whole_last_block() -> None:
    data = crypto.pad80(H("8424000004"), 8)
    assert crypto.cbc_mac_block(DES, K1, data) == des_e(K1, data)
    with pytest.raises(ValueError):
        crypto.cbc_mac_block(DES, K1, H("8424000004"))       # not padded: a whole number of blocks only


def test_process_recipes_reject_bad_lengths() -> None:
    for call in (lambda: crypto.process_key(DES, K16, bytes(7)), lambda: crypto.process_key(SM4, SM4_KEY, bytes(16)),
                 lambda: crypto.process_encrypt(DES, K1, bytes(9)),
                 lambda: crypto.internal_auth_answer(DES, K16, bytes(15)), lambda: crypto.fold(bytes(8))):
        with pytest.raises(ValueError):
            call()


# --- enciphered LV fields ----------------------------------------------------------------------------
@pytest.mark.parametrize("alg,key", [(DES, K16), (DES, K1), (SM4, SM4_KEY)], ids=["des3", "des", "sm4"])
def test_lv_round_trip(alg: Alg, key: bytes) -> None:
    block = crypto.block_size(alg)
    for n in range(0, 40):
        value = bytes(range(n))
        blob = crypto.encipher_lv(alg, key, value)
        assert len(blob) % block == 0 and len(blob) >= n + 2
        assert crypto.ecb_decrypt(alg, key, blob) == crypto.pad80(bytes([n]) + value, block)
        assert crypto.decipher_lv(alg, key, blob) == value


def test_lv_pin_block_layout() -> None:
    blob = crypto.encipher_lv(DES, K16, crypto.pin_to_bcd("123456"))
    assert crypto.ecb_decrypt(DES, K16, blob) == H("0312345680000000")


def test_lv_rejects_tampering() -> None:
    value = H("00112233445566")  # 1 + 7 bytes -> L block + a full pad block
    blob = crypto.encipher_lv(DES, K16, value)
    assert len(blob) == 16
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, blob[:-1])  # not a block multiple
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, blob[:8])  # pad block dropped: L inconsistent
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, b"")
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, blob[:8] + bytes([blob[8] ^ 1]) + blob[9:])  # pad block garbled
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K2 + K1, blob)  # wrong key
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, blob + blob[8:])  # extra block


@pytest.mark.parametrize(
    "plain",
    [
        "0412345680000000",  # L says 4, only 3 bytes before the pad
        "0212345680000000",  # L says 2, then 56 where 80 is expected
        "0312345600000000",  # no 80
        "0312345680000001",  # junk after 80
        "0312345680000000" + "8000000000000000",  # extra pad block
        "0312345680000000" + "0000000000000000",  # padding longer than one block
        "FF12345680000000",  # L beyond the field
    ],
)
def test_lv_rejects_inconsistent_plaintexts(plain: str) -> None:
    blob = crypto.ecb_encrypt(DES, K16, H(plain))
    with pytest.raises(ValueError):
        crypto.decipher_lv(DES, K16, blob)


def test_lv_rejects_overlong_value() -> None:
    with pytest.raises(ValueError):
        crypto.encipher_lv(SM4, SM4_KEY, bytes(256))


# --- PIN BCD -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pin", "bcd"),
    [("123456", "123456"), ("12345", "12345F"), ("0000", "0000"), ("888888", "888888"),
     ("1234567", "1234567F"), ("123456789012", "123456789012")],
)
def test_pin_bcd_both_ways(pin: str, bcd: str) -> None:
    assert crypto.pin_to_bcd(pin) == H(bcd)
    assert crypto.bcd_to_pin(H(bcd)) == pin


@pytest.mark.parametrize(
    "pin", ["", "123", "1234567890123", "12a4", "12 34", "１２３４", "-1234", "1234\n"]
)
def test_pin_to_bcd_rejects(pin: str) -> None:
    with pytest.raises(ValueError):
        crypto.pin_to_bcd(pin)


def test_bcd_to_pin_stops_at_pad() -> None:
    assert crypto.bcd_to_pin(H("12345FFF")) == "12345"
    assert crypto.bcd_to_pin(H("123456FF")) == "123456"


@pytest.mark.parametrize("bcd", ["1A", "12F4", "1F23", "A123", "12345E"])
def test_bcd_to_pin_rejects(bcd: str) -> None:
    with pytest.raises(ValueError):
        crypto.bcd_to_pin(H(bcd))


# --- misc --------------------------------------------------------------------------------------------
def test_equal() -> None:
    assert crypto.equal(H("01020304"), H("01020304"))
    assert not crypto.equal(H("01020304"), H("01020305"))
    assert not crypto.equal(H("01020304"), H("010203"))


def test_sm3_published_vector() -> None:
    # GB/T 32905-2016 example 1
    assert crypto.sm3(b"abc") == H("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


def test_cached_ecb_contexts_answer_as_fresh_ciphers() -> None:
    """ECB contexts are kept per key: across more keys than the cache holds, both directions and both
    algorithms interleaved, every answer is what a fresh cipher gives."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def fresh(alg: Alg, key: bytes, data: bytes, decrypt: bool) -> bytes:
        algorithm = algorithms.SM4(key) if alg is SM4 else TripleDES(key + key[:8])
        cipher = Cipher(algorithm, modes.ECB())
        context = cipher.decryptor() if decrypt else cipher.encryptor()
        return context.update(data) + context.finalize()

    for round_ in range(2):
        for i in range(300):
            key = bytes([i % 256, i // 256, round_]) + bytes(range(13))
            for alg, size in ((DES, 8), (SM4, 16)):
                data = bytes([i % 256]) * size * (1 + i % 3)
                assert crypto.ecb_encrypt(alg, key, data) == fresh(alg, key, data, False)
                assert crypto.ecb_decrypt(alg, key, data) == fresh(alg, key, data, True)
