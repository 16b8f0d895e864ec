"""Personalisation: build card and PSAM images from a person's record and an issuer key set, and write them.

ATR and card identification code: docs/design.md §3, docs/sources.md §4.7–4.8. Card keys are diversified
root → province → city → card; a PSAM holds each key at the level its address implies (docs/design.md §3).
gen2 and gen3 cards also get the co-branded bank application (``firmware_sim.apps.bank``) with invented,
test-only data: docs/design.md §3.2. gen3 cards get the PKI application (``firmware_sim.apps.pki``): a signing
key the card generates and a certificate of the test CA for it (``firmware_sim.issuance.pki``, docs/design.md §3.4).
"""
from __future__ import annotations

import datetime as _dt
import functools
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from firmware_sim.apps.base import AppData
from firmware_sim.apps.bank import TEST_BIN, BankData
from firmware_sim.image import (ACTIVE, CardImage, DFState, KeyState, PurseState, atomic_write, dumps,
                                remove_stale_temporaries)
from firmware_sim.issuance import pki as pki_issuance
from firmware_sim.issuance.ca import TestCA
from firmware_sim.psam_image import PsamImage, PsamKey
from protocols import crypto
from protocols.atr import historical_bytes
from protocols import emv
from protocols.codecs import Fmt, encode_cn
from protocols.crypto import Alg
from protocols.item_checks import REGION, check_value
from protocols.keys import IssuerKeys, test_issuer_keys
from protocols.profile import (PHOTO_SIZE, PSAM_KEYS, RID, BinaryFile, CardProfile, Item, RecordFile,
                               profile as get_profile)

ATR_PREFIX = bytes.fromhex("3B6D0000")   # TS, T0 (TB1, TC1, 13 historical bytes), TB1, TC1
CHIP_MAKER = bytes.fromhex("0081")       # docs/sources.md §4.8: 0081 Huada
COS_INFO = bytes.fromhex("4E4323")
CARD_MAKER = bytes.fromhex("8697")

REQUIRED = ("name", "ssn", "card_number")
BANK_PROFILES = ("gen2", "gen3")      # the generations that carry the co-branded bank application
BANK_HOLDER = "bank_holder_name"     # the person's name on the bank application (5F20), e.g. "CHEN/XIAOMING"
NO_BANK_HOLDER = " /"                # 5F20 of a card issued without one (choice: docs/design.md §3)


def build_atr(region: str, serial: bytes, chip: bytes = CHIP_MAKER, cos: bytes = COS_INFO,
              maker: bytes = CARD_MAKER) -> bytes:
    """``3B 6D 00 00`` ‖ chip maker (2) ‖ COS (3) ‖ card maker (2, first byte 86) ‖ region (2 bytes BCD, its
    first 4 digits) ‖ serial (4) — the last 4 bytes are also the first 4 serial bytes of the card ID code,
    as on real cards (docs/design.md §3 "ATR")."""
    if len(serial) != 4 or len(chip) != 2 or len(cos) != 3 or len(maker) != 2:
        raise ValueError("ATR fields: chip 2, COS 3, card maker 2, serial 4 bytes")
    return ATR_PREFIX + chip + cos + maker + encode_cn(region[:4], 2) + serial


def card_id_code(alg: Alg, irk_card_key: bytes, region: str, atr: bytes) -> bytes:
    """Region BCD (3) ‖ D1 56 00 00 05 ‖ last 4 ATR bytes ‖ MAC over the first 12 bytes (docs/sources.md §4.7)."""
    head = encode_cn(region, 3) + RID + historical_bytes(atr)[-4:]
    return head + crypto.mac(alg, irk_card_key, head)


@functools.lru_cache(maxsize=4)
def _card_dates(today: _dt.date) -> tuple[str, str]:
    """Default issue and expiry dates (YYYYMMDD) of a card issued ``today``: valid ten years."""
    expiry = today.replace(year=today.year + 10).strftime("%Y%m%d") if not (
        today.month == 2 and today.day == 29) else f"{today.year + 10}0228"
    return today.strftime("%Y%m%d"), expiry


