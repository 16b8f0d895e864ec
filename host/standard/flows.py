"""Flow pieces of the standard interface shared by the PSAM and HSM paths (docs/sources.md §5.3, §5.4, §6.2)."""
from __future__ import annotations

from protocols.atr import historical_bytes

from host import errors as E
from host.card import SSCard, check
from host.standard.formats import (
    CardInfo, FileRef, check_no_separators, join_fields, parse_basic_write_data, parse_card_info,
)
from host.standard.pinpad import HolderPin, PinPrompt, ask_pin
from host.terminal import Terminal
from protocols.errors import NoPsam
from protocols.item_checks import CHARSET, LENGTH, VALUE, ItemValueError
from protocols.profile import BinaryFile, Cond, DFSpec, EF, Item, RecordFile, normalise_version


def authenticate_card(term: Terminal) -> None:
    """INTERNAL AUTHENTICATE checked by the PSAM (docs/sources.md §5.3): -2201 no PSAM, -2202 no key set, -21 fails."""
    term.need_psam()
    try:
        term.authenticate_card()
    except NoPsam as exc:   # no application, or no IRK key, for the card's algorithm
        raise E.PsamLacksAlgorithm(str(exc)) from None


def authenticate_terminal(term: Terminal, key_id: int) -> None:
    """EXTERNAL AUTHENTICATE with a PSAM key; a PSAM without that key gives -2203 (docs/sources.md §5.3)."""
    term.need_psam()
    try:
        term.authenticate_terminal(key_id)
    except NoPsam as exc:
        raise E.PsamLacksReadKey(str(exc)) from None


def read_items(card: SSCard, path: str) -> dict[str, str]:
    """Every item of an SSSE record file, decoded, by name (access already satisfied)."""
    df, ef = card.profile.find_file(path)
    assert isinstance(ef, RecordFile)
    card.enter(df.name)
    return card.read_values(ef)


def ef06_read_key(card: SSCard) -> int | None:
    """The external-authentication key EF06 needs (0A on 3.0 cards), None when it is free."""
    ef06 = card.profile.ssse.ef("EF06")
    return ef06.read.key_id if ef06.read.cond in (Cond.KEY, Cond.PIN_AND_KEY) else None


def basic_info_output(card: SSCard, v05: dict[str, str], v06: dict[str, str], terminal_no: str,
                      device_no: str) -> str:
    """The iReadCardBas pOutInfo, in the order of docs/sources.md §6.2."""
    return join_fields([
        v05["card_id"][:6], v06["ssn"], v05["card_number"][:9], v05["card_id"], v06["name"] + v06.get("name_ext", ""),
        historical_bytes(card.atr).hex().upper(), normalise_version(v05["spec_version"]), v05["issue_date"], v05["expiry_date"], terminal_no,
        device_no,
    ])


def check_card_info(card: SSCard, info: CardInfo) -> None:
    """pCardInfo must name the card in the reader (-22); empty fields are not checked."""
    if not info.card_id and not info.card_number:
        return
    card.enter("SSSE")
    ef05 = card.profile.ssse.ef("EF05")
    assert isinstance(ef05, RecordFile)
    if info.card_id:
        actual = ef05.item("card_id").decode_value(card.read_item_raw(ef05, ef05.item("card_id")))
        if actual.upper() != info.card_id:
            raise E.CardInfoMismatch("pCardInfo: the card identification code is not this card's")
    if info.card_number:
        actual = ef05.item("card_number").decode_value(card.read_item_raw(ef05, ef05.item("card_number")))
        if actual[:9] != info.card_number[:9]:
            raise E.CardInfoMismatch("pCardInfo: the card number is not this card's")


def read_card_id(card: SSCard) -> str:
    """The card identification code (SSSE EF05 record 1) of the card in the slot."""
    card.enter("SSSE")
    ef05 = card.profile.ssse.ef("EF05")
    assert isinstance(ef05, RecordFile)
    item = ef05.item("card_id")
    return item.decode_value(card.read_item_raw(ef05, item))


