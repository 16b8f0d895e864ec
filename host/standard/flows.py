"""Flow pieces of the standard interface shared by the PSAM and HSM paths (docs/sources.md §5.3, §5.4, §6.2)."""
from __future__ import annotations

from protocols.atr import historical_bytes

from host import errors as E
from host.card import SSCard
from host.standard.formats import CardInfo, FileRef, check_no_separators, join_fields
from host.standard.pinpad import HolderPin, PinPrompt, ask_pin
from host.terminal import Terminal
from protocols.errors import NoPsam
from protocols.item_checks import CHARSET, LENGTH, VALUE, ItemValueError
from protocols.profile import Cond, DFSpec, EF, Item, RecordFile, normalise_version


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
        if cond in (Cond.PIN, Cond.PIN_AND_KEY) or (cond is Cond.PIN_OR_KEY and self.term.psam is None):
            self.verify_pin()
        if cond in (Cond.KEY, Cond.PIN_AND_KEY) or (cond is Cond.PIN_OR_KEY and self.term.psam is not None):
            if key_id is not None and (df.name, key_id) not in self.done:
                authenticate_terminal(self.term, key_id)
                self.done.add((df.name, key_id))


def refuse_blocked(card: SSCard) -> None:
    """-52 before asking for a PIN the card would refuse anyway."""
    if card.pin_tries_left() == 0:
        raise E.PinBlocked()
