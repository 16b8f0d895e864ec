"""The declarative card profile: file map, record schemas, access conditions and key IDs.

One profile is shared by the emulator (``firmware_sim``) and the host (``host``), so no file ID, tag
or key ID is written twice. Facts and their sources: docs/design.md §3 and docs/sources.md §2 (files,
items), §4.2 (keys). Item lengths, key IDs and PSAM key addresses come from a production SSSE32 DLL
(a7082633/HDOS_VC6, ``湖南项目/湖南动态库 - (自有)- 娄底/湖南动态库 - (自有)- 娄底/WAPP.CPP``, cited below as
[WAPP]) where it gives them; what no source gives is marked ``profile_choice`` / "choice".

Profiles: ``gen1`` (3DES, "1.00", FCI without 9F0C, GBK names padded with 20, no name extension),
``gen2`` (3DES, version bytes "2.0\0" shown as "2.00", FCI without 9F0C), ``gen3`` (SM4, "3.00", FCI
with ``9F0C 03 86 01 03``; EF06 readable only after external authentication with key 0A).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from protocols import item_checks as R
from protocols.codecs import Fmt, decode, decode_date, encode
from protocols.crypto import Alg
from protocols.item_checks import Rule

SSSE_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh." + GBK 社会保障
PSAM_DDF_NAME = SSSE_NAME                                        # the PSAM's MF DDF name
PSAM_APP_AID = bytes.fromhex("D15600000590")                     # PSAM application DF01 (3DES keys)
PSAM_SM4_AID = bytes.fromhex("D15600000591")                     # choice: the PSAM's SM4 application DF02
RID = bytes.fromhex("D156000005")                                # MoHRSS RID


class Cond(str, Enum):
    """Access-condition kinds of personalisation tools (docs/sources.md §2.4)."""

    FREE = "free"
    PIN = "pin"
    KEY = "key"              # external authentication with ``key_id`` in the current DF
    PIN_OR_KEY = "pin_or_key"
    PIN_AND_KEY = "pin_and_key"
    MAC = "mac"              # secure messaging: CLA 04 with a MAC under the DF's STK (docs/design.md §3)
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class Access:
    cond: Cond
    key_id: int | None = None

    def __str__(self) -> str:
        return self.cond.value + (f"({self.key_id:02X})" if self.key_id is not None else "")

    @property
    def key_needed(self) -> int | None:
        """The external-authentication key a terminal with a PSAM (or an HSM) meets this condition with."""
        return self.key_id if self.cond in (Cond.KEY, Cond.PIN_AND_KEY, Cond.PIN_OR_KEY) else None


FREE = Access(Cond.FREE)
NEVER = Access(Cond.NEVER)
PIN = Access(Cond.PIN)
MAC = Access(Cond.MAC)


def key(key_id: int) -> Access:
    return Access(Cond.KEY, key_id)


def pin_and_key(key_id: int) -> Access:
    return Access(Cond.PIN_AND_KEY, key_id)


@dataclass(frozen=True, slots=True)
class Item:
    """One data item: a simple-TLV record ``tag ‖ length ‖ value`` (docs/sources.md §2.2)."""

    tag: int
    name: str
    title: str
    length: int
    fmt: Fmt
    example: str                 # test vector, decoded form …
    example_bytes: str           # … and the value field it encodes to, in hex: each decodes to the other
    personal: bool = False       # redacted in traces and logs unless asked
    profile_choice: bool = False  # length/format not given by the sources: this profile's choice
    rule: Rule | None = None     # what a value means (a date, a code of a table …; protocols.item_checks)

    @property
    def label(self) -> str:
        """How errors name the item: ``ssn (社会保障号码)``."""
        return f"{self.name} ({self.title})"

    def check_format(self, value: str) -> None:
        """``ItemValueError`` unless ``value`` fits the item's encoding (characters and length)."""
        R.check_format(self.label, self.fmt, self.length, value)

    def check(self, value: str) -> None:
        """``ItemValueError`` unless ``value`` fits the item's encoding and its rule: the one check every writer
        of an item runs before anything is written (protocols.item_checks)."""
        R.check_value(self.label, self.fmt, self.length, self.rule, value)

    def encode_value(self, value: str, pad: int = 0x00) -> bytes:
        return encode(self.fmt, value, self.length, pad)

    def decode_value(self, raw: bytes) -> str:
        """The value as real cards hold it: dates in BCD or ASCII, unset items all FF, text padded 00 or 20."""
        if self.fmt is Fmt.CN and self.name.endswith("date"):
            return decode_date(raw)
        return decode(self.fmt, raw)

    def encode_record(self, value: str, pad: int = 0x00) -> bytes:
        return bytes((self.tag, self.length)) + self.encode_value(value, pad)


