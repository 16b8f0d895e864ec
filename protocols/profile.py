"""The declarative card profile: file map, record schemas, access conditions and key IDs.

One profile is shared by the emulator (``firmware_sim``) and the host (``host``), so no file ID, tag
or key ID is written twice. Facts and their sources: docs/design.md §3 and docs/sources.md §2 (files,
items), §4.2 (keys). Item lengths, key IDs and PSAM key addresses come from a production SSSE32 DLL
(a7082633/HDOS_VC6, ``湖南项目/湖南动态库 - (自有)- 娄底/湖南动态库 - (自有)- 娄底/WAPP.CPP``, cited below as
[WAPP]) where it gives them, DF01–DF07 layouts also from a standard-interface DLL's file-type table (docs/sources.md
S40, cited [S40]); what no source gives is marked ``profile_choice`` / "choice". B-TLV templates are items with
sub-items (``Item.subs``), repeated in consecutive records and addressed ``tag:NN`` (``RecordFile.lookup``).

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
    """One data item: a simple-TLV record ``tag ‖ length ‖ value`` (docs/sources.md §2.2).

    An item with ``subs`` is a B-TLV template (docs/sources.md §2.3): its value field holds the sub-items'
    simple-TLV records in order, and its value as text is the sub-items' values each followed by ``,``
    (``123,20120312,…,``, as standard-interface callers write it, docs/sources.md §6.2); "" means every sub-item
    empty. With ``bare`` the sub-items follow each other without tags or lengths: the layout of a cyclic record.
    """

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
    subs: tuple[Item, ...] = ()  # a B-TLV template: the sub-items its value field holds
    bare: bool = False           # the sub-items without their tags and lengths (a cyclic record's fields)
    fill: bool = False           # ``b`` of at most ``length`` bytes, the rest 00 (a transparent file's content)

    @property
    def label(self) -> str:
        """How errors name the item: ``ssn (社会保障号码)``."""
        return f"{self.name} ({self.title})"

    def split(self, value: str) -> list[str]:
        """A template's value as its sub-items' values; ``ItemValueError`` unless it has one per sub-item."""
        if not value:
            return [""] * len(self.subs)
        parts = value.split(SUB_SEPARATOR)
        if parts[-1] == "":
            parts.pop()
        if len(parts) != len(self.subs):
            raise R.ItemValueError(self.label, f"{len(parts)} value(s) separated by '{SUB_SEPARATOR}', the record "
                                   f"holds {len(self.subs)} sub-items", R.VALUE)
        return parts

    def check_format(self, value: str) -> None:
        """``ItemValueError`` unless ``value`` fits the item's encoding (characters and length)."""
        if self.fill:
            self._check_fill(value)
            return
        if self.subs:
            for n, (sub, part) in enumerate(zip(self.subs, self.split(value), strict=True), 1):
                R.check_format(self._sub_label(sub, n), sub.fmt, sub.length, part)
            return
        R.check_format(self.label, self.fmt, self.length, value)

    def check(self, value: str) -> None:
        """``ItemValueError`` unless ``value`` fits the item's encoding and its rule: the one check every writer
        of an item runs before anything is written (protocols.item_checks)."""
        if self.fill:
            self._check_fill(value)
            return
        if self.subs:
            for n, (sub, part) in enumerate(zip(self.subs, self.split(value), strict=True), 1):
                R.check_value(self._sub_label(sub, n), sub.fmt, sub.length, sub.rule, part)
            return
        R.check_value(self.label, self.fmt, self.length, self.rule, value)

    def _check_fill(self, value: str) -> None:
        if len(value) % 2:
            raise R.ItemValueError(self.label, f"{len(value)} hex digits: an odd number", R.CHARSET)
        if len(value) > 2 * self.length:
            raise R.ItemValueError(self.label, f"{len(value) // 2} bytes, the file holds {self.length}", R.LENGTH)
        R.check_format(self.label, self.fmt, self.length, value.ljust(2 * self.length, "0"))

    def _sub_label(self, sub: Item, n: int) -> str:
        """How errors name a sub-item: ``insurance_region_1 (参保地信息（1）): sub-item 1A`` (a cyclic record's
        field: ``field 2``)."""
        return f"{self.label}: " + (f"field {n}" if self.bare else f"sub-item {sub.tag:02X}")

    def encode_value(self, value: str, pad: int = 0x00) -> bytes:
        if self.fill:
            return encode(self.fmt, value.ljust(2 * self.length, "0"), self.length)
        if self.subs:
            parts = self.split(value)
            if self.bare:
                return b"".join(sub.encode_value(v, pad) for sub, v in zip(self.subs, parts, strict=True))
            return b"".join(sub.encode_record(v, pad) for sub, v in zip(self.subs, parts, strict=True))
        return encode(self.fmt, value, self.length, pad)

    def decode_value(self, raw: bytes) -> str:
        """The value as real cards hold it: dates in BCD or ASCII, unset items all FF, text padded 00 or 20.
        A template whose records do not follow its sub-items (tags, lengths) is a ``ValueError``."""
        if self.subs:
            return self._decode_subs(raw)
        if self.fill:
            return decode(self.fmt, raw.rstrip(b"\x00"))
        if self.fmt is Fmt.CN and (self.name.endswith("date") or self.rule is R.DATE):
            return decode_date(raw)
        return decode(self.fmt, raw)

    def sub_fields(self, raw: bytes) -> list[bytes]:
        """A template's value field cut into its sub-items' value fields; ``ValueError`` when the records do not
        follow the sub-items (tags, lengths) or leave bytes over. The card checks a template record with it before
        writing one (docs/design.md §3)."""
        fields, pos = [], 0
        for n, sub in enumerate(self.subs, 1):
            if not self.bare:
                if raw[pos:pos + 2] != bytes((sub.tag, sub.length)):
                    raise ValueError(f"B-TLV record {self.tag:02X}: sub-item {n} is not {sub.tag:02X} "
                                     f"{sub.length:02X} (offset {pos})")
                pos += 2
            if pos + sub.length > len(raw):
                raise ValueError(f"record {self.tag:02X}: sub-item {n} runs past the end")
            fields.append(raw[pos:pos + sub.length])
            pos += sub.length
        if pos != len(raw):
            raise ValueError(f"record {self.tag:02X}: {len(raw) - pos} byte(s) after the last sub-item")
        return fields

    def _decode_subs(self, raw: bytes) -> str:
        if raw and raw.count(0xFF) == len(raw):
            return ""
        values = [sub.decode_value(field) for sub, field in zip(self.subs, self.sub_fields(raw), strict=True)]
        return "".join(v + SUB_SEPARATOR for v in values) if any(values) else ""

    def encode_record(self, value: str, pad: int = 0x00) -> bytes:
        return bytes((self.tag, self.length)) + self.encode_value(value, pad)


