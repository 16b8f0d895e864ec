"""The code tables the holder view names codes by: regions (GB/T 2260), ethnicity (GB 3304), nationality
(GB/T 2659), sex (GB/T 2261.1). Known codes get their names; anything else gets None, never an exception."""
from __future__ import annotations

from importlib import resources

import pytest

from protocols import holder_codes
from protocols.holder_codes import Named
from protocols.regions import Region, lookup, region_name


@pytest.mark.parametrize("code, name", [
    ("440000", "广东省"),
    ("440100", "广东省广州市"),                    # a card's issuing region (a city)
    ("440106", "广东省广州市天河区"),              # a birthplace (a district)
    ("440304", "广东省深圳市福田区"),
    ("110101", "北京市东城区"),                    # a municipality's district: no prefecture in between
    ("429004", "湖北省仙桃市"),                    # a county-level city under the province directly
    ("650000", "新疆维吾尔自治区"),
])
def test_region_codes_in_use_are_named(code: str, name: str) -> None:
    assert lookup(code) == Region(code, name, None)
    assert region_name(code) == name


def test_retired_codes_keep_their_last_name_and_year() -> None:
    # birthplaces on older cards name places that have since been merged
    assert lookup("440102") == Region("440102", "广东省广州市东山区", 2005)
    assert lookup("371200") == Region("371200", "山东省莱芜市", 2018)
    # a code used for two places in turn names the one in use
    assert lookup("120110") == Region("120110", "天津市东丽区", None)


def test_grouping_codes_are_named_by_their_parent() -> None:
    assert lookup("440101") == Region("440101", "广东省广州市市辖区", None)
    assert lookup("110100") == Region("110100", "北京市", None)
    assert lookup("500200") == Region("500200", "重庆市", None)
    assert lookup("429000") == Region("429000", "湖北省省直辖县级行政区划", None)


@pytest.mark.parametrize("code", ["999999", "440199", "000000", "", "4401", "44010A", "４４０１００", "4401000"])
def test_unknown_region_codes_answer_none(code: str) -> None:
    assert lookup(code) is None
    assert region_name(code) == code


def test_region_table_names_its_source_and_date() -> None:
    head = [line for line in resources.files("protocols").joinpath("data/gbt2260.tsv")
            .read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(head)
    assert "https://github.com/yescallop/areacodes" in text and "as of 20" in text and "1981-20" in text


def test_ethnicity_codes_of_gb_3304() -> None:
    assert holder_codes.ethnicity("01") == Named("汉族", "Han")
    assert holder_codes.ethnicity("1") == Named("汉族", "Han")             # one digit, as some tools write it
    assert holder_codes.ethnicity("04") == Named("藏族", "Zang")
    assert holder_codes.ethnicity("25") == Named("水族", "Sui")
    assert holder_codes.ethnicity("56") == Named("基诺族", "Jino")
    assert holder_codes.ethnicity("97") == Named("其他", "other")
    assert holder_codes.ethnicity("98") == Named("外国血统中国籍人士", "Chinese citizen of foreign origin")
    codes = [f"{n:02d}" for n in range(1, 57)]
    assert all(holder_codes.ethnicity(c) for c in codes)
    names = [holder_codes.ETHNICITY[c] for c in codes]
    assert len({n.zh for n in names}) == 56 == len({n.en for n in names})
    for unknown in ("00", "57", "99", "", "FF", "汉"):
        assert holder_codes.ethnicity(unknown) is None


@pytest.mark.parametrize("code, zh, en", [
    ("CHN", "中国", "China"), ("chn", "中国", "China"), ("156", "中国", "China"), ("CN", "中国", "China"),
    ("HKG", "中国香港", "Hong Kong"), ("MAC", "中国澳门", "Macao"), ("TWN", "中国台湾", "Taiwan, Province of China"),
    ("USA", "美国", "United States"), ("KOR", "韩国", "South Korea"), ("BOL", "玻利维亚", "Bolivia"),
    ("004", "阿富汗", "Afghanistan"),
])
def test_nationality_codes_of_gb_t_2659(code: str, zh: str, en: str) -> None:
    assert holder_codes.nationality(code) == Named(zh, en)


@pytest.mark.parametrize("code", ["XXX", "", "999", "C", "中国"])
def test_unknown_nationality_codes_answer_none(code: str) -> None:
    assert holder_codes.nationality(code) is None


def test_sex_codes_of_gb_t_2261() -> None:
    assert holder_codes.sex("1") == Named("男", "male") and holder_codes.sex("2") == Named("女", "female")
    assert holder_codes.sex("9") == Named("未说明的性别", "not stated") and holder_codes.sex("3") is None
