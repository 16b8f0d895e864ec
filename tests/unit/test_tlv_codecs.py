"""TLV codecs and the an/cn item codecs (docs/sources.md §2.5)."""
from __future__ import annotations

import pytest

from protocols.codecs import check_date, decode_an, decode_cn, encode_an, encode_cn
from protocols.errors import MalformedFrame
from protocols.tlv import ber_decode, ber_encode, ber_find, simple_decode, simple_encode


def test_simple_tlv_both_ways() -> None:
    assert simple_encode(0x07, b"A1") == b"\x07\x02A1"
    long = simple_encode(0x01, b"x" * 300)
    assert long[:4] == b"\x01\xFF\x01\x2C"
    assert simple_decode(b"\x07\x02A1" + long) == [(7, b"A1"), (1, b"x" * 300)]
    for bad in (b"\x07", b"\x07\x05AB", b"\x00\x01A", b"\x01\xFF\x01"):
        with pytest.raises(MalformedFrame):
            simple_decode(bad)


def test_ber_tlv_fci() -> None:
    fci = ber_encode(0x6F, ber_encode(0x84, b"AB") + ber_encode(0xA5, ber_encode(0x9F0C, b"\x86\x01\x03")))
    assert fci.hex().upper() == "6F0C84024142A5069F0C03860103"
    assert ber_find(fci, 0x9F0C) == b"\x86\x01\x03"
    assert ber_decode(ber_encode(0x5A, b"\x01" * 200))[0] == (0x5A, b"\x01" * 200)
    for bad in (b"\x9F", b"\x6F\x05\x01", b"\x6F\x85\x00\x00\x00\x00\x01"):
        with pytest.raises(MalformedFrame):
            ber_decode(bad)


def test_an_is_gbk_right_padded_with_00() -> None:
    assert encode_an("张三", 6) == bytes.fromhex("D5C5C8FD0000")
    assert decode_an(bytes.fromhex("D5C5C8FD0000")) == "张三"
    with pytest.raises(ValueError, match="holds 3"):
        encode_an("张三", 3)
    with pytest.raises(ValueError, match="after its 00 padding"):
        decode_an(b"A\x00B")
    with pytest.raises(ValueError, match="GBK"):
        encode_an("😀", 8)


def test_cn_is_bcd_right_padded_with_f() -> None:
    assert encode_cn("440106", 3) == bytes.fromhex("440106")
    assert encode_cn("12345", 4) == bytes.fromhex("12345FFF")
    assert decode_cn(bytes.fromhex("12345FFF")) == "12345"
    for bad in (bytes.fromhex("1A"), bytes.fromhex("1F2F")):
        with pytest.raises(ValueError):
            decode_cn(bad)
    with pytest.raises(ValueError):
        encode_cn("12a", 2)


def test_dates() -> None:
    assert check_date("20240229").day == 29
    for bad in ("20230229", "2024031", "2024-03-01"):
        with pytest.raises(ValueError):
            check_date(bad)


@pytest.mark.parametrize("call, why", [
    (lambda: encode_an("陈晓明" * 6, 30), "36 bytes in GBK, the field holds 30"),
    (lambda: encode_an("陈晓明\u20ac", 30), "character 4 cannot be encoded in GBK"),
    (lambda: encode_cn("4401061985O3127715", 9), "character 11 is not a decimal digit"),
    (lambda: decode_cn(bytes.fromhex("44010619F503127715")), "digits after its F padding"),
    (lambda: check_date("1985O312"), "date YYYYMMDD: character 5 is not a digit"),
    (lambda: check_date("1985031"), "a date of 7 characters is not YYYYMMDD"),
])
def test_codec_errors_never_quote_the_value(call, why):
    with pytest.raises(ValueError) as err:
        call()
    assert why in str(err.value)
    assert not any(part in str(err.value) for part in ("陈晓明", "4401061985", "440106", "1985"))