@dataclass(frozen=True, slots=True)
class RecordFile:
    """A linear (or cyclic) record file whose record n holds ``items[n-1]``."""

    fid: int
    sfi: int
    name: str
    title: str
    items: tuple[Item, ...]
    read: Access = FREE
    update: Access = NEVER
    cyclic_records: int = 0      # > 0: a cyclic file of that many raw records of ``record_size``
    record_size: int = 0

    def item(self, tag_or_name: int | str) -> Item:
        for it in self.items:
            if it.tag == tag_or_name or it.name == tag_or_name:
                return it
        raise KeyError(f"{self.name} has no item {tag_or_name!r}")


@dataclass(frozen=True, slots=True)
class BinaryFile:
    """A transparent file of ``size`` bytes (EF07 fingerprint, EF08 photo)."""

    fid: int
    sfi: int
    name: str
    title: str
    size: int
    read: Access = FREE
    update: Access = NEVER
    personal: bool = False


EF = RecordFile | BinaryFile


class KeyUse(str, Enum):
    INTERNAL = "internal"   # INTERNAL AUTHENTICATE; SSSE's IRK also MACs the card ID code
    EXTERNAL = "external"   # EXTERNAL AUTHENTICATE P2 = key_id
    MAC = "mac"             # STK: MACs and enciphered fields of secured commands (block, unblock, PIN)
    PURCHASE = "purchase"   # DPK: the purse's purchase key (INITIALIZE FOR PURCHASE key index = key_id)
    TAC = "tac"             # DTK: the purse's TAC key (held by the card and the back office, never a PSAM)


@dataclass(frozen=True, slots=True)
class PsamAddress:
    """Where a PSAM keeps the key a card key is derived from: ``BF DE``/``80 1A`` P1 and P2.

    P1 = number of diversification levels (b8–b6) ‖ key usage (b5–b1); P2 = key index. A key with 3 levels
    is the root key (the terminal sends card ‖ city ‖ province factors), with 2 the province key (card ‖
    city), with 1 the city key (card).
    """

    p1: int
    p2: int

    @property
    def levels(self) -> int:
        return self.p1 >> 5

    @property
    def usage(self) -> int:
        return self.p1 & 0x1F

    def __str__(self) -> str:
        return f"{self.p1:02X} {self.p2:02X}"


