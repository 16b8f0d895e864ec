"""The declarative card profile: file map, record schemas, access conditions and key IDs.

One profile is shared by the emulator (``firmware_sim``) and the host (``host``), so no file ID, tag
or key ID is written twice (DESIGN.md §4). Facts: sscard-spec-notes §2 (file system, items), §4.2
(keys); choices: DESIGN.md §3. Lengths the sources do not give are marked ``profile_choice``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from protocols.codecs import Fmt, decode, encode
from protocols.crypto import Alg

SSSE_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh." + GBK 社会保障 (notes §2.1)
PSAM_DDF_NAME = SSSE_NAME                                        # the PSAM's MF DDF name (notes §5.1)
PSAM_APP_AID = bytes.fromhex("D15600000590")                     # PSAM application DF01 (notes §5.1)
PSAM_SM4_AID = bytes.fromhex("D15600000591")                     # profile choice: the PSAM's SM4 application
RID = bytes.fromhex("D156000005")                                # MoHRSS RID (notes §2.1, §4.7)


class Cond(str, Enum):
    """Access-condition kinds of personalisation tools (notes §2.4)."""

    FREE = "free"
    PIN = "pin"
    KEY = "key"              # external authentication with ``key_id`` in the current DF
    PIN_OR_KEY = "pin_or_key"
    PIN_AND_KEY = "pin_and_key"
    MAC = "mac"              # secure messaging: CLA 04 with a MAC under the DF's STK (DESIGN §3 MAC)
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class Access:
    cond: Cond
    key_id: int | None = None

    def __str__(self) -> str:
        return self.cond.value + (f"({self.key_id:02X})" if self.key_id is not None else "")


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
    """One data item: a simple-TLV record ``tag ‖ length ‖ value`` (notes §2.2)."""

    tag: int
    name: str
    title: str
    length: int
    fmt: Fmt
    example: str                 # test vector, decoded form; ``encode_record(example)`` round-trips
    personal: bool = False       # redacted in traces and logs unless asked
    profile_choice: bool = False  # length/format not given by the sources: this profile's choice

    def encode_value(self, value: str) -> bytes:
        return encode(self.fmt, value, self.length)

    def decode_value(self, raw: bytes) -> str:
        return decode(self.fmt, raw)

    def encode_record(self, value: str) -> bytes:
        return bytes((self.tag, self.length)) + self.encode_value(value)


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
    INTERNAL = "internal"   # INTERNAL AUTHENTICATE; SSSE's IRK also MACs the card ID code (notes §4.7)
    EXTERNAL = "external"   # EXTERNAL AUTHENTICATE P2 = key_id
    MAC = "mac"             # STK: MACs of block/unblock and secured updates
    UNBLOCK = "unblock"     # PUK: PIN UNBLOCK 84 24 00 00
    RELOAD = "reload"       # RPK: PIN RELOAD 84 24 00 01


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key of a DF: ``name`` is its name in the issuer key set (protocols.keys)."""

    name: str
    key_id: int
    use: KeyUse
    tries: int = 3


@dataclass(frozen=True, slots=True)
class DFSpec:
    name: str          # "SSSE", "DF01" …
    title: str
    aid: bytes
    fid: int
    files: tuple[EF, ...]
    keys: tuple[KeySpec, ...]

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
    version: str
    dfs: tuple[DFSpec, ...]
    pin_tries: int = 3
    default_pin: str = "123456"
    reload_auth_key: int | None = None   # EXTERNAL AUTHENTICATE needed before PIN RELOAD (gen3: 06)
    challenge_length: int = 8

    def df(self, ref: str | bytes | int) -> DFSpec:
        for d in self.dfs:
            if d.name == ref or d.aid == ref or d.fid == ref:
                return d
        raise KeyError(f"profile {self.name} has no DF {ref!r}")

    @property
    def ssse(self) -> DFSpec:
        return self.dfs[0]

    def find_file(self, path: str) -> tuple[DFSpec, EF]:
        """'SSSE/EF05', 'SSSEEF05', 'MFEF06', '3F00EF06', 'DF01EF05' (the pFileAddr names, notes §6.2)."""
        p = path.upper().replace("/", "")
        for prefix in ("SSSE", "3F00", "MF"):
            if p.startswith(prefix):
                return self.ssse, self.ssse.ef(p[len(prefix):])
        return self.df(p[:4]), self.df(p[:4]).ef(p[4:])


# --- the item schemas ------------------------------------------------------------------------------

def _it(tag: int, name: str, title: str, length: int, fmt: Fmt, example: str, *,
        personal: bool = False, choice: bool = False) -> Item:
    return Item(tag, name, title, length, fmt, example, personal, choice)


AN, CN, B = Fmt.AN, Fmt.CN, Fmt.B