#: Separates a B-TLV template's sub-item values in its text form (docs/sources.md §6.2).
SUB_SEPARATOR = ","


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
    layout: Item | None = None   # a cyclic file's record: its fields (an Item with bare ``subs``), when known

    def item(self, tag_or_name: int | str) -> Item:
        """The item named so, or the first with that tag (READ RECORD by tag finds the first too)."""
        for it in self.items:
            if it.tag == tag_or_name or it.name == tag_or_name:
                return it
        raise KeyError(f"{self.name} has no item {tag_or_name!r}")

    def occurrence(self, tag: int, n: int) -> Item:
        """The ``n``-th record (1 first) of the items with ``tag``: a B-TLV template repeats in consecutive
        records, addressed ``tag:NN`` by the standard interface (docs/sources.md §6.2)."""
        found = [it for it in self.items if it.tag == tag]
        if not 1 <= n <= len(found):
            raise KeyError(f"{self.name} has {len(found)} record(s) of tag {tag:02X}, not {n}")
        return found[n - 1]

    def lookup(self, ref: str) -> Item:
        """An item by name, hex tag (``09``) or ``tag:NN`` (``79:02``, NN in hex as the interface's record numbers
        are); ``KeyError`` if the file has none."""
        text = ref.strip()
        tag, sep, nth = text.partition(":")
        if len(tag) == 2 and all(c in "0123456789abcdefABCDEF" for c in tag):
            if not sep:
                return self.item(int(tag, 16))
            if len(nth) == 2 and all(c in "0123456789abcdefABCDEF" for c in nth):
                return self.occurrence(int(tag, 16), int(nth, 16))
        for it in self.items:
            if it.name == text:
                return it
        raise KeyError(f"{self.name} has no item {ref!r}")

    def address(self, item: Item) -> str:
        """How the standard interface names ``item``: its tag, ``tag:NN`` for a template's records."""
        same = [it for it in self.items if it.tag == item.tag]
        if len(same) == 1 and not item.subs:
            return f"{item.tag:02X}"
        return f"{item.tag:02X}:{same.index(item) + 1:02X}"


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

    @property
    def content(self) -> Item:
        """The file's content as one item (01, as the standard interface names it): hex of at most ``size``
        bytes, the rest 00 when written."""
        return Item(0x01, f"{self.name.lower()}_content", self.title, self.size, Fmt.B, "", "", self.personal,
                    fill=True)


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