#: PSAM key usages (b5–b1 of P1): 2 purchase, 6 MAC, 7 encryption, 8 MAC and encryption (docs/sources.md §5.1).
USAGE_PURCHASE, USAGE_MAC, USAGE_ENCRYPT, USAGE_MAC_ENCRYPT = 2, 6, 7, 8


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key of a DF: ``name`` is its name in the issuer key set (protocols.keys), ``psam`` where a PSAM
    holds the key it is derived from."""

    name: str
    key_id: int
    use: KeyUse
    psam: PsamAddress
    tries: int = 3
    choice: bool = False     # key ID / PSAM address not given by a source: this profile's choice


@dataclass(frozen=True, slots=True)
class PurseSpec:
    """The DF's electronic purse (docs/design.md §3.3, protocols.purse): the internal purse file TF of
    docs/sources.md §2.3, its log, and the limits of its purchase key."""

    log_fid: int               # the cyclic file each debit adds its record to (EF08)
    key_version: int = 0x01    # answered by INITIALIZE FOR PURCHASE; the PSAM's purchase key index (choice)
    overdraft_limit: int = 0   # an e-purse has none (JR/T 0025.2)


@dataclass(frozen=True, slots=True)
class DFSpec:
    name: str          # "SSSE", "DF01" …
    title: str
    aid: bytes
    fid: int
    files: tuple[EF, ...]
    keys: tuple[KeySpec, ...]
    purse: PurseSpec | None = None

    def ef(self, ref: int | str) -> EF:
        for f in self.files:
            if f.fid == ref or f.name == ref or (isinstance(ref, int) and ref == -f.sfi):
                return f
        raise KeyError(f"{self.name} has no file {ref!r}")

    def key_by_id(self, key_id: int, use: KeyUse | None = None) -> KeySpec | None:
        for k in self.keys:
            if k.key_id == key_id and (use is None or k.use is use):
                return k
        return None

    def key_by_use(self, use: KeyUse) -> KeySpec:
        for k in self.keys:
            if k.use is use:
                return k
        raise KeyError(f"{self.name} has no {use.value} key")


@dataclass(frozen=True, slots=True)
class CardProfile:
    name: str
    alg: Alg
    version: str                         # as terminals show it: "1.00", "2.00", "3.00"
    dfs: tuple[DFSpec, ...]
    version_on_card: str = ""            # EF05 tag 03 as personalised ("2.0" → bytes 32 2E 30 00)
    fci_alg: bool = False                # SELECT SSSE's FCI names the algorithm (9F0C 03 86 01 alg)
    text_pad: int = 0x00                 # GBK text items are padded with 00 (gen2/gen3) or 20 (gen1)
    strict_le: bool = True               # a wrong Le gets 6Cxx; old cards answer the record with 9000
    pin_tries: int = 3
    default_pin: str = "123456"
    pin_admin_key: int = 0x06            # EXTERNAL AUTHENTICATE needed before PIN UNBLOCK and RELOAD

    def df(self, ref: str | bytes | int) -> DFSpec:
        for d in self.dfs:
            if d.name == ref or d.aid == ref or d.fid == ref:
                return d
        raise KeyError(f"profile {self.name} has no DF {ref!r}")

    @property
    def ssse(self) -> DFSpec:
        return self.dfs[0]

    @property
    def card_version(self) -> str:
        return self.version_on_card or self.version

    def find_file(self, path: str) -> tuple[DFSpec, EF]:
        """'SSSE/EF05', 'SSSEEF05', 'MFEF06', '3F00EF06', 'DF01EF05' (the pFileAddr names)."""
        p = path.upper().replace("/", "")
        for prefix in ("SSSE", "3F00", "MF"):
            if p.startswith(prefix):
                return self.ssse, self.ssse.ef(p[len(prefix):])
        return self.df(p[:4]), self.df(p[:4]).ef(p[4:])


# --- the item schemas ------------------------------------------------------------------------------

def _it(tag: int, name: str, title: str, length: int, fmt: Fmt, example: str, example_bytes: str, *,
        personal: bool = False, choice: bool = False, rule: Rule | None = None) -> Item:
    return Item(tag, name, title, length, fmt, example, example_bytes, personal, choice, rule)


AN, CN, B = Fmt.AN, Fmt.CN, Fmt.B

# Each item: tag, name, title, length, format, an example value and the value field it encodes to (hex; the GBK,
# BCD and padding written out by hand, so that a codec change shows up as a mismatch, as pySim keeps its EF vectors),
# and the rule its values follow (protocols.item_checks; the example passes it).
GBK_ZHANGSAN = "D5C5C8FD"                                   # 张三
GBK_ADDRESS = "B9E3D6DDCAD0CCECBAD3C7F8CCE5D3FDCEF7C2B731BAC5"  # 广州市天河区体育西路1号 (23 bytes)

# EF05 issuer data: record n holds tag 0n; lengths 16/1/4/12/4/4/9 [WAPP].
EF05_ITEMS = (
    _it(0x01, "card_id", "卡的识别码", 16, B, "440100D15600000500BF7C7A48FB4966", "440100D15600000500BF7C7A48FB4966"),
    _it(0x02, "card_type", "卡的类别", 1, AN, "3", "33"),
    _it(0x03, "spec_version", "规范版本", 4, AN, "2.00", "322E3030", rule=R.VERSION),
    _it(0x04, "init_org", "初始化机构编号", 12, CN, "440100000000000000000001", "440100000000000000000001"),
    _it(0x05, "issue_date", "发卡日期", 4, CN, "20240301", "20240301", rule=R.DATE),
    _it(0x06, "expiry_date", "卡有效期", 4, CN, "20340301", "20340301", rule=R.DATE),
    _it(0x07, "card_number", "卡号", 9, AN, "A12345678", "413132333435363738", rule=R.CARD_NUMBER),
)

# EF06 cardholder basics, 2.0/3.0 record order 08 09 4E 0A 0B 0C 0D; lengths 18/30/20/1/1/3/4 [WAPP].
EF06_ITEMS = (
    _it(0x08, "ssn", "社会保障号码", 18, AN, "440106199001011235", "343430313036313939303031303131323335",
        personal=True, rule=R.ID_NUMBER),
    _it(0x09, "name", "姓名", 30, AN, "张三", GBK_ZHANGSAN + "00" * 26, personal=True, rule=R.NAME),
    _it(0x4E, "name_ext", "姓名扩展", 20, AN, "", "00" * 20, personal=True),
    _it(0x0A, "sex", "性别", 1, AN, "1", "31", personal=True, rule=R.SEX_CODE),
    _it(0x0B, "ethnicity", "民族", 1, CN, "01", "01", personal=True, rule=R.ETHNICITY_CODE),
    _it(0x0C, "birthplace", "出生地", 3, CN, "440106", "440106", personal=True, rule=R.REGION),
    _it(0x0D, "birth_date", "出生日期", 4, CN, "19900101", "19900101", personal=True, rule=R.DATE),
)

# gen1 cards have no name extension: records 08 09 0A 0B 0C 0D (docs/sources.md §2.2).
EF06_ITEMS_GEN1 = tuple(it for it in EF06_ITEMS if it.tag != 0x4E)

EF0D_ITEMS = (
    _it(0xEA, "person_id", "人员识别码", 12, AN, "P44010000001", "503434303130303030303031", personal=True),
    _it(0xEB, "first_region", "初次申领地", 3, CN, "440100", "440100", rule=R.REGION),
)

# DF01–DF03 lengths and formats (an = style 01, cn = style 0F) from [WAPP]'s write tables; tags without a
# length there keep the profile's choice.
DF01_EF05 = (
    _it(0x20, "hukou_type", "户口性质", 2, AN, "10", "3130", rule=R.DIGITS),
    _it(0x21, "hukou_place", "户口所在地", 80, AN, "广东省广州市天河区",
        "B9E3B6ABCAA1B9E3D6DDCAD0CCECBAD3C7F8" + "00" * 62, personal=True),
)
DF01_EF06 = (
    _it(0x23, "residence_address", "常住所在地地址", 80, AN, "广州市天河区体育西路1号", GBK_ADDRESS + "00" * 57,
        personal=True),
    _it(0x24, "residence_region", "常住地行政区划代码", 3, CN, "440106", "440106", rule=R.REGION),
    _it(0x25, "postal_address", "通讯地址", 80, AN, "广州市天河区体育西路1号", GBK_ADDRESS + "00" * 57,
        personal=True, choice=True),
    _it(0x27, "postcode", "邮政编码", 3, CN, "510620", "510620", choice=True, rule=R.POSTCODE),
    _it(0x28, "phone", "联系电话", 15, AN, "13800138000", "3133383030313338303030" + "00" * 4, personal=True,
        rule=R.PHONE),
)
DF01_EF0A = (
    _it(0x37, "nationality", "国籍", 3, AN, "CHN", "43484E", rule=R.NATIONALITY_CODE),
    _it(0x38, "political_status", "政治面貌", 2, AN, "13", "3133", rule=R.POLITICAL),
)
DF03_EF05 = (
    _it(0x61, "unemployment_status", "失业保险参保状态", 3, CN, "01", "01FFFF"),
    _it(0x98, "unemployment_start", "失业保险参保日期", 4, CN, "20150701", "20150701", rule=R.DATE),
    _it(0x62, "unemployment_org", "失业保险经办机构", 4, CN, "44010001", "44010001"),
)
# DF03 EF19: one B-TLV record, tag 79, 39 bytes [WAPP iReadBTLV("EF19", 0x79, 0x27, …, 7 sub-items)]; read after
# VERIFY (a7082633/HDOS_VC6 湖州/ICCInter2/ICCInter.cpp: 00A4010002DF03, VERIFY, 00A4000002EF19, 00B2790029).
# The sub-items' layout is a choice until the B-TLV tables are modelled.
DF03_EF19 = (
    _it(0x79, "insurance_regions", "参保地信息", 39, B,
        "0103440100" "020420150701" "030420150701" "040101" "050101" "060400000000" "07080000000000000000",
        "010344010002042015070103042015070104010105010106040000000007080000000000000000",
        choice=True),
)
DF04_EF05 = (
    _it(0x81, "medical_insured_type", "医疗保险参保类别", 1, CN, "11", "11", choice=True),
    _it(0x84, "medical_start", "医疗保险参保日期", 4, CN, "20150701", "20150701", choice=True, rule=R.DATE),
    _it(0x87, "medical_org", "医疗保险经办机构", 6, CN, "440100000001", "440100000001", choice=True),
    _it(0x8C, "medical_status", "医疗保险参保状态", 1, CN, "01", "01", choice=True),
)
DF04_EF06 = (
    _it(0x90, "offline_balance", "脱网结算余额", 4, B, "00000000", "00000000", choice=True),
    _it(0x92, "offline_count", "脱网结算次数", 2, B, "0000", "0000", choice=True),
    _it(0x93, "offline_date", "脱网结算日期", 4, CN, "20240301", "20240301", choice=True, rule=R.DATE),
)

# --- keys -----------------------------------------------------------------------------------------
# Names are those of the issuer key set (protocols.keys); an application DF's keys are named "DFnn.X".
# PSAM addresses: [WAPP] ExterAuthen/PerPINUnLock/ResetPassWord and its read/write tables; IRK 67 08 and
# RK 47 0A as production terminals send them (docs/design.md §3 "PSAM").


def _k(name: str, key_id: int, use: KeyUse, p1: int, p2: int, *, choice: bool = False) -> KeySpec:
    return KeySpec(name, key_id, use, PsamAddress(p1, p2), choice=choice)


IRK = _k("IRK", 0x01, KeyUse.INTERNAL, 0x67, 0x08)                # internal authentication (3 levels)
MK = _k("MK", 0x00, KeyUse.EXTERNAL, 0x48, 0x11, choice=True)     # SSSE master key
UK = _k("UK", 0x04, KeyUse.EXTERNAL, 0x48, 0x12)                  # [WAPP] UKSSSE: writes EF05/EF06
RLK = _k("RLK", 0x06, KeyUse.EXTERNAL, 0x48, 0x10)                # [WAPP] PIN unblock / reload authentication
RK = _k("RK", 0x0A, KeyUse.EXTERNAL, 0x47, 0x0A)                  # RKSSSE: EF06 on gen3, EF07/EF08
EK0D = _k("EK0D", 0x0D, KeyUse.EXTERNAL, 0x48, 0x13)              # writes EF0D (PSAM P2 13, docs/sources.md §5.3)
STK = _k("STK", 0x02, KeyUse.MAC, 0x48, 0x09)                     # [WAPP] secure messaging of SSSE

SSSE_KEYS = (IRK, MK, UK, RLK, RK, EK0D, STK)


def _app_keys(df: str, read: tuple[int, int], updates: tuple[tuple[str, int, int, int], ...],
              stk_index: int) -> tuple[KeySpec, ...]:
    """An application DF's keys: its read key RK, its update keys, and its STK (choice)."""
    rk_id, rk_p2 = read
    keys = [_k(f"{df}.RK", rk_id, KeyUse.EXTERNAL, 0x67, rk_p2)]
    keys += [_k(f"{df}.{name}", key_id, KeyUse.EXTERNAL, p1, p2) for name, key_id, p1, p2 in updates]
    keys.append(_k(f"{df}.STK", 0x02, KeyUse.MAC, 0x48, stk_index, choice=True))
    return tuple(keys)