def basic_write_plan(card: SSCard, write_data: str, card_id: str) -> list[tuple[str, Item, str]]:
    """iWriteCardBas's pWriteData (docs/sources.md §6.2) as ``(file, item, value)`` writes, every value checked
    (-41, -42, -23) before anything is written: 卡识别码 must be empty or ``card_id`` (-20 malformed, -22 another
    card's) and is never written; an empty field leaves its item as it is, except 姓名扩展, written (cleared when
    empty) whenever 姓名 is (the two make one name)."""
    fields = parse_basic_write_data(write_data)
    given = parse_card_info(f"{fields.pop(0)[2]}|").card_id
    if given and given != card_id.upper():
        raise E.CardInfoMismatch("pWriteData: the card identification code is not this card's")
    names = {name for _, name, value in fields if value}
    plan: list[tuple[str, Item, str]] = []
    for path, name, value in fields:
        if value or (name == "name_ext" and "name" in names):
            _, ef = card.profile.find_file(path)
            assert isinstance(ef, RecordFile)
            item = ef.item(name)
            check_value(item, value)
            plan.append((path, item, value))
    return plan


_BY_KIND: dict[str, type[E.InterfaceInputError]] = {
    CHARSET: E.IllegalCharacters, LENGTH: E.DataLengthError, VALUE: E.IllegalInput}


def check_value(item: Item, value: str, *, rule: bool = True) -> None:
    """A value for ``item`` before anything is written, by the items' one check (``Item.check``,
    protocols.item_checks): -41 bad characters (the interface's separators | and $ among them), -42 too long
    or short for the item, -23 not a value the item takes (a date that does not exist, a code not in its
    table, an ID number whose check character is wrong; docs/sources.md §6.3). ``rule=False`` checks only
    characters and length. Messages give positions, never the value."""
    check_no_separators(value, f"{item.title} {item.name}")
    try:
        if rule:
            item.check(value)
        else:
            item.check_format(value)
    except ItemValueError as exc:
        raise _BY_KIND[exc.kind](str(exc)) from None


def resolve(card: SSCard, ref: FileRef) -> tuple[DFSpec, EF]:
    """The profile's DF and EF for a pFileAddr segment; a file the profile lacks answers like the card: 6A82."""
    try:
        df = card.profile.df(ref.df)
        return df, df.ef(ref.ef)
    except KeyError:
        raise E.CardError(0x6A82, f"{ref.name}: no such file in profile {card.profile.name}") from None


class Access:
    """Meets read conditions within one session: PSAM external authentication per DF and key, PIN per DF.

    A PIN asked from PinEntry is asked once and kept for the other DFs of the session; on a PIN pad the holder
    types it again for each DF that needs it (the host never has it to send again)."""

    def __init__(self, term: Terminal, holder: HolderPin) -> None:
        self.term = term
        self.holder = holder
        self.pin: str | None = None
        self.done: set[tuple[str, object]] = set()

    def verify_pin(self) -> None:
        card = self.term.card
        df = card.current_df.name if card.current_df else "SSSE"
        if (df, "pin") in self.done:
            return
        pad = self.term.pin_pad()
        if pad is not None:
            refuse_blocked(card)
            self.holder.verify(card, pad)
        else:
            if self.pin is None:
                refuse_blocked(card)
                self.pin = ask_pin(self.holder.entry, PinPrompt.CURRENT)
            card.verify_pin(self.pin)
        self.done.add((df, "pin"))

    def satisfy(self, df: DFSpec, cond: Cond, key_id: int | None) -> None:
        """Meet ``cond`` in ``df``: a key already authenticated (through the PSAM, or by an HSM's answer marked in
        ``done``) also meets PIN-or-key."""
        keyed = key_id is not None and (df.name, key_id) in self.done
        use_key = cond in (Cond.KEY, Cond.PIN_AND_KEY) or (
            cond is Cond.PIN_OR_KEY and (keyed or self.term.psam is not None))
        if cond in (Cond.PIN, Cond.PIN_AND_KEY) or (cond is Cond.PIN_OR_KEY and not use_key):
            self.verify_pin()
        if use_key and key_id is not None and not keyed:
            authenticate_terminal(self.term, key_id)
            self.done.add((df.name, key_id))


def check_read_ref(ref: FileRef, ef: EF) -> None:
    """A pFileAddr segment fits its file's structure: a binary file's only item is 01 (-23), a cyclic file is read
    one record at a time (-23)."""
    if isinstance(ef, BinaryFile):
        if ref.items not in ((), ("01",)):
            raise E.IllegalInput(f"{ref.name} is a binary file: its only item is 01")
    elif ef.cyclic_records or ref.record is not None:
        if ref.record is None or not ef.cyclic_records:
            raise E.IllegalInput(f"{ref.name}: cyclic files are read one record at a time (DF04EF08:01$)")