# --- DF01–DF03, DF05–DF07 -------------------------------------------------------------------------------
# Layouts (record order, tag, format, length) of the 2.0 card from two production sources that agree wherever both
# give a file: [WAPP]'s read and write tables (an = style 01, cn = style 0F; its B-TLV and cyclic readers) and
# [S40], a standard-interface DLL's file-type table (``vecFileType_v2``: tag, an/cn/b/dec, length in hex; a B-TLV
# template with its sub-items, how many records it fills and from which record). DF05 and DF06 are known only by
# the pFileAddr lists of [S15] (tags; ``tag:NN`` for repeated ones): their lengths and formats are the profile's
# choice. Where [S40] says ``dec``, [WAPP] reads cn: the profile takes cn. Item names: the sources' where they
# give one (S30, [S41] a reader plug-in's DF01 EF06 names), else the item is named by its place (``df02ef06_4c``,
# "就业状况数据项4C") and its name and title are the profile's choice. Sources: docs/sources.md §2.3.


def _blank(fmt: Fmt, length: int) -> str:
    """The value field of an empty item, in hex: ``an`` padded with 00, ``cn`` with F (docs/sources.md §2.5)."""
    return ("00" if fmt is Fmt.AN else "FF") * length


#: What the values of unnamed items are, from [S15]'s sample pWriteData for these files (docs/sources.md §2.3):
#: the cn 4 items it fills with dates, the cn 3 ones with months (201211).
_RULES: dict[str, Rule] = {
    **{name: R.DATE for name in ("df02ef06_4c", "df02ef06_60", "df02ef09_96", "df02ef15_0f", "df03ef06_67",
                                 "df03ef07_6e", "df03ef07_6c", "df03ef07_6f", "df03ef07_73", "df03ef15_7b",
                                 "df03ef15_7c", "df03ef17_3e", "df03ef18_77", "df03ef18_78", "df07ef06_f6")},
    **{name: R.YEAR_MONTH for name in ("df03ef07_71", "df03ef15_7a", "df03ef16_51")},
}


def _u(place: str, file_title: str, tag: int, length: int, fmt: Fmt, *, n: int = 0, choice: bool = False) -> Item:
    """An item no public source names: ``df02ef06_4c`` / "就业状况数据项4C" (``_2``, "（2）" for a repeated one);
    personal (redacted in traces), empty in its test vector; its rule from :data:`_RULES`."""
    suffix, nth = (f"_{n}", f"（{n}）") if n else ("", "")
    name = f"{place}_{tag:02x}"
    return Item(tag, name + suffix, f"{file_title}数据项{tag:02X}{nth}", length, fmt, "", _blank(fmt, length), True,
                choice, _RULES.get(name))


def _sub(tag: int, length: int, fmt: Fmt, name: str = "", title: str = "", rule: Rule | None = None) -> Item:
    """A sub-item of a B-TLV template (or a field of a cyclic record, tag 0)."""
    return Item(tag, name or f"{tag:02x}", title or f"{tag:02X}", length, fmt, "", _blank(fmt, length), rule=rule)


def _tpl(place: str, file_title: str, tag: int, subs: tuple[Item, ...], n: int, *, name: str = "",
         title: str = "", example: str = "", example_bytes: str = "", choice: bool = False) -> Item:
    """Record ``n`` of a B-TLV template: its value field is the sub-items' records."""
    blank = "".join(f"{s.tag:02X}{s.length:02X}" + _blank(s.fmt, s.length) for s in subs)
    base = _u(place, file_title, tag, 0, Fmt.B, n=n, choice=choice)
    return Item(tag, f"{name}_{n}" if name else base.name, f"{title}（{n}）" if title else base.title,
                sum(2 + s.length for s in subs), Fmt.B, example, example_bytes or blank, True, choice, subs=subs)


def _layout(place: str, title: str, fields: tuple[tuple[int, Fmt, Rule | None], ...]) -> Item:
    """A cyclic record's fields (length, format, rule), named by position: ``df02ef07`` fields 1, 2 …"""
    subs = tuple(_sub(0, length, fmt, f"{n}", f"{title}字段{n}", rule)
                 for n, (length, fmt, rule) in enumerate(fields, 1))
    return Item(0, place, title, sum(length for length, _, _ in fields), Fmt.B, "", "", True, subs=subs, bare=True)