# [WAPP] DF01: read RK1 = key 88 (PSAM 67 2E); writes EF05 UK1 = 83 (48 42), EF06 UK4 = 86 (47 25),
# EF0A UK5 = 87 (48 44). DF02: RK1 = 88 (67 35); EF07 UK3 = 85 (48 46). DF03: RK1 = 84 (67 2B);
# EF05 UK1 = 86 (48 47), EF19 UK8 = 8D (47 3B). DF04: RK1 = 84 (67 2D); its writes are MAC'd under its STK (choice).
DF01_KEYS = _app_keys("DF01", (0x88, 0x2E), (("UK1", 0x83, 0x48, 0x42), ("UK4", 0x86, 0x47, 0x25),
                                             ("UK5", 0x87, 0x48, 0x44)), 0x31)
DF02_KEYS = _app_keys("DF02", (0x88, 0x35), (("UK3", 0x85, 0x48, 0x46),), 0x32)
DF03_KEYS = _app_keys("DF03", (0x84, 0x2B), (("UK1", 0x86, 0x48, 0x47), ("UK8", 0x8D, 0x47, 0x3B)), 0x33)
# DF04 also holds the purse keys of docs/sources.md §4.2 ("DSK", the medical purse key): the purchase key DPK
# (key index 01 as in the PBOC examples; its PSAM address: 2 levels, usage 2 purchase, index = key version) and
# the TAC key DTK (no PSAM holds it; its address only names it to the HSM). IDs and addresses: choice.
DF04_KEYS = _app_keys("DF04", (0x84, 0x2D), (), 0x34) + (
    _k("DF04.DPK", 0x01, KeyUse.PURCHASE, 0x40 | USAGE_PURCHASE, 0x01, choice=True),
    _k("DF04.DTK", 0x03, KeyUse.TAC, 0x44, 0x01, choice=True),
)

