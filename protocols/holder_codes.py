"""Code tables of the holder's items: sex (GB/T 2261.1), ethnicity (GB 3304), nationality (GB/T 2659) and
political status (GB/T 4762); ``protocols.item_checks`` checks values written to a card against them.

Each lookup answers a ``Named`` (the Chinese and the English name) or None for a code the table does not have,
so that a reader shows an unknown code as it is rather than failing. Region codes (GB/T 2260) are in
``protocols.regions``. Sources: docs/sources.md §11.

- Sex, EF06 tag 0A, one ASCII digit: GB/T 2261.1-2003.
- Ethnicity, EF06 tag 0B, two BCD digits: the numeric codes 01–56 of GB 3304-91 (中国各民族名称的罗马字母拼写法和代码),
  with its romanised names as the English ones; 97 and 98 are not in GB 3304's table but are the codes the
  population registers use for "other" and for Chinese citizens of foreign origin.
- Nationality, DF01 EF0A tag 37, three characters: GB/T 2659 (= ISO 3166-1) alpha-3, as the profile and the
  personalisation tools write it ("CHN"); a three-digit numeric code and an alpha-2 code are understood too.
  The table (``protocols/data/iso3166.tsv``) names its source and date in its header.
- Political status, DF01 EF0A tag 38: GB/T 4762-1984 政治面貌代码, table 1.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Named:
    zh: str
    en: str


SEX: dict[str, Named] = {
    "0": Named("未知的性别", "unknown"), "1": Named("男", "male"), "2": Named("女", "female"),
    "9": Named("未说明的性别", "not stated"),
}

# GB 3304-91 table 3 (by numeric code): Chinese name, romanised name.
ETHNICITY: dict[str, Named] = {code: Named(zh, en) for code, zh, en in (
    ("01", "汉族", "Han"), ("02", "蒙古族", "Mongol"), ("03", "回族", "Hui"), ("04", "藏族", "Zang"),
    ("05", "维吾尔族", "Uygur"), ("06", "苗族", "Miao"), ("07", "彝族", "Yi"), ("08", "壮族", "Zhuang"),
    ("09", "布依族", "Buyei"), ("10", "朝鲜族", "Chosen"), ("11", "满族", "Man"), ("12", "侗族", "Dong"),
    ("13", "瑶族", "Yao"), ("14", "白族", "Bai"), ("15", "土家族", "Tujia"), ("16", "哈尼族", "Hani"),
    ("17", "哈萨克族", "Kazak"), ("18", "傣族", "Dai"), ("19", "黎族", "Li"), ("20", "傈僳族", "Lisu"),
    ("21", "佤族", "Va"), ("22", "畲族", "She"), ("23", "高山族", "Gaoshan"), ("24", "拉祜族", "Lahu"),
    ("25", "水族", "Sui"), ("26", "东乡族", "Dongxiang"), ("27", "纳西族", "Naxi"), ("28", "景颇族", "Jingpo"),
    ("29", "柯尔克孜族", "Kirgiz"), ("30", "土族", "Tu"), ("31", "达斡尔族", "Daur"), ("32", "仫佬族", "Mulao"),
    ("33", "羌族", "Qiang"), ("34", "布朗族", "Blang"), ("35", "撒拉族", "Salar"), ("36", "毛南族", "Maonan"),
    ("37", "仡佬族", "Gelao"), ("38", "锡伯族", "Xibe"), ("39", "阿昌族", "Achang"), ("40", "普米族", "Pumi"),
    ("41", "塔吉克族", "Tajik"), ("42", "怒族", "Nu"), ("43", "乌孜别克族", "Uzbek"), ("44", "俄罗斯族", "Russ"),
    ("45", "鄂温克族", "Ewenki"), ("46", "德昂族", "Deang"), ("47", "保安族", "Bonan"), ("48", "裕固族", "Yugur"),
    ("49", "京族", "Gin"), ("50", "塔塔尔族", "Tatar"), ("51", "独龙族", "Derung"), ("52", "鄂伦春族", "Oroqen"),
    ("53", "赫哲族", "Hezhen"), ("54", "门巴族", "Monba"), ("55", "珞巴族", "Lhoba"), ("56", "基诺族", "Jino"),
    ("97", "其他", "other"), ("98", "外国血统中国籍人士", "Chinese citizen of foreign origin"),
)}


def sex(code: str) -> Named | None:
    return SEX.get(code.strip())


def ethnicity(code: str) -> Named | None:
    """'01' -> 汉族 Han; a one-digit code ('1') is read as '01'."""
    code = code.strip()
    return ETHNICITY.get(code.zfill(2) if code.isdigit() and len(code) == 1 else code)


@functools.cache
def _countries() -> dict[str, Named]:
    text = resources.files("protocols").joinpath("data/iso3166.tsv").read_text(encoding="utf-8")
    table: dict[str, Named] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            alpha3, alpha2, numeric, en, zh = line.split("\t")
            table[alpha3] = table[alpha2] = table[numeric] = Named(zh, en)
    return table


def nationality(code: str) -> Named | None:
    """'CHN' (alpha-3, any case), '156' (numeric) or 'CN' (alpha-2) -> 中国 China; None for a code ISO 3166-1
    does not have."""
    return _countries().get(code.strip().upper())


def nationality_codes() -> frozenset[str]:
    """The alpha-3 codes of the nationality table: what a card's nationality item is written with."""
    return frozenset(code for code in _countries() if len(code) == 3 and code.isalpha())


POLITICAL_STATUS: dict[str, str] = {
    "01": "中国共产党党员", "02": "中国共产党预备党员", "03": "中国共产主义青年团团员",
    "04": "中国国民党革命委员会会员", "05": "中国民主同盟盟员", "06": "中国民主建国会会员", "07": "中国民主促进会会员",
    "08": "中国农工民主党党员", "09": "中国致公党党员", "10": "九三学社社员", "11": "台湾民主自治同盟盟员",
    "12": "无党派民主人士", "13": "群众",
}