def ref_item(ref: FileRef, ef: RecordFile, tag: str) -> Item | None:
    """The item a pFileAddr item names: ``09``, the first record of the tag (as READ RECORD by tag finds it), or
    ``79:02``, the second record of a tag that repeats (a B-TLV template's records, docs/sources.md §6.2). None for
    a tag the profile lacks; 6A83, as the card would answer, for a record the tag does not have."""
    if not any(it.tag == int(tag[:2], 16) for it in ef.items):
        return None
    try:
        return ef.lookup(tag)
    except KeyError:
        raise E.CardError(0x6A83, f"{ref.name} has no record {tag}") from None


def read_ref(term: Terminal, access: Access, ref: FileRef) -> list[str]:
    """The values of one pFileAddr segment (iReadCard's output order), its file's read condition met first. A B-TLV
    template's value is its sub-items' values, each followed by ``,``; a cyclic record's, its fields' (hex when the
    profile does not know them). A record the profile cannot cut into its sub-items is the card's fault (6F00)."""
    card = term.card
    df, ef = resolve(card, ref)
    check_read_ref(ref, ef)
    key = ef.read.key_needed
    if term.psam is not None and key is not None and (df.name, key) not in access.done:
        card.region()          # the PSAM's factors need it; reading it later would leave the file's DF
    card.enter(df.name)
    access.satisfy(df, ef.read.cond, ef.read.key_id)
    if isinstance(ef, BinaryFile):
        data = card.read_binary(ef)
        end = data.rfind(b"\xFF\xD9") if ef.name == "EF08" else -1
        return [(data[:end + 2] if end >= 0 else data.rstrip(b"\x00")).hex().upper()]
    if ef.cyclic_records:
        assert ref.record is not None
        return [card.read_cyclic(ef, ref.record)]
    tags = ref.items or tuple(ef.address(it) for it in ef.items)
    out = []
    for tag in tags:
        item = ref_item(ref, ef, tag)
        if item is None:   # not in the profile: READ RECORD by identifier, value as hex (docs/sources.md §5.4)
            rec = check(card.send(0x00, 0xB2, int(tag[:2], 16), ef.sfi << 3, le=256))
            out.append(rec[2:].hex().upper())
        else:
            out.append(card.decode(ef, item, card.read_item_raw(ef, item)))
    return out


def refuse_blocked(card: SSCard) -> None:
    """-52 before asking for a PIN the card would refuse anyway."""
    if card.pin_tries_left() == 0:
        raise E.PinBlocked()


def check_write_refs(card: SSCard, refs: list[FileRef]) -> list[tuple[DFSpec, EF, list[Item]]]:
    """The files and items a pFileAddr names for writing: items named (-23), each one the file has (6A83, as the
    card would answer). A cyclic file takes one new record, named ``:01`` (it becomes the newest: APPEND RECORD),
    when the profile knows its fields; its item is then the file's layout. A transparent file's one item is 01, its
    content in hex (``ef.content``)."""
    out: list[tuple[DFSpec, EF, list[Item]]] = []
    for ref in refs:
        df, ef = resolve(card, ref)
        if isinstance(ef, BinaryFile):
            if ref.items != ("01",):
                raise E.IllegalInput(f"{ref.name} is a binary file: its only item is 01")
            out.append((df, ef, [ef.content]))
            continue
        if ef.cyclic_records or ref.record is not None:
            if not ef.cyclic_records or ef.layout is None:
                raise E.NotSupported(f"{ref.name}: this file's records are not written by the interface")
            if ref.record != 1:
                raise E.IllegalInput(f"{ref.name}: a cyclic file takes a new record as its record 01 (DF02EF07:01$)")
            out.append((df, ef, [ef.layout]))
            continue
        if not ref.items:
            raise E.IllegalInput(f"{ref.name}: name the items to write")
        items = []
        for tag in ref.items:
            item = ref_item(ref, ef, tag)
            if item is None:
                raise E.CardError(0x6A83, f"{ref.name} has no item {tag}")
            items.append(item)
        out.append((df, ef, items))
    return out