PHOTO_SIZE = 4096       # profile choice: EF08 holds a JPEG of at most 4 KiB
FINGERPRINT_SIZE = 1024  # profile choice: EF07 holds two fingerprint templates


def _ssse(ef06_read: Access, ef06_items: tuple[Item, ...] = EF06_ITEMS) -> DFSpec:
    return DFSpec("SSSE", "社会保障系统环境", SSSE_NAME, 0xDDF1, (
        RecordFile(0xEF05, 0x05, "EF05", "发卡机构数据", EF05_ITEMS, FREE, key(UK.key_id)),
        RecordFile(0xEF06, 0x06, "EF06", "持卡人基本信息", ef06_items, ef06_read, key(UK.key_id)),
        BinaryFile(0xEF07, 0x07, "EF07", "指纹", FINGERPRINT_SIZE, key(RK.key_id), key(UK.key_id), True),
        BinaryFile(0xEF08, 0x08, "EF08", "照片", PHOTO_SIZE, key(RK.key_id), key(UK.key_id), True),
        RecordFile(0xEF0D, 0x0D, "EF0D", "扩展信息", EF0D_ITEMS, FREE, key(EK0D.key_id)),
    ), SSSE_KEYS)


def _apps() -> tuple[DFSpec, ...]:
    def rk(keys: tuple[KeySpec, ...]) -> Access:
        return key(keys[0].key_id)

    def uk(keys: tuple[KeySpec, ...], name: str) -> Access:
        return key(next(k.key_id for k in keys if k.name.endswith("." + name)))

    return (
        DFSpec("DF01", "公共应用", RID + b"\x00", 0xDF01, (
            RecordFile(0xEF05, 0x05, "EF05", "户籍", DF01_EF05, rk(DF01_KEYS), uk(DF01_KEYS, "UK1")),
            RecordFile(0xEF06, 0x06, "EF06", "常住地及通讯", DF01_EF06, rk(DF01_KEYS), uk(DF01_KEYS, "UK4")),
            RecordFile(0xEF0A, 0x0A, "EF0A", "国籍及政治面貌", DF01_EF0A, rk(DF01_KEYS), uk(DF01_KEYS, "UK5")),
        ), DF01_KEYS),
        DFSpec("DF02", "就业与失业", RID + b"\x01", 0xDF02, (
            RecordFile(0xEF07, 0x07, "EF07", "就业记录", (), rk(DF02_KEYS), uk(DF02_KEYS, "UK3"),
                       cyclic_records=4, record_size=32),
        ), DF02_KEYS),
        DFSpec("DF03", "社会保险1", RID + b"\x02", 0xDF03, (
            RecordFile(0xEF05, 0x05, "EF05", "失业保险", DF03_EF05, rk(DF03_KEYS), uk(DF03_KEYS, "UK1")),
            RecordFile(0xEF19, 0x19, "EF19", "参保地信息", DF03_EF19, PIN, uk(DF03_KEYS, "UK8")),
        ), DF03_KEYS),
        DFSpec("DF04", "医疗保险", RID + b"\x03", 0xDF04, (
            RecordFile(0xEF05, 0x05, "EF05", "医疗保险基本信息", DF04_EF05, rk(DF04_KEYS), MAC),
            RecordFile(0xEF06, 0x06, "EF06", "医疗保险临时脱网结算信息", DF04_EF06, pin_and_key(DF04_KEYS[0].key_id),
                       MAC),
            # EF08: 10 records (docs/sources.md §2.3) of the PBOC transaction detail layout (23 bytes,
            # protocols.purse.LogRecord), written only by the card's DEBIT; the holder reads it after the PIN,
            # a terminal also with the DF's read key. EF15: 8 records (§2.3) written with a MAC; size: choice.
            RecordFile(0xEF08, 0x08, "EF08", "医疗交易明细", (), Access(Cond.PIN_OR_KEY, DF04_KEYS[0].key_id),
                       NEVER, cyclic_records=10, record_size=23),
            RecordFile(0xEF15, 0x15, "EF15", "特殊医疗结算记录", (), rk(DF04_KEYS), MAC, cyclic_records=8,
                       record_size=32),
        ), DF04_KEYS, PurseSpec(0xEF08)),
    )