# DF01 公共应用 [WAPP] [S40]: EF05 20 an 2, 21 an 80, 0E cn 3.
DF01_EF05 = (
    _it(0x20, "hukou_type", "户口性质", 2, AN, "10", "3130", rule=R.DIGITS),
    _it(0x21, "hukou_place", "户口所在地", 80, AN, "广东省广州市天河区",
        "B9E3B6ABCAA1B9E3D6DDCAD0CCECBAD3C7F8" + "00" * 62, personal=True),
    _u("df01ef05", "户籍", 0x0E, 3, CN),
)
# EF06 23 an 80, 24 cn 3, 28 an 15, 2C an 50, 2D an 15 [WAPP] [S40]; names [S41] (a 2.0 card's 常住所在地地址,
# 常住所在地行政区划代码, 联系电话, 联系人（监护人）姓名, 联系人（监护人）电话).
DF01_EF06 = (
    _it(0x23, "residence_address", "常住所在地地址", 80, AN, "广州市天河区体育西路1号", GBK_ADDRESS + "00" * 57,
        personal=True),
    _it(0x24, "residence_region", "常住地行政区划代码", 3, CN, "440106", "440106", rule=R.REGION),
    _it(0x28, "phone", "联系电话", 15, AN, "13800138000", "3133383030313338303030" + "00" * 4, personal=True,
        rule=R.PHONE),
    _it(0x2C, "guardian_name", "联系人（监护人）姓名", 50, AN, "陈大文", "B3C2B4F3CEC4" + "00" * 44, personal=True),
    _it(0x2D, "guardian_phone", "联系人（监护人）电话", 15, AN, "020-12345678",
        "3032302D3132333435363738" + "00" * 3, personal=True, rule=R.PHONE),
)
# EF07 29 an 1 [WAPP] ([S40] adds 2A, which both sources put in EF15: the profile keeps it there); EF08 2B an 1;
# EF09 2E an 70, 30 an 9, 32 an 2; EF0A 37 an 3, 38 an 2, 39 cn 4; EF15 2A cn 1 and three records of template
# 40 (57 an 3, 58 cn 3, 59 an 40) [WAPP TLV tlv[3]] [S40 "40,B-TLV(…),34,3,1"]. The items of EF07 and EF08 are
# named after their files (S1), their only items.
DF01_EF07 = (_it(0x29, "personal_status", "个人状况", 1, AN, "", "00", personal=True),)
DF01_EF08 = (_it(0x2B, "marital_status", "婚姻状况", 1, AN, "", "00", personal=True),)
DF01_EF09 = tuple(_u("df01ef09", "人员身份及就业单位", tag, length, AN) for tag, length in ((0x2E, 70), (0x30, 9),
                                                                                        (0x32, 2)))
DF01_EF0A = (
    _it(0x37, "nationality", "国籍", 3, AN, "CHN", "43484E", rule=R.NATIONALITY_CODE),
    _it(0x38, "political_status", "政治面貌", 2, AN, "13", "3133", rule=R.POLITICAL),
    _u("df01ef0a", "国籍及政治面貌", 0x39, 4, CN),
)
_DF01_40 = (_sub(0x57, 3, AN), _sub(0x58, 3, CN), _sub(0x59, 40, AN))
DF01_EF15 = (
    _u("df01ef15", "学历", 0x2A, 1, CN),
    _tpl("df01ef15", "学历", 0x40, _DF01_40, 1, example="123,112233,广州市,",
         example_bytes="5703313233" "5803112233" "5928" "B9E3D6DDCAD0" + "00" * 34),
    *(_tpl("df01ef15", "学历", 0x40, _DF01_40, n) for n in (2, 3)),
)
RESERVED_SIZE = 0x128   # DF01 EF16–EF1A: transparent files of 0x128 bytes [S40 "-,b,128", lengths in hex]

# DF02 就业与失业 [WAPP] [S40]: EF05 42 an 3, 41 an 3, two records of template 43 (5A an 7, 5B an 1, 5C an 70,
# 5D cn 4, 5E an 16) and two of 44 (33 an 3, 34 an 70, 35 cn 4, 36 an 16) [S40; S15 "DF02EF05|42|41|43:01|43:02|"].
_DF02_43 = (_sub(0x5A, 7, AN), _sub(0x5B, 1, AN), _sub(0x5C, 70, AN), _sub(0x5D, 4, CN, rule=R.DATE),
            _sub(0x5E, 16, AN))
_DF02_44 = (_sub(0x33, 3, AN), _sub(0x34, 70, AN), _sub(0x35, 4, CN, rule=R.DATE), _sub(0x36, 16, AN))
DF02_EF05 = (
    _u("df02ef05", "职业和专业技能", 0x42, 3, AN),
    _u("df02ef05", "职业和专业技能", 0x41, 3, AN),
    _tpl("df02ef05", "职业和专业技能", 0x43, _DF02_43, 1),
    _tpl("df02ef05", "职业和专业技能", 0x43, _DF02_43, 2),
    _tpl("df02ef05", "职业和专业技能", 0x44, _DF02_44, 1),
    _tpl("df02ef05", "职业和专业技能", 0x44, _DF02_44, 2),
)
# EF06 4C cn 4, 4B an 5, 4D cn 3, 60 cn 4, 4F an 6, 50 cn 3, 3A an 7; EF07 cyclic, 4 records of an 7, cn 4,
# cn 4, an 70 (85 bytes); EF09 55 an 16, 56 an 70, 96 cn 4, 97 cn 3; EF15 four records of template 99 (10 an 3,
# 11 cn 4, 12 cn 3), then 0F cn 4, 1F cn 3; EF16 cyclic, 4 records of an 3, cn 4, cn 4, cn 4, cn 3 (18 bytes).
DF02_EF06 = tuple(_u("df02ef06", "就业状况", tag, length, fmt) for tag, length, fmt in (
    (0x4C, 4, CN), (0x4B, 5, AN), (0x4D, 3, CN), (0x60, 4, CN), (0x4F, 6, AN), (0x50, 3, CN), (0x3A, 7, AN)))