# EF05 issuer data (notes §2.2): record n holds tag 0n.
EF05_ITEMS = (
    _it(0x01, "card_id", "卡的识别码", 16, B, "440100D15600000500BF7C7A48FB4966"),
    _it(0x02, "card_type", "卡的类别", 1, AN, "3"),
    _it(0x03, "spec_version", "规范版本", 4, AN, "2.00"),
    _it(0x04, "init_org", "初始化机构编号", 12, CN, "440100000000000000000001"),
    _it(0x05, "issue_date", "发卡日期", 4, CN, "20240301"),
    _it(0x06, "expiry_date", "卡有效期", 4, CN, "20340301"),
    _it(0x07, "card_number", "卡号", 9, AN, "A12345678"),
)

# EF06 cardholder basics, 2.0/3.0 record order (notes §2.2).
EF06_ITEMS = (
    _it(0x08, "ssn", "社会保障号码", 18, AN, "440106199001011234", personal=True),
    _it(0x09, "name", "姓名", 30, AN, "张三", personal=True),
    _it(0x4E, "name_ext", "姓名扩展", 20, AN, "", personal=True),
    _it(0x0A, "sex", "性别", 1, AN, "1", personal=True),
    _it(0x0B, "ethnicity", "民族", 1, CN, "01", personal=True),
    _it(0x0C, "birthplace", "出生地", 3, CN, "440106", personal=True),
    _it(0x0D, "birth_date", "出生日期", 4, CN, "19900101", personal=True),
)

EF0D_ITEMS = (
    _it(0xEA, "person_id", "人员识别码", 12, AN, "P44010000001", personal=True),
    _it(0xEB, "first_region", "初次申领地", 3, CN, "440100"),
)

DF01_EF05 = (
    _it(0x20, "hukou_type", "户口性质", 2, CN, "10", choice=True),
    _it(0x21, "hukou_place", "户口所在地", 60, AN, "广东省广州市天河区", personal=True, choice=True),
)
DF01_EF06 = (
    _it(0x23, "residence_address", "常住所在地地址", 80, AN, "广州市天河区体育西路1号", personal=True, choice=True),
    _it(0x24, "residence_region", "常住地行政区划代码", 3, CN, "440106", choice=True),
    _it(0x25, "postal_address", "通讯地址", 80, AN, "广州市天河区体育西路1号", personal=True, choice=True),
    _it(0x27, "postcode", "邮政编码", 3, CN, "510620", choice=True),
    _it(0x28, "phone", "联系电话", 15, AN, "13800138000", personal=True, choice=True),
)
DF01_EF0A = (
    _it(0x37, "nationality", "国籍", 3, AN, "CHN", choice=True),
    _it(0x38, "political_status", "政治面貌", 2, CN, "13", choice=True),
)
DF03_EF05 = (
    _it(0x61, "unemployment_status", "失业保险参保状态", 1, CN, "01", choice=True),
    _it(0x98, "unemployment_start", "失业保险参保日期", 4, CN, "20150701", choice=True),
    _it(0x62, "unemployment_org", "失业保险经办机构", 6, CN, "440100000001", choice=True),
)
DF04_EF05 = (
    _it(0x81, "medical_insured_type", "医疗保险参保类别", 1, CN, "11", choice=True),
    _it(0x84, "medical_start", "医疗保险参保日期", 4, CN, "20150701", choice=True),
    _it(0x87, "medical_org", "医疗保险经办机构", 6, CN, "440100000001", choice=True),
    _it(0x8C, "medical_status", "医疗保险参保状态", 1, CN, "01", choice=True),
)
DF04_EF06 = (
    _it(0x90, "offline_balance", "脱网结算余额", 4, B, "00000000", choice=True),
    _it(0x92, "offline_count", "脱网结算次数", 2, B, "0000", choice=True),
    _it(0x93, "offline_date", "脱网结算日期", 4, CN, "20240301", choice=True),
)

# Keys (notes §4.2; DESIGN §3). Names are those of the issuer key set in protocols.keys.
IRK = KeySpec("IRK", 0x01, KeyUse.INTERNAL)
MK = KeySpec("MK", 0x00, KeyUse.EXTERNAL)
UK = KeySpec("UK", 0x04, KeyUse.EXTERNAL)
RLK = KeySpec("RLK", 0x06, KeyUse.EXTERNAL)
RK = KeySpec("RK", 0x0A, KeyUse.EXTERNAL)
EK0D = KeySpec("EK0D", 0x0D, KeyUse.EXTERNAL)
STK = KeySpec("STK", 0x02, KeyUse.MAC)
PUK = KeySpec("PUK", 0x03, KeyUse.UNBLOCK)
RPK = KeySpec("RPK", 0x05, KeyUse.RELOAD)

SSSE_KEYS = (IRK, MK, UK, RLK, RK, EK0D, STK, PUK, RPK)
APP_KEYS = (IRK, MK, UK, RK, STK)

PHOTO_SIZE = 4096       # profile choice: EF08 holds a JPEG of at most 4 KiB
FINGERPRINT_SIZE = 1024  # profile choice: EF07 holds two fingerprint templates