GEN1 = CardProfile("gen1", Alg.DES3, "1.00", (_ssse(FREE, EF06_ITEMS_GEN1),) + _apps(), text_pad=0x20,
                   strict_le=False)
GEN2 = CardProfile("gen2", Alg.DES3, "2.00", (_ssse(FREE),) + _apps(), version_on_card="2.0")
GEN3 = CardProfile("gen3", Alg.SM4, "3.00", (_ssse(key(RK.key_id)),) + _apps(), fci_alg=True)
PROFILES: dict[str, CardProfile] = {p.name: p for p in (GEN1, GEN2, GEN3)}

#: Every key name a profile uses, in a stable order: the names an issuer key set holds.
KEY_NAMES: tuple[str, ...] = tuple(dict.fromkeys(k.name for p in PROFILES.values() for d in p.dfs for k in d.keys))


def profile(name: str) -> CardProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown card profile {name!r} (known: {', '.join(PROFILES)})") from None


def key_spec(name: str) -> KeySpec:
    """The key named ``name`` in any profile (key names are the same in every profile)."""
    for p in PROFILES.values():
        for d in p.dfs:
            for k in d.keys:
                if k.name == name:
                    return k
    raise KeyError(f"no profile has a key named {name!r}")


def normalise_version(text: str) -> str:
    """The spec version as terminals show it: "2.0" (bytes 32 2E 30 00 on gen2 cards) → "2.00"."""
    if len(text) == 3 and text[1] == "." and text[0].isdigit() and text[2].isdigit():
        return text + "0"
    return text


# --- PSAM (docs/design.md §3 "PSAM") ----------------------------------------------------------------

#: Every key a PSAM holds, by its address: one per card key of the profiles.
PSAM_KEYS: tuple[KeySpec, ...] = tuple({k.psam: k for p in PROFILES.values() for d in p.dfs for k in d.keys
                                         if k.use is not KeyUse.TAC}.values())
PSAM_TERMINAL_SFI = 0x16   # EF16 terminal number, READ BINARY 00 B0 96 00 06
PSAM_PUBLIC_SFI = 0x15     # EF15 public data (PSAM serial …), READ BINARY 00 B0 95 00 0F


#: The PSAM application holding the keys of each algorithm, by AID and by FID (DF01, DF02).
PSAM_APPS: dict[Alg, bytes] = {Alg.DES3: PSAM_APP_AID, Alg.SM4: PSAM_SM4_AID}
PSAM_APP_FIDS: dict[int, bytes] = {0xDF01: PSAM_APP_AID, 0xDF02: PSAM_SM4_AID}