DF02_EF07_LAYOUT = _layout("df02ef07", "就业记录", ((7, AN, None), (4, CN, R.DATE), (4, CN, R.DATE), (70, AN, None)))
DF02_EF09 = tuple(_u("df02ef09", "就业失业登记证", tag, length, fmt) for tag, length, fmt in (
    (0x55, 16, AN), (0x56, 70, AN), (0x96, 4, CN), (0x97, 3, CN)))
_DF02_99 = (_sub(0x10, 3, AN), _sub(0x11, 4, CN, rule=R.DATE), _sub(0x12, 3, CN))
DF02_EF15 = (
    *(_tpl("df02ef15", "就业援助对象认定", 0x99, _DF02_99, n) for n in (1, 2, 3, 4)),
    _u("df02ef15", "就业援助对象认定", 0x0F, 4, CN),
    _u("df02ef15", "就业援助对象认定", 0x1F, 3, CN),
)
DF02_EF16_LAYOUT = _layout("df02ef16", "就业扶持政策享受", ((3, AN, None), (4, CN, R.DATE), (4, CN, R.DATE),
                                                          (4, CN, R.DATE), (3, CN, None)))

# DF03 社会保险1 [WAPP] [S40]: EF05 61 cn 3, 60 cn 4, 98 cn 4, 62 cn 4, 63–66 an 3.
DF03_EF05 = (
    _it(0x61, "unemployment_status", "失业保险参保状态", 3, CN, "01", "01FFFF"),
    _u("df03ef05", "失业保险", 0x60, 4, CN),
    _it(0x98, "unemployment_start", "失业保险参保日期", 4, CN, "20150701", "20150701", rule=R.DATE),
    _it(0x62, "unemployment_org", "失业保险经办机构", 4, CN, "44010001", "44010001"),
    *(_u("df03ef05", "失业保险", tag, 3, AN) for tag in (0x63, 0x64, 0x65, 0x66)),
)
# EF06 45 an 20, 46 an 2, 47 an 2, 48 an 1, 49 an 1, 67 cn 4, 6B an 60, then three records of template 4A
# (13 an 2, 14 an 1, 15 an 20, 16 cn 4, 17 an 60) [WAPP records 8–10] [S40 "4A,B-TLV(…),61,3,7"].
_DF03_4A = (_sub(0x13, 2, AN), _sub(0x14, 1, AN), _sub(0x15, 20, AN), _sub(0x16, 4, CN, rule=R.DATE),
            _sub(0x17, 60, AN))
DF03_EF06 = (
    *(_u("df03ef06", "劳动能力鉴定", tag, length, fmt) for tag, length, fmt in (
        (0x45, 20, AN), (0x46, 2, AN), (0x47, 2, AN), (0x48, 1, AN), (0x49, 1, AN), (0x67, 4, CN), (0x6B, 60, AN))),
    *(_tpl("df03ef06", "劳动能力鉴定", 0x4A, _DF03_4A, n) for n in (1, 2, 3)),
)
# EF07 70 an 3, 71 cn 3, 6E, 6C, 6F, 73 cn 4; EF15 7A cn 3, 7B cn 4, 7C cn 4; EF16 51 cn 3, 5F an 1; EF17 3B an 20,
# 3C an 70, 3D an 1, 3E cn 4, 3F an 60; EF18 74 an 3, 75 cn 3, 76 cn 1, 77 cn 4, 78 cn 4. EF17 and EF18 have no
# title in the sources (titles: profile choice).
DF03_EF07 = tuple(_u("df03ef07", "养老保险", tag, length, fmt) for tag, length, fmt in (
    (0x70, 3, AN), (0x71, 3, CN), (0x6E, 4, CN), (0x6C, 4, CN), (0x6F, 4, CN), (0x73, 4, CN)))
DF03_EF15 = tuple(_u("df03ef15", "工伤保险", tag, length, CN) for tag, length in ((0x7A, 3), (0x7B, 4), (0x7C, 4)))
DF03_EF16 = (_u("df03ef16", "生育保险", 0x51, 3, CN), _u("df03ef16", "生育保险", 0x5F, 1, AN))
DF03_EF17 = tuple(_u("df03ef17", "社会保险1文件17", tag, length, fmt, choice=True) for tag, length, fmt in (
    (0x3B, 20, AN), (0x3C, 70, AN), (0x3D, 1, AN), (0x3E, 4, CN), (0x3F, 60, AN)))
DF03_EF18 = tuple(_u("df03ef18", "社会保险1文件18", tag, length, CN if tag != 0x74 else AN, choice=True)
                  for tag, length in ((0x74, 3), (0x75, 3), (0x76, 1), (0x77, 4), (0x78, 4)))