def _values(prof: CardProfile, person: Mapping[str, str], region: str, card_id: bytes) -> dict[str, str]:
    issue_date, expiry_date = _card_dates(_dt.date.today())
    values = {
        "card_type": "3",
        "spec_version": prof.card_version,
        "init_org": region + "0" * 17 + "1",
        "issue_date": issue_date,
        "expiry_date": expiry_date,
        "name_ext": "",
        "sex": "1",
        "ethnicity": "01",
        "birthplace": region,
        "first_region": region,
    }
    ssn = person.get("ssn", "")
    if len(ssn) == 18:
        values["birth_date"] = ssn[6:14]
        values["sex"] = "1" if ssn[16].isdigit() and int(ssn[16]) % 2 else "2"
    values.update({k: v for k, v in person.items() if v is not None})
    values["card_id"] = card_id.hex().upper()
    return values


@functools.lru_cache(maxsize=8)
def _record_items(profile: str) -> dict[str, Item]:
    """The record items of a profile, by name (item names are unique across a profile's files)."""
    prof = get_profile(profile)
    return {it.name: it for df in prof.dfs for ef in df.files if isinstance(ef, RecordFile) for it in ef.items}


def validate_person(person: Mapping[str, str], profile: str = "gen2") -> None:
    """Raise ValueError (``ItemValueError`` for a value) naming the first problem of a person's record: a
    required item missing, or a value its item does not take (``Item.check``: dates, codes, the ID number's
    check character, length and characters)."""
    for name in REQUIRED:
        if not person.get(name):
            raise ValueError(f"{name} is required")
    items = _record_items(profile)
    for name, value in person.items():
        item = items.get(name)
        if item is not None and value is not None:
            item.check(value)


def check_region(region: str) -> None:
    """The card's region: a 6-digit GB/T 2260 code (``ItemValueError`` naming ``region`` if not)."""
    check_value("region", Fmt.CN, 3, REGION, region)


@functools.lru_cache(maxsize=4096)   # items are frozen and hashable; most values repeat on every card
def _encode_record(item: Item, value: str, pad: int = 0x00) -> bytes:
    """``item.encode_record(value, pad)``, with the item's name in the error."""
    try:
        return item.encode_record(value, pad)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{item.name}: {exc}") from None


def bank_pan(serial: int) -> str:
    """The card number of the card with ATR serial ``serial``: the test BIN ‖ 00 ‖ the serial in 10 digits ‖ the
    Luhn check digit (19 digits, as UnionPay debit card numbers have; distinct serials give distinct numbers)."""
    body = TEST_BIN + "00" + f"{serial:010d}"
    return body + emv.luhn_check_digit(body)


def bank_data(person: Mapping[str, str], serial: int, issue_date: str, expiry_date: str) -> BankData:
    """The bank application's data for ``person``: invented and test-only (a card number on the test BIN); dated
    like the social security application; the holder's name from ``bank_holder_name`` (EMV ans, e.g.
    "CHEN/XIAOMING"), else none (" /")."""
    holder = person.get(BANK_HOLDER) or NO_BANK_HOLDER
    if not (2 <= len(holder) <= 26 and all(" " <= c <= "~" for c in holder)):
        raise ValueError(f"{BANK_HOLDER}: expected 2 to 26 printable ASCII characters (EMV tag 5F20), "
                         "e.g. CHEN/XIAOMING")
    if not all(date.startswith("20") for date in (issue_date, expiry_date)):
        raise ValueError("the bank application dates its card within 2000-2099 (EMV YYMMDD): issue and expiry "
                         "dates outside those years need a card without it (--no-bank)")
    data = BankData(pan=bank_pan(serial), pan_sequence="01", effective_date=issue_date[2:],
                    expiry_date=expiry_date[2:], holder_name=holder)
    data.check("bank application")
    return data


