"""Code tables the card's items take their values from (docs/sources.md §2.2 names the items).

Each table is the standard's list of codes, by the standard and clause it comes from; ``protocols.item_checks``
checks item values against them before anything is written to a card.

* Sex (性别, EF06 tag 0A): GB/T 2261.1-2003 个人基本信息分类与代码 第1部分：人的性别代码, table 1.
* Ethnicity (民族, EF06 tag 0B): GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码, the two-digit numeric
  codes 01–56 in the standard's order.
* Nationality (国籍, DF01 EF0A tag 37): GB/T 2659.1-2022 世界各国和地区及其行政区划名称代码 第1部分：国家和地区代码,
  which is identical to ISO 3166-1:2020: its three-letter codes, as Debian's ``iso-codes`` package (4.15.0,
  ``/usr/share/iso-codes/json/iso_3166-1.json``) lists them.
* Political status (政治面貌, DF01 EF0A tag 38): GB/T 4762-1984 政治面貌代码, table 1.
"""
from __future__ import annotations

SEX: dict[str, str] = {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}

_ETHNIC_NAMES = """
    汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族
    满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族
    佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族
    达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族
    塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族
    独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族
""".split()
ETHNICITY: dict[str, str] = {f"{n:02d}": name for n, name in enumerate(_ETHNIC_NAMES, 1)}

POLITICAL_STATUS: dict[str, str] = {
    "01": "中国共产党党员", "02": "中国共产党预备党员", "03": "中国共产主义青年团团员",
    "04": "中国国民党革命委员会会员", "05": "中国民主同盟盟员", "06": "中国民主建国会会员", "07": "中国民主促进会会员",
    "08": "中国农工民主党党员", "09": "中国致公党党员", "10": "九三学社社员", "11": "台湾民主自治同盟盟员",
    "12": "无党派民主人士", "13": "群众",
}

NATIONALITY: frozenset[str] = frozenset("""
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR BHS
    BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV
    CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM
    GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN
    IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE
    LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS
    MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK
    PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR
    SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY
    USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
""".split())