# EF19 参保地信息: four records of template 79 (18 an 3, 19 cn 3, 1A cn 4, 1B cn 4, 1C cn 4, 1D an 3, 1E cn 4;
# 39 bytes) [WAPP iReadBTLV("EF19", 0x79, 0x27, …) and its writes to records 1–4] [S40; its 75–78 after the
# template repeat EF18's list and are left out]; read after VERIFY (a7082633/HDOS_VC6 湖州/ICCInter2/ICCInter.cpp:
# 00A4010002DF03, VERIFY, 00A4000002EF19, 00B2790029).
_DF03_79 = (_sub(0x18, 3, AN), _sub(0x19, 3, CN), _sub(0x1A, 4, CN, rule=R.DATE), _sub(0x1B, 4, CN, rule=R.DATE),
            _sub(0x1C, 4, CN), _sub(0x1D, 3, AN), _sub(0x1E, 4, CN, rule=R.DATE))
DF03_EF19 = (
    _tpl("df03ef19", "参保地信息", 0x79, _DF03_79, 1, name="insurance_region", title="参保地信息",
         example="123,440100,20150701,20250630,12345,110,20150701,",
         example_bytes="1803313233" "1903440100" "1A0420150701" "1B0420250630" "1C0412345FFF" "1D03313130"
                       "1E0420150701"),
    *(_tpl("df03ef19", "参保地信息", 0x79, _DF03_79, n, name="insurance_region", title="参保地信息")
      for n in (2, 3, 4)),
)

# DF05 人事人才 (AID D15600000504, S2) and DF06: tags from [S15]'s pFileAddr lists only (DF05EF05 A0 A1 B9 A2 A9
# A3:01–A3:03 BA; DF06EF05 C0 C2 C3:01 C4:01 C5:01; DF06EF06 C6 C8–E2); formats and lengths (an, 16 bytes) and
# A3's three records: the profile's choice.
DF05_EF05 = (
    *(_u("df05ef05", "人事人才", tag, 16, AN, choice=True) for tag in (0xA0, 0xA1, 0xB9, 0xA2, 0xA9)),
    *(_u("df05ef05", "人事人才", 0xA3, 16, AN, n=n, choice=True) for n in (1, 2, 3)),
    _u("df05ef05", "人事人才", 0xBA, 16, AN, choice=True),
)
DF06_EF05 = tuple(_u("df06ef05", "DF06文件05", tag, 16, AN, choice=True) for tag in (0xC0, 0xC2, 0xC3, 0xC4, 0xC5))
DF06_EF06 = tuple(_u("df06ef06", "DF06文件06", tag, 16, AN, choice=True) for tag in (0xC6, *range(0xC8, 0xE3)))

# DF07 [S40] (its files also in [S15]'s lists): EF05 F0 an 2, F1 an 1, F2 cn 4, F3 an 3, F4 cn 4; EF06 F5 an 3,
# F6 cn 4, F7 an 70; EF07 F8 cn 4, F9 an 1. The DF's purpose and its files' titles are not in the sources (choice).
DF07_EF05 = tuple(_u("df07ef05", "DF07文件05", tag, length, fmt) for tag, length, fmt in (
    (0xF0, 2, AN), (0xF1, 1, AN), (0xF2, 4, CN), (0xF3, 3, AN), (0xF4, 4, CN)))
DF07_EF06 = tuple(_u("df07ef06", "DF07文件06", tag, length, fmt) for tag, length, fmt in (
    (0xF5, 3, AN), (0xF6, 4, CN), (0xF7, 70, AN)))
DF07_EF07 = (_u("df07ef07", "DF07文件07", 0xF8, 4, CN), _u("df07ef07", "DF07文件07", 0xF9, 1, AN))

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
              stk_index: int, *, reads: tuple[tuple[str, int, int, int], ...] = (),
              choices: tuple[str, ...] = ()) -> tuple[KeySpec, ...]:
    """An application DF's keys: its read key RK (then other read keys), its update keys, and its STK (choice).
    Keys named in ``choices`` have a key ID or PSAM address the sources do not give."""
    rk_id, rk_p2 = read
    keys = [_k(f"{df}.RK", rk_id, KeyUse.EXTERNAL, 0x67, rk_p2, choice="RK" in choices)]
    keys += [_k(f"{df}.{name}", key_id, KeyUse.EXTERNAL, p1, p2, choice=name in choices)
             for name, key_id, p1, p2 in (*reads, *updates)]
    keys.append(_k(f"{df}.STK", 0x02, KeyUse.MAC, 0x48, stk_index, choice=True))
    return tuple(keys)