def new_card(person: Mapping[str, str], *, profile: str = "gen2", region: str = "440100", serial: int = 1,
             issuer: IssuerKeys | None = None, pin: str = "", photo: bytes = b"", note: str = "",
             bank: bool | None = None, pki: bool | None = None, ca: TestCA | None = None,
             purse_balance: int = 0) -> CardImage:
    """A fresh card image for ``person`` (item values by item name, see protocols.profile). ``bank``: give the card
    the co-branded bank application (default: gen2 and gen3 cards have it; gen1 cards cannot). ``pki``: give it the
    PKI application, its key generated by the card and certified by ``ca`` (default: gen3 cards have it, with a
    certificate of the shipped test CA; other generations cannot). Every DF with a purse (DF04) gets it with
    ``purse_balance`` fen and offline counter 0 (docs/design.md §3.3)."""
    if not 0 <= purse_balance <= 0xFFFFFFFF:
        raise ValueError("purse balance: fen from 0 to 4294967295")
    prof = get_profile(profile)
    if bank is None:
        bank = profile in BANK_PROFILES
    elif bank and profile not in BANK_PROFILES:
        raise ValueError(f"{profile} cards carry no bank application (only {', '.join(BANK_PROFILES)})")
    if pki is None:
        pki = profile in pki_issuance.PROFILES
    elif pki and profile not in pki_issuance.PROFILES:
        raise ValueError(f"{profile} cards carry no PKI application (only {', '.join(pki_issuance.PROFILES)})")
    check_region(region)
    validate_person(person, profile)
    issuer = issuer or test_issuer_keys(prof.alg)
    if Alg(issuer.alg) is not prof.alg:
        raise ValueError(f"issuer keys are {Alg(issuer.alg).name}, profile {prof.name} needs {prof.alg.name}")
    if not 0 <= serial < 1 << 32:
        raise ValueError("serial must fit 4 bytes (0 to 4294967295)")
    atr = build_atr(region, serial.to_bytes(4, "big"))
    keys = issuer.card_keys(region, atr)
    card_id = card_id_code(prof.alg, keys["IRK"], region, atr)
    values = _values(prof, person, region, card_id)
    values.pop(BANK_HOLDER, None)
    pin = pin or prof.default_pin
    crypto.pin_to_bcd(pin)
    dfs: dict[str, DFState] = {}
    for spec in prof.dfs:
        records: dict[int, list[bytes]] = {}
        binaries: dict[int, bytearray] = {}
        for ef in spec.files:
            if isinstance(ef, BinaryFile):
                content = photo if ef.name == "EF08" and spec.name == "SSSE" else b""
                if len(content) > ef.size:
                    raise ValueError(f"photo of {len(content)} bytes exceeds EF08's {ef.size}")
                binaries[ef.fid] = bytearray(content.ljust(ef.size, b"\x00"))
            elif ef.cyclic_records:
                records[ef.fid] = []
            else:
                records[ef.fid] = [_encode_record(item, values.get(item.name, item.example), prof.text_pad)
                                   for item in ef.items]
        dkeys = {ks.key_id: KeyState(keys[ks.name], ks.tries, ks.tries) for ks in spec.keys}
        purse = PurseState(purse_balance, 0) if spec.purse is not None else None
        dfs[spec.name] = DFState(ACTIVE, dkeys, records, binaries, purse)
    label = note or (f"test card personalised with the {issuer.label!r} key set" if issuer.is_test_only else "")
    apps: dict[str, AppData] = {}
    if bank:
        apps["bank"] = bank_data(person, serial, values["issue_date"], values["expiry_date"])
    image = CardImage(prof, atr, region, pin, prof.pin_tries, dfs, False, label, apps)
    if pki:
        pki_issuance.add_pki(image, values, pin, issue_date=values["issue_date"], expiry_date=values["expiry_date"],
                             ca=ca)
    return image