def _ssse(ef06_read: Access) -> DFSpec:
    return DFSpec("SSSE", "社会保障系统环境", SSSE_NAME, 0xDDF1, (
        RecordFile(0xEF05, 0x05, "EF05", "发卡机构数据", EF05_ITEMS, FREE, key(UK.key_id)),
        RecordFile(0xEF06, 0x06, "EF06", "持卡人基本信息", EF06_ITEMS, ef06_read, key(UK.key_id)),
        BinaryFile(0xEF07, 0x07, "EF07", "指纹", FINGERPRINT_SIZE, key(RK.key_id), key(UK.key_id), True),
        BinaryFile(0xEF08, 0x08, "EF08", "照片", PHOTO_SIZE, key(RK.key_id), key(UK.key_id), True),
        RecordFile(0xEF0D, 0x0D, "EF0D", "扩展信息", EF0D_ITEMS, FREE, key(EK0D.key_id)),
    ), SSSE_KEYS)


def _apps() -> tuple[DFSpec, ...]:
    rk = key(RK.key_id)
    return (
        DFSpec("DF01", "公共应用", RID + b"\x00", 0xDF01, (
            RecordFile(0xEF05, 0x05, "EF05", "户籍", DF01_EF05, rk, MAC),
            RecordFile(0xEF06, 0x06, "EF06", "常住地及通讯", DF01_EF06, rk, MAC),
            RecordFile(0xEF0A, 0x0A, "EF0A", "国籍及政治面貌", DF01_EF0A, rk, MAC),
        ), APP_KEYS),
        DFSpec("DF02", "就业与失业", RID + b"\x01", 0xDF02, (
            RecordFile(0xEF07, 0x07, "EF07", "就业记录", (), rk, MAC, cyclic_records=4, record_size=32),
        ), APP_KEYS),
        DFSpec("DF03", "社会保险1", RID + b"\x02", 0xDF03, (
            RecordFile(0xEF05, 0x05, "EF05", "失业保险", DF03_EF05, rk, MAC),
        ), APP_KEYS),
        DFSpec("DF04", "医疗保险", RID + b"\x03", 0xDF04, (
            RecordFile(0xEF05, 0x05, "EF05", "医疗保险基本信息", DF04_EF05, rk, MAC),
            RecordFile(0xEF06, 0x06, "EF06", "医疗保险临时脱网结算信息", DF04_EF06, pin_and_key(RK.key_id), MAC),
            RecordFile(0xEF08, 0x08, "EF08", "医疗交易明细", (), rk, MAC, cyclic_records=10, record_size=32),
        ), APP_KEYS),
    )


GEN2 = CardProfile("gen2", Alg.DES3, "2.00", (_ssse(FREE),) + _apps())
GEN3 = CardProfile("gen3", Alg.SM4, "3.00", (_ssse(key(RK.key_id)),) + _apps(), reload_auth_key=RLK.key_id)
PROFILES: dict[str, CardProfile] = {p.name: p for p in (GEN2, GEN3)}


def profile(name: str) -> CardProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown card profile {name!r} (known: {', '.join(PROFILES)})") from None


# --- PSAM (notes §5) -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PsamKeySpec:
    """A city-level key of the PSAM, addressed by key type (usage b5..b1) and index (80 1A P1/P2)."""

    name: str        # issuer key-set name; the card key derived from it
    key_type: int    # notes §5.1: 1 maintenance, 3 PIN unblock, 4 PIN reload, 7 encryption, 8 MAC+encryption
    index: int


# Encryption keys are addressed by the card key ID they stand for (RK -> index 0A …).
PSAM_KEYS = (
    PsamKeySpec("IRK", 7, IRK.key_id),
    PsamKeySpec("MK", 7, MK.key_id),
    PsamKeySpec("UK", 7, UK.key_id),
    PsamKeySpec("RLK", 7, RLK.key_id),
    PsamKeySpec("RK", 7, RK.key_id),
    PsamKeySpec("EK0D", 7, EK0D.key_id),
    PsamKeySpec("STK", 1, 0x01),
    PsamKeySpec("PUK", 3, 0x01),
    PsamKeySpec("RPK", 4, 0x01),
)
PSAM_TERMINAL_SFI = 0x16   # EF16 terminal number, READ BINARY 00 B0 96 00 06 (notes §5.1)


def psam_key_for(name: str) -> PsamKeySpec:
    for k in PSAM_KEYS:
        if k.name == name:
            return k
    raise KeyError(f"the PSAM has no {name} key")


#: The PSAM application holding the keys of each algorithm, by AID and by FID (DF01, DF02).
PSAM_APPS: dict[Alg, bytes] = {Alg.DES3: PSAM_APP_AID, Alg.SM4: PSAM_SM4_AID}
PSAM_APP_FIDS: dict[int, bytes] = {0xDF01: PSAM_APP_AID, 0xDF02: PSAM_SM4_AID}