# [WAPP] DF01: read RK1 = key 88 (PSAM 67 2E); writes EF05 UK1 = 83 (48 42), EF07 and EF09 UK2 = 84 (48 43), EF08
# UK3 = 85 (47 24), EF06 UK4 = 86 (47 25), EF0A UK5 = 87 (48 44), EF15 UK6 = 89 (47 2F); EF16–EF1A, which S34 reads
# without a key, are written with UK7 (choice). DF02: RK1 = 88 (67 35); EF06 UK2 = 84 (48 45), EF07 UK3 = 85
# (48 46), EF09 UK4 = 86 (47 27), EF15 UK5 = 87 (47 28), EF16 UK6 = 89 (47 36); EF05, which WAPP does not write,
# with UK1 (choice). DF03: RK1 = 84 (67 2B), and EF05 also wants RK2 = 85 (67 2C; S34 reads DF03 EF05 with
# 01962C, everything else of DF03 with 01932B); writes EF05 UK1 = 86 (48 47), EF06 UK2 = 87 (47 29), EF07 UK3 = 88
# (48 48), EF15 UK4 = 89 (47 37), EF16 UK5 = 8A (47 38), EF17 UK6 = 8B (47 39), EF18 UK7 = 8C (47 3A), EF19 UK8 = 8D
# (47 3B). DF04: RK1 = 84 (67 2D); its writes are MAC'd under its STK (choice). DF07: one read key per file, PSAM
# P2 3D, 3F and B1 (the last byte of S34's 007A3D, 00803F and 0086B1; key IDs and P1: choice). DF05, DF06, DF07
# update keys and every DF05/DF06 key: choice.
DF01_KEYS = _app_keys("DF01", (0x88, 0x2E), (
    ("UK1", 0x83, 0x48, 0x42), ("UK2", 0x84, 0x48, 0x43), ("UK3", 0x85, 0x47, 0x24), ("UK4", 0x86, 0x47, 0x25),
    ("UK5", 0x87, 0x48, 0x44), ("UK6", 0x89, 0x47, 0x2F), ("UK7", 0x8A, 0x48, 0x55)), 0x31, choices=("UK7",))
DF02_KEYS = _app_keys("DF02", (0x88, 0x35), (
    ("UK1", 0x83, 0x48, 0x56), ("UK2", 0x84, 0x48, 0x45), ("UK3", 0x85, 0x48, 0x46), ("UK4", 0x86, 0x47, 0x27),
    ("UK5", 0x87, 0x47, 0x28), ("UK6", 0x89, 0x47, 0x36)), 0x32, choices=("UK1",))
DF03_KEYS = _app_keys("DF03", (0x84, 0x2B), (
    ("UK1", 0x86, 0x48, 0x47), ("UK2", 0x87, 0x47, 0x29), ("UK3", 0x88, 0x48, 0x48), ("UK4", 0x89, 0x47, 0x37),
    ("UK5", 0x8A, 0x47, 0x38), ("UK6", 0x8B, 0x47, 0x39), ("UK7", 0x8C, 0x47, 0x3A), ("UK8", 0x8D, 0x47, 0x3B)),
    0x33, reads=(("RK2", 0x85, 0x67, 0x2C),))