def new_psam(region: str = "440100", terminal: str = "440100000001",
             issuers: tuple[IssuerKeys, ...] | None = None, serial: int = 1) -> PsamImage:
    """A PSAM image holding, for each algorithm given, every key a profile uses at the address and level
    production terminals address it by (protocols.profile.PSAM_KEYS)."""
    if not (len(region) == 6 and region.isascii() and region.isdigit()):
        raise ValueError(f"region {region!r} is not a 6-digit region code")
    if len(terminal) != 12 or not terminal.isascii() or not terminal.isdigit():
        raise ValueError(f"terminal number {terminal!r} is not 12 digits")
    issuers = issuers or (test_issuer_keys(Alg.DES3), test_issuer_keys(Alg.SM4))
    keys: list[PsamKey] = []
    for issuer in issuers:
        for spec in PSAM_KEYS:
            value = issuer.level_key(spec.name, region, spec.psam.levels)
            keys.append(PsamKey(Alg(issuer.alg), spec.psam.p1, spec.psam.p2, spec.name, value))
    atr = bytes.fromhex("3B6C0000") + bytes.fromhex("0090") + b"PSM" + b"\x00\x00" + serial.to_bytes(5, "big")
    return PsamImage(atr, region, terminal, keys,
                     "test PSAM with the TEST ONLY issuer keys" if all(i.is_test_only for i in issuers) else "")


# --- the photo (EF08) ---------------------------------------------------------------------------------
def read_jpeg(path: Path | str, what: str = "photo") -> bytes:
    """The bytes of the JPEG at ``path``: a regular file of at most the card's photo size (EF08) that starts
    with the SOI marker ``FF D8`` and ends with the EOI marker ``FF D9``; ``ValueError`` naming ``what`` if not.
    A FIFO or device is refused without being read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ValueError(f"{what}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{what}: cannot be read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what}: not a regular file")
        if st.st_size > PHOTO_SIZE:
            raise ValueError(f"{what}: {st.st_size} bytes; the card's photo file holds {PHOTO_SIZE}")
        data = b""
        while len(data) <= PHOTO_SIZE:
            chunk = os.read(fd, PHOTO_SIZE + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > PHOTO_SIZE:
        raise ValueError(f"{what}: more than the card's photo file holds ({PHOTO_SIZE} bytes)")
    if len(data) < 4 or data[:2] != b"\xFF\xD8" or data[-2:] != b"\xFF\xD9":
        raise ValueError(f"{what}: not a JPEG (a JPEG starts with FF D8 and ends with FF D9)")
    return data


# --- image files ----------------------------------------------------------------------------------------
def write_new_card(out: Path, person: Mapping[str, str], *, profile: str, region: str, serial: int,
                   photo: bytes = b"", pin: str = "", issuer: IssuerKeys | None = None,
                   replace: bool = True, bank: bool | None = None, pki: bool | None = None,
                   purse_balance: int = 0) -> bytes:
    """Personalise a card image to ``out`` (atomically); returns its ATR. ``replace=False``: an image already at
    ``out`` is kept and ``FileExistsError`` raised."""
    card = new_card(person, profile=profile, region=region, serial=serial, photo=photo, pin=pin, issuer=issuer,
                    bank=bank, pki=pki, purse_balance=purse_balance)
    _write_image(Path(out), dumps(card.to_json()), replace=replace)
    return card.atr


def write_new_psam(out: Path, region: str, terminal: str, issuers: tuple[IssuerKeys, ...] | None = None) -> str:
    """A PSAM image with the city keys of ``region`` to ``out`` (atomically); returns its terminal number."""
    psam = new_psam(region, terminal, issuers)
    _write_image(Path(out), dumps(psam.to_json()))
    return psam.terminal


def _write_image(out: Path, text: str, replace: bool = True) -> None:
    """Write a new image (``0600``; an existing file keeps its mode) and drop temp files of killed writes."""
    remove_stale_temporaries(out.parent, out.name)
    atomic_write(out, text, replace=replace)
