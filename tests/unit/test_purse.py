"""The purse recipes (protocols/purse.py, docs/design.md §3.3): known answers from the public PBOC worked example and
each recipe rebuilt from single block operations."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocols import purse as P
from protocols.crypto import Alg

# The PBOC e-purse purchase worked example (docs/sources.md §8 [PURSE-EX]): PurchKey, INITIALIZE's answer
# 00000000 0000 000000 01 00 11223344, terminal transaction number 00000001, amount 00001000, terminal 001122334455,
# 2012-02-29 13:51:00 → SessionKey 003238ABC57659DD, MAC1 F15CAB75, MAC2 56988A13; TAC key → 8888888888888888.
DPK = bytes.fromhex("11223344556677888877665544332211")
RANDOM = bytes.fromhex("11223344")
AMOUNT = 0x1000
TERMINAL = bytes.fromhex("001122334455")
WHEN = bytes.fromhex("20120229135100")
DTK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


def _des(key: bytes, block: bytes) -> bytes:
    key24 = key * 3 if len(key) == 8 else key + key[:8]
    enc = Cipher(TripleDES(key24), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _sm4(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _cbc_mac(cipher: Callable[[bytes, bytes], bytes], key: bytes, data: bytes, block: int) -> bytes:
    data = data + b"\x80" + bytes(-(len(data) + 1) % block)
    chain = bytes(block)
    for i in range(0, len(data), block):
        chain = cipher(key, bytes(a ^ b for a, b in zip(chain, data[i:i + block], strict=True)))
    return chain[:4]


def test_known_answers_of_the_pboc_example() -> None:
    sespk = P.session_key(Alg.DES3, DPK, RANDOM, 0, 1)
    assert sespk.hex().upper() == "003238ABC57659DD"
    assert P.mac1(Alg.DES3, sespk, AMOUNT, TERMINAL, WHEN).hex().upper() == "F15CAB75"
    assert P.mac2(Alg.DES3, sespk, AMOUNT).hex().upper() == "56988A13"
    assert P.tac_key(Alg.DES3, DTK).hex().upper() == "8888888888888888"


def test_the_session_key_takes_the_low_two_bytes_of_the_terminal_number() -> None:
    assert P.session_key(Alg.DES3, DPK, RANDOM, 0, 0x12340001) == P.session_key(Alg.DES3, DPK, RANDOM, 0, 1)
    assert P.session_key(Alg.DES3, DPK, RANDOM, 1, 1) != P.session_key(Alg.DES3, DPK, RANDOM, 0, 1)


@pytest.mark.parametrize("alg", [Alg.DES3, Alg.SM4])
def test_each_recipe_rebuilt_from_single_block_operations(alg: Alg) -> None:
    block = 8 if alg is Alg.DES3 else 16
    cipher = _des if alg is Alg.DES3 else _sm4
    txn, counter = 0x0001A2B3, 7
    factor = RANDOM + counter.to_bytes(2, "big") + txn.to_bytes(4, "big")[2:]
    sespk = cipher(DPK, factor + bytes(block - 8))
    assert P.session_key(alg, DPK, RANDOM, counter, txn) == sespk
    amount = AMOUNT.to_bytes(4, "big")
    assert P.mac1(alg, sespk, AMOUNT, TERMINAL, WHEN) == _cbc_mac(cipher, sespk, amount + b"\x06" + TERMINAL + WHEN,
                                                                  block)
    assert P.mac2(alg, sespk, AMOUNT) == _cbc_mac(cipher, sespk, amount, block)
    tk = bytes(a ^ b for a, b in zip(DTK[:8], DTK[8:], strict=True)) if alg is Alg.DES3 else DTK
    expected = _cbc_mac(cipher, tk, amount + b"\x06" + TERMINAL + txn.to_bytes(4, "big") + WHEN, block)
    assert P.tac(alg, DTK, AMOUNT, TERMINAL, txn, WHEN) == expected


def test_init_response_and_log_record_round_trip() -> None:
    init = P.InitResponse(123456, 3, 0, 1, 0, RANDOM)
    raw = init.encode()
    assert raw.hex().upper() == "0001E2400003000000010011223344" and P.InitResponse.parse(raw) == init
    assert init.alg is Alg.DES3
    rec = P.LogRecord(3, 0, 100, 6, TERMINAL, WHEN)
    assert len(rec.encode()) == P.LOG_RECORD_SIZE == 23
    assert P.LogRecord.parse(rec.encode()) == rec
    assert rec.timestamp == "20120229135100" and rec.terminal_number == "001122334455"
    with pytest.raises(ValueError):
        P.LogRecord.parse(bytes(22))
    with pytest.raises(ValueError):
        P.InitResponse.parse(bytes(14))


def test_psam_init_data_layout() -> None:
    init = P.InitResponse(0, 2, 0, 1, 0, RANDOM)
    card, city = bytes(range(8)), b"440100sx"
    data = P.psam_init_data(init, AMOUNT, WHEN, (card, city))
    assert len(data) == 0x24
    assert data.hex().upper() == ("11223344" "0002" "00001000" "06" "20120229135100" "01" "00"
                                  + card.hex().upper() + city.hex().upper())
    assert P.PsamInit.parse(data).factors == (card, city)
    with pytest.raises(ValueError):
        P.PsamInit.parse(data[:-1])


def test_yuan() -> None:
    assert P.parse_yuan("1.00") == 100 and P.parse_yuan("12.34") == 1234 and P.parse_yuan("5") == 500
    assert P.format_yuan(1234) == "12.34" and P.format_yuan(5) == "0.05"
    for bad in ("", "-1", "1.234", "1,00", "abc", "1e3", "１.00", "99999999999"):
        with pytest.raises(ValueError):
            P.parse_yuan(bad)


def test_datetime() -> None:
    assert P.datetime_bytes(dt.datetime(2012, 2, 29, 13, 51)) == WHEN
    assert P.check_datetime(WHEN) == dt.datetime(2012, 2, 29, 13, 51)
    for bad in ("20130229135100", "2012022913510A", "201202291351"):
        with pytest.raises(ValueError):
            P.check_datetime(bytes.fromhex(bad) if len(bad) % 2 == 0 and bad.isdigit() else bad.encode())