# DF04 also holds the purse keys of docs/sources.md §4.2 ("DSK", the medical purse key): the purchase key DPK
# (key index 01 as in the PBOC examples; its PSAM address: 2 levels, usage 2 purchase, index = key version) and
# the TAC key DTK (no PSAM holds it; its address only names it to the HSM). IDs and addresses: choice.
DF04_KEYS = _app_keys("DF04", (0x84, 0x2D), (), 0x34) + (
    _k("DF04.DPK", 0x01, KeyUse.PURCHASE, 0x40 | USAGE_PURCHASE, 0x01, choice=True),
    _k("DF04.DTK", 0x03, KeyUse.TAC, 0x44, 0x01, choice=True),
)
DF05_KEYS = _app_keys("DF05", (0x88, 0x50), (("UK1", 0x83, 0x48, 0x51),), 0x35, choices=("RK", "UK1"))
DF06_KEYS = _app_keys("DF06", (0x88, 0x52), (("UK1", 0x83, 0x48, 0x53),), 0x36, choices=("RK", "UK1"))
DF07_KEYS = _app_keys("DF07", (0x88, 0x3D), (("UK1", 0x83, 0x48, 0x54),), 0x37,
                      reads=(("RK2", 0x89, 0x67, 0x3F), ("RK3", 0x8A, 0x67, 0xB1)), choices=("RK", "RK2", "RK3", "UK1"))

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

    def rec(fid: int, title: str, items: tuple[Item, ...], read: Access, update: Access) -> RecordFile:
        return RecordFile(fid, fid & 0x1F, f"EF{fid & 0xFF:02X}", title, items, read, update)

    def cyclic(fid: int, title: str, layout: Item, read: Access, update: Access, records: int) -> RecordFile:
        return RecordFile(fid, fid & 0x1F, f"EF{fid & 0xFF:02X}", title, (), read, update, cyclic_records=records,
                          record_size=layout.length, layout=layout)

    reserved = tuple(BinaryFile(fid, fid & 0x1F, f"EF{fid & 0xFF:02X}", "预留", RESERVED_SIZE, FREE,
                                uk(DF01_KEYS, "UK7"), True) for fid in range(0xEF16, 0xEF1B))
    return (
        DFSpec("DF01", "公共应用", RID + b"\x00", 0xDF01, (
            rec(0xEF05, "户籍", DF01_EF05, rk(DF01_KEYS), uk(DF01_KEYS, "UK1")),
            rec(0xEF06, "常住地及通讯", DF01_EF06, rk(DF01_KEYS), uk(DF01_KEYS, "UK4")),
            rec(0xEF07, "个人状况", DF01_EF07, rk(DF01_KEYS), uk(DF01_KEYS, "UK2")),
            rec(0xEF08, "婚姻状况", DF01_EF08, rk(DF01_KEYS), uk(DF01_KEYS, "UK3")),
            rec(0xEF09, "人员身份及就业单位", DF01_EF09, rk(DF01_KEYS), uk(DF01_KEYS, "UK2")),
            rec(0xEF0A, "国籍及政治面貌", DF01_EF0A, rk(DF01_KEYS), uk(DF01_KEYS, "UK5")),
            rec(0xEF15, "学历", DF01_EF15, rk(DF01_KEYS), uk(DF01_KEYS, "UK6")),
            *reserved,
        ), DF01_KEYS),
        DFSpec("DF02", "就业与失业", RID + b"\x01", 0xDF02, (
            rec(0xEF05, "职业和专业技能", DF02_EF05, rk(DF02_KEYS), uk(DF02_KEYS, "UK1")),
            rec(0xEF06, "就业状况", DF02_EF06, rk(DF02_KEYS), uk(DF02_KEYS, "UK2")),
            cyclic(0xEF07, "就业记录", DF02_EF07_LAYOUT, rk(DF02_KEYS), uk(DF02_KEYS, "UK3"), 4),
            rec(0xEF09, "就业失业登记证", DF02_EF09, rk(DF02_KEYS), uk(DF02_KEYS, "UK4")),
            rec(0xEF15, "就业援助对象认定", DF02_EF15, rk(DF02_KEYS), uk(DF02_KEYS, "UK5")),
            cyclic(0xEF16, "就业扶持政策享受", DF02_EF16_LAYOUT, rk(DF02_KEYS), uk(DF02_KEYS, "UK6"), 4),
        ), DF02_KEYS),
        DFSpec("DF03", "社会保险1", RID + b"\x02", 0xDF03, (
            rec(0xEF05, "失业保险", DF03_EF05, uk(DF03_KEYS, "RK2"), uk(DF03_KEYS, "UK1")),
            rec(0xEF06, "劳动能力鉴定", DF03_EF06, rk(DF03_KEYS), uk(DF03_KEYS, "UK2")),
            rec(0xEF07, "养老保险", DF03_EF07, rk(DF03_KEYS), uk(DF03_KEYS, "UK3")),
            rec(0xEF15, "工伤保险", DF03_EF15, rk(DF03_KEYS), uk(DF03_KEYS, "UK4")),
            rec(0xEF16, "生育保险", DF03_EF16, rk(DF03_KEYS), uk(DF03_KEYS, "UK5")),
            rec(0xEF17, "社会保险1文件17", DF03_EF17, rk(DF03_KEYS), uk(DF03_KEYS, "UK6")),
            rec(0xEF18, "社会保险1文件18", DF03_EF18, rk(DF03_KEYS), uk(DF03_KEYS, "UK7")),
            rec(0xEF19, "参保地信息", DF03_EF19, PIN, uk(DF03_KEYS, "UK8")),
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
        DFSpec("DF05", "人事人才", RID + b"\x04", 0xDF05, (
            rec(0xEF05, "人事人才", DF05_EF05, rk(DF05_KEYS), uk(DF05_KEYS, "UK1")),
        ), DF05_KEYS),
        DFSpec("DF06", "DF06", RID + b"\x05", 0xDF06, (
            rec(0xEF05, "DF06文件05", DF06_EF05, rk(DF06_KEYS), uk(DF06_KEYS, "UK1")),
            rec(0xEF06, "DF06文件06", DF06_EF06, rk(DF06_KEYS), uk(DF06_KEYS, "UK1")),
        ), DF06_KEYS),
        DFSpec("DF07", "DF07", RID + b"\x06", 0xDF07, (
            rec(0xEF05, "DF07文件05", DF07_EF05, rk(DF07_KEYS), uk(DF07_KEYS, "UK1")),
            rec(0xEF06, "DF07文件06", DF07_EF06, uk(DF07_KEYS, "RK2"), uk(DF07_KEYS, "UK1")),
            rec(0xEF07, "DF07文件07", DF07_EF07, uk(DF07_KEYS, "RK3"), uk(DF07_KEYS, "UK1")),
        ), DF07_KEYS),
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
