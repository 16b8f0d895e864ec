"""The counter terminal: a card slot and a PSAM slot, and the service flows (docs/design.md §3).

Every flow runs inside the readers' exclusive transactions and sends what production terminals send.
Card keys never reach the host: the PSAM derives them (``BF DE`` with card ‖ city [‖ province] factors
and a process factor) and computes cryptograms and MACs.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

from protocols import crypto
from protocols import purse as P
from protocols.atr import historical_bytes
from protocols.apdu import CommandAPDU
from protocols.crypto import Alg
from protocols.errors import AuthenticationFailed, CardError, NoPsam
from protocols.profile import EF, BinaryFile, Cond, DFSpec, Item, KeySpec, KeyUse, RecordFile, normalise_version

from host.bank import BankCardInfo, BankReader
from host.pki import PkiClient, Signature
from host.card import SSCard, check
from host.engine import ApduEngine, TraceHook
from host.errors import PinEntryUnavailable
from host.psam import PsamClient
from host.reader import PinPad, Reader, pin_pad_of
from protocols import pinpad
from host.separators import check_no_separators


@dataclass(frozen=True)
class BasicInfo:
    """What iReadCardBas reports (docs/sources.md §6.2), plus the rest of EF05/EF06 decoded."""

    region: str
    ssn: str
    card_number: str
    card_id: str
    name: str
    atr_historical: str
    spec_version: str
    issue_date: str
    expiry_date: str
    terminal_number: str
    card_type: str
    init_org: str
    sex: str
    ethnicity: str
    birthplace: str
    birth_date: str
    algorithm: str
    authenticated: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


#: Items a counter shows beyond iReadCardBas, by file: (pFileAddr-style path, item names).
HOLDER_ITEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SSSEEF0D", ("first_region",)),
    ("DF01EF0A", ("nationality",)),
    ("DF01EF06", ("residence_region",)),
)


@dataclass(frozen=True)
class DebitResult:
    """A purchase from the medical purse (docs/design.md §3.3): what the card and the PSAM answered. Amounts in fen;
    ``tac`` goes to the back office, which alone can check it."""

    amount: int
    balance_before: int
    balance: int
    offline_counter: int          # the card's number of this debit
    terminal_number: str
    terminal_txn: int             # the PSAM's number of this debit
    when: str                     # YYYYMMDDhhmmss
    tac: str
    mac2: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


PURSE_DF = "DF04"


@dataclass(frozen=True)
class Holder:
    """What ``sscard read`` shows: the basic information and the ``HOLDER_ITEMS`` the card let us read."""

    basic: BasicInfo
    items: dict[str, str]


@dataclass(frozen=True)
class FileValues:
    """What ``read_all`` found in one file: ``values`` as ``(address, item, value)`` (address ``09``, ``79:02``;
    ``:01`` … for the records of a cyclic file, whose item is its layout; ``01`` and the bytes used, for a binary
    file), or ``skipped``, why it was not read."""

    df: DFSpec
    ef: EF
    values: tuple[tuple[str, Item | None, str], ...] = ()
    skipped: str = ""


class Terminal:
    def __init__(self, card_reader: Reader, psam_reader: Reader | None = None,
                 trace: TraceHook | None = None, psam_trace: TraceHook | None = None,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.card_reader = card_reader
        self.psam_reader = psam_reader
        self.card = SSCard(ApduEngine(card_reader, trace))
        self.psam = PsamClient(ApduEngine(psam_reader, psam_trace or trace)) if psam_reader else None
        self._rng = rng
        self._psam_up = False

    # --- sessions ----------------------------------------------------------------------------------
    def connect(self) -> bytes:
        """Power the card (and the PSAM once); returns the card's ATR."""
        self.card.current_df = None
        atr = self.card.engine.connect()
        if self.psam is not None and not self._psam_up:
            self.psam.engine.connect()
            self.psam.powered()
            self._psam_up = True
        elif self.psam is not None:
            self.psam.lost_track()     # between sessions another program may have used it
        return atr

    def close(self) -> None:
        self.card_reader.disconnect()
        if self.psam_reader is not None:
            self.psam_reader.disconnect()
        self._psam_up = False

    @contextlib.contextmanager
    def session(self) -> Iterator[Terminal]:
        """Connect and hold both readers exclusively for one flow."""
        with self.card_reader.transaction():
            ctx = self.psam_reader.transaction() if self.psam_reader else contextlib.nullcontext()
            with ctx:
                self.connect()
                yield self

    def random(self, n: int) -> bytes:
        """``n`` random bytes of the terminal (the internal-authentication and EA data it chooses)."""
        return self._rng(n)

    def need_psam(self) -> PsamClient:
        if self.psam is None:
            raise NoPsam("this flow needs a PSAM and the terminal has none")
        return self.psam

    # --- authentication through the PSAM (docs/design.md §3 "Process key") ---------------------------
    def factors(self) -> tuple[bytes, bytes, bytes]:
        """card ‖ city ‖ province factors of the card in the slot (the region from its card ID code)."""
        return crypto.factors(self.card.region(), self.card.atr)

    def authenticate_card(self) -> None:
        """INTERNAL AUTHENTICATE with a terminal random P ‖ D, checked by the PSAM: -21 if the card is not
        genuine. The terminal chooses both halves, so a recorded answer is worth nothing."""
        psam = self.need_psam()
        alg = self.card.alg
        process, data = self._rng(8), self._rng(8)
        answer = self.card.internal_authenticate(process + data)
        psam.init_key(alg, self.card.profile.ssse.key_by_use(KeyUse.INTERNAL), self.factors(), process)
        if not crypto.equal(answer, psam.process_encrypt(alg, data)):
            raise AuthenticationFailed(0, "the card failed internal authentication (not genuine)")

    def authenticate_terminal(self, key_id: int) -> None:
        """EXTERNAL AUTHENTICATE with the current DF's key ``key_id``: the PSAM derives the process key from
        the card's challenge R and enciphers D; the card checks C = E_SK(D)."""
        psam = self.need_psam()
        df = self.card.current_df
        assert df is not None
        spec = df.key_by_id(key_id, KeyUse.EXTERNAL)
        if spec is None:
            raise ValueError(f"{df.name} has no external-authentication key {key_id:02X}")
        factors = self.factors()
        challenge = self.card.get_challenge(8)
        data = self._rng(8)
        psam.init_key(self.card.alg, spec, factors, challenge)
        cryptogram = psam.process_encrypt(self.card.alg, data)
        self.card.external_authenticate(key_id, cryptogram, data)

    def _secured(self, cla: int, ins: int, p1: int, p2: int, plain: bytes = b"",
                 encipher: bytes | None = None) -> CommandAPDU:
        """A MAC'd command: GET CHALLENGE R, ``BF DE`` with the DF's STK and R, optional enciphered LV,
        MAC over header ‖ Lc ‖ data."""
        psam = self.need_psam()
        alg = self.card.alg
        df = self.card.current_df
        assert df is not None
        factors = self.factors()
        challenge = self.card.get_challenge(8)
        psam.init_key(alg, df.key_by_use(KeyUse.MAC), factors, challenge)
        body = plain
        if encipher is not None:
            body = psam.encipher(crypto.pad80(bytes((len(encipher),)) + encipher, crypto.block_size(alg)))
        header = bytes((cla, ins, p1, p2, len(body) + 4))
        return CommandAPDU(cla, ins, p1, p2, body + psam.mac(alg, header + body))

    def _read_access(self, df_name: str, cond: Cond, key_id: int | None) -> None:
        if cond in (Cond.KEY, Cond.PIN_AND_KEY) and key_id is not None:
            self.authenticate_terminal(key_id)

    # --- flows -------------------------------------------------------------------------------------
    def read_basic_info(self, authenticate: bool | None = None) -> BasicInfo:
        """Everything in EF05 and EF06 (iReadCardBas). With a PSAM the card is authenticated first, and on
        gen3 the terminal too (RKSSSE, key 0A) before EF06 is read. Each file is read with one READ RECORD
        (all records) where the card supports it."""
        with self.session():
            return self._basic_info(authenticate)

    def read_holder(self, authenticate: bool | None = None) -> Holder:
        """The basic information and, in the same session, the other coded items a counter shows
        (``HOLDER_ITEMS``: first application region, nationality, residence region). An item whose file the
        card lacks, or that needs a key the terminal cannot use (no PSAM, ``authenticate`` False, the PSAM
        lacks the key), is left out rather than failing the read."""
        with self.session():
            basic = self._basic_info(authenticate)
            return Holder(basic, self._holder_items(basic.authenticated))

    def _basic_info(self, authenticate: bool | None) -> BasicInfo:
        card = self.card
        card.select_df("SSSE")
        ssse = card.profile.ssse
        if authenticate is None:
            authenticate = self.psam is not None
        terminal = self.psam.terminal_number() if self.psam is not None else ""
        ef05, ef06 = ssse.ef("EF05"), ssse.ef("EF06")
        assert isinstance(ef05, RecordFile) and isinstance(ef06, RecordFile)
        v05 = card.read_values(ef05)
        if authenticate:
            self.authenticate_card()
        if ef06.read.cond is not Cond.FREE:
            self._read_access("SSSE", ef06.read.cond, ef06.read.key_id)
        v06 = card.read_values(ef06)
        return BasicInfo(
            region=v05["card_id"][:6], ssn=v06["ssn"], card_number=v05["card_number"][:9],
            card_id=v05["card_id"], name=v06["name"] + v06.get("name_ext", ""),
            atr_historical=historical_bytes(card.atr).hex().upper(), spec_version=normalise_version(v05["spec_version"]), issue_date=v05["issue_date"], expiry_date=v05["expiry_date"],
            terminal_number=terminal, card_type=v05["card_type"], init_org=v05["init_org"], sex=v06["sex"],
            ethnicity=v06["ethnicity"], birthplace=v06["birthplace"], birth_date=v06["birth_date"],
            algorithm=Alg(card.alg).name, authenticated=bool(authenticate))

    def _holder_items(self, use_keys: bool) -> dict[str, str]:
        """The items of ``HOLDER_ITEMS`` this card and terminal can read, one READ RECORD each (not the whole
        file: the files hold personal items the view does not show). A DF whose selection or authentication
        failed is not tried again, so a wrong key costs the card one try at most."""
        values: dict[str, str] = {}
        given_up: set[str] = set()
        authenticated: set[int] = set()        # keys authenticated in the current DF
        for path, names in HOLDER_ITEMS:
            df, ef = self.card.profile.find_file(path)
            assert isinstance(ef, RecordFile)
            key_id = ef.read.key_id if ef.read.cond is not Cond.FREE else None
            if df.name in given_up or (key_id is not None and (not use_keys or self.psam is None)):
                continue
            try:
                if self.card.current_df is None or self.card.current_df.name != df.name:
                    authenticated.clear()      # selecting another DF resets the card's security state
                self.card.enter(df.name)
                if key_id is not None and key_id not in authenticated:
                    self._read_access(df.name, ef.read.cond, key_id)
                    authenticated.add(key_id)
            except (CardError, NoPsam, ValueError, KeyError):
                given_up.add(df.name)
                self.card.current_df = None
                continue
            for name in names:
                item = ef.item(name)
                try:
                    values[name] = item.decode_value(self.card.read_item_raw(ef, item))
                except (CardError, ValueError):
                    pass                          # the card lacks the file or the item: not shown
        return values

    def read_items(self, path: str, items: list[str] | None = None) -> dict[str, str]:
        """Items of one record file, authenticating first when its read condition needs a key."""
        with self.session():
            self.card.select_df("SSSE")
            df, ef = self.card.profile.find_file(path)
            if not isinstance(ef, RecordFile):
                raise ValueError(f"{path} is not a record file")
            if self.psam is not None and ef.read.cond is not Cond.FREE:
                self.card.region()
            self.card.enter(df.name)
            self._read_access(df.name, ef.read.cond, ef.read.key_id)
            values = self.card.read_values(ef)
            chosen = [ef.item(i).name for i in items] if items else list(values)
            return {name: values[name] for name in chosen if name in values}

    def read_all(self, pin: str | None = None, use_keys: bool = True) -> list[FileValues]:
        """Every file of every DF the card's profile has, in one session, each after its read condition: a key
        through the PSAM (once per DF and key; a key that fails, or a PSAM without it, is not tried again, so a
        wrong key costs one try at most), the PIN when ``pin`` is given (verified once per DF). A file whose
        condition cannot be met is ``skipped`` with the reason; an item the card holds in a form its layout
        cannot (a B-TLV record without its sub-items) is given as ``CardError`` text in its place."""
        out: list[FileValues] = []
        with self.session():
            card = self.card
            card.select_df("SSSE")
            if self.psam is not None and use_keys:
                card.region()
            pin_failed = False                 # a wrong PIN is tried once, not once per DF
            for df in card.profile.dfs:
                try:
                    card.select_df(df.name)
                except CardError as exc:
                    out += [FileValues(df, ef, skipped=f"DF not selectable ({exc.sw:04X})") for ef in df.files]
                    continue
                met: set[object] = set()
                failed: set[object] = {"pin"} if pin_failed else set()
                for ef in df.files:
                    reason = self._meet_read(ef, pin, use_keys, met, failed)
                    out.append(FileValues(df, ef, skipped=reason) if reason else self._read_file(df, ef))
                pin_failed = "pin" in failed
        return out

    def _meet_read(self, ef: EF, pin: str | None, use_keys: bool, met: set[object], failed: set[object]) -> str:
        """Meet ``ef``'s read condition in the current DF; "" when met, else why not."""
        cond, key_id = ef.read.cond, ef.read.key_id
        if cond is Cond.FREE:
            return ""
        if cond is Cond.NEVER:
            return "never readable"
        needs_key = cond in (Cond.KEY, Cond.PIN_AND_KEY) or (cond is Cond.PIN_OR_KEY and pin is None)
        needs_pin = cond in (Cond.PIN, Cond.PIN_AND_KEY) or (cond is Cond.PIN_OR_KEY and not needs_key)
        for what, needed in (("pin", needs_pin), (key_id, needs_key)):
            if not needed or what in met:
                continue
            if what in failed:
                return "the PIN was refused" if what == "pin" else f"key {key_id:02X} failed before in this DF"
            try:
                if what == "pin":
                    if pin is None:
                        return "needs the PIN"
                    self.card.verify_pin(pin)
                else:
                    if self.psam is None or not use_keys:
                        return f"needs key {key_id:02X} (a PSAM)"
                    assert key_id is not None
                    self.authenticate_terminal(key_id)
            except (CardError, NoPsam) as exc:
                failed.add(what)
                return str(exc) or type(exc).__name__
            met.add(what)
        return ""

    def _read_file(self, df: DFSpec, ef: EF) -> FileValues:
        card = self.card
        values: list[tuple[str, Item | None, str]] = []
        try:
            if isinstance(ef, BinaryFile):
                used = len(card.read_binary(ef).rstrip(b"\x00\xFF"))
                values.append(("01", None, f"{used} bytes"))
            elif ef.cyclic_records:
                for number in range(1, ef.cyclic_records + 1):
                    rsp = card.send(0x00, 0xB2, number, ef.sfi << 3 | 4, le=256)
                    if rsp.sw == 0x6A83:
                        break
                    raw = check(rsp)
                    text = raw.hex().upper() if ef.layout is None else self._decoded(ef, ef.layout, raw)
                    values.append((f":{number:02X}", ef.layout, text))
            else:
                for item in ef.items:
                    values.append((ef.address(item), item, self._decoded(ef, item, card.read_item_raw(ef, item))))
        except CardError as exc:
            return FileValues(df, ef, tuple(values), skipped=str(exc) or f"{exc.sw:04X}")
        return FileValues(df, ef, tuple(values))

    def _decoded(self, ef: RecordFile, item: Item, raw: bytes) -> str:
        try:
            return self.card.decode(ef, item, raw)
        except CardError as exc:
            return f"<{exc}>"

    def read_bank_card(self, contactless: bool = False) -> BankCardInfo:
        """The co-branded card's bank card number, expiry and holder name from its UnionPay application
        (``host.bank``: PSE, else PPSE, else the AIDs; GPO; the AFL's records). No PSAM is needed."""
        with self.session():
            return BankReader(self.card.engine, rng=self._rng).read(contactless)

    def read_pki_certificate(self) -> bytes:
        """The gen3 card's signing certificate (DER, file 0018 of its PKI application; ``host.pki``); b"" when the
        file holds none, ``WrongCard`` when the card has no PKI application. No PSAM is needed."""
        with self.session():
            client = PkiClient(self.card.engine)
            client.select()
            return client.certificate()

    def pki_sign(self, message: bytes, pin: str) -> Signature:
        """Sign ``message`` with the card's signing key (SM2 with SM3, Z of the card's key and the default ID)
        after VERIFY of the PKI application's user PIN (``host.pki``); ``WrongPin`` / ``PinBlocked`` on failure."""
        with self.session():
            client = PkiClient(self.card.engine)
            client.select()
            return client.sign(message, pin)

    def pki_pin_tries_left(self) -> int:
        """The PKI application's user PIN tries left (VERIFY without data)."""
        with self.session():
            client = PkiClient(self.card.engine)
            client.select()
            return client.pin_tries_left()

    def read_photo(self) -> bytes:
        """EF08 (photo, JPEG) after the read authentication it needs; b"" when the card holds no photo."""
        with self.session():
            self.card.select_df("SSSE")
            ef = self.card.profile.ssse.ef("EF08")
            assert isinstance(ef, BinaryFile)
            self._read_access("SSSE", ef.read.cond, ef.read.key_id)
            data = self.card.read_binary(ef)
        if not data.strip(b"\x00\xFF"):
            return b""                                 # never written: all 00 (or FF, the erased state)
        end = data.rfind(b"\xFF\xD9")
        return data[:end + 2] if end >= 0 else data.rstrip(b"\x00")

    def pin_pad(self) -> PinPad | None:
        """The card reader's PIN pad, None when it has none (docs/serial.md §5)."""
        return pin_pad_of(self.card_reader)

    def _pad(self, what: str) -> PinPad:
        pad = self.pin_pad()
        if pad is None:
            raise PinEntryUnavailable(f"{what}: no PIN given and the card reader has no PIN pad")
        return pad

    def verify_pin(self, pin: str | None = None, *, timeout: int = pinpad.DEFAULT_TIMEOUT) -> None:
        """VERIFY ``pin``; without one the holder types it on the card reader's PIN pad (the host never sees it;
        -32 after ``timeout`` s without a key, -31 on Cancel)."""
        with self.session():
            self.card.select_df("SSSE")
            if pin is None:
                self.card.verify_pin_on_pad(self._pad("verify"), timeout=timeout)
            else:
                self.card.verify_pin(pin)

    def pin_tries_left(self) -> int:
        with self.session():
            self.card.select_df("SSSE")
            return self.card.pin_tries_left()

    def change_pin(self, old: str | None = None, new: str | None = None, *,
                   timeout: int = pinpad.DEFAULT_TIMEOUT) -> None:
        """CHANGE PIN; without ``old`` and ``new`` the holder types both (the new one twice) on the PIN pad."""
        if (old is None) != (new is None):
            raise ValueError("give both PINs, or neither (the holder types them on the PIN pad)")
        with self.session():
            self.card.select_df("SSSE")
            if old is None or new is None:
                self.card.change_pin_on_pad(self._pad("change PIN"), timeout=timeout)
            else:
                self.card.change_pin(old, new)

    def _pin_admin(self) -> None:
        """EXTERNAL AUTHENTICATE with the PIN-management key (06), as PIN UNBLOCK and RELOAD need."""
        self.card.select_df("SSSE")
        self.authenticate_terminal(self.card.profile.pin_admin_key)

    def reload_pin(self, new: str) -> None:
        """PIN RELOAD ``84 24 00 01 Lc E(LV new PIN) ‖ MAC`` after external authentication with key 06."""
        with self.session():
            self._pin_admin()
            cmd = self._secured(0x84, 0x24, 0x00, 0x01, encipher=crypto.pin_to_bcd(new))
            check(self.card.engine.transmit(cmd), auth=True)

    def unblock_pin(self) -> None:
        """PIN UNBLOCK ``84 24 00 00 04 MAC`` after external authentication with key 06: resets the counter;
        no PIN travels."""
        with self.session():
            self._pin_admin()
            check(self.card.engine.transmit(self._secured(0x84, 0x24, 0x00, 0x00)), auth=True)

    def write_item(self, path: str, item: str | int, value: str) -> None:
        """Update one record: plain after external authentication, or CLA 04 with a MAC, as the profile says.
        The value is checked first (``Item.check``: characters, length, the item's rule); ``ItemValueError`` if bad."""
        self.write_items([(path, item, value)])

    def write_items(self, writes: Sequence[tuple[str, str | int, str]]) -> None:
        """Update records ``(file path, item, value)`` in order, in one session; the item is a tag (the first record
        with it), a name or ``tag:NN`` (``79:02``), or for a cyclic file its layout's name (a new newest record,
        APPEND RECORD). A file whose update condition is a key gets one external authentication per visit of its DF
        and key, a MAC'd file a challenge and MAC per record (CLA 04). Every value is encoded before the first
        write."""
        with self.session():
            card = self.card
            card.select_df("SSSE")
            plan: list[tuple[DFSpec, EF, Item, str]] = []
            for path, item, value in writes:
                df, ef = card.profile.find_file(path)
                if isinstance(ef, BinaryFile):
                    if item not in (ef.content.name, "01", 1):
                        raise ValueError(f"{path} is a binary file: its only item is 01")
                    it = ef.content
                elif ef.cyclic_records:
                    if ef.layout is None or item not in (ef.layout.name, "01"):
                        raise ValueError(f"{path}: a cyclic file takes a new record of its layout")
                    it = ef.layout
                else:
                    it = ef.item(item) if isinstance(item, int) else ef.lookup(item)
                check_no_separators(value, f"{it.title} {it.name}")
                it.check(value)          # the item's rule: a real date, a code of its table … (ItemValueError)
                it.encode_value(value, card.profile.text_pad)
                plan.append((df, ef, it, value))
            if self.psam is not None:
                card.region()            # the PSAM needs the card's region before another DF is entered
            authenticated: set[int] = set()
            for df, ef, it, value in plan:
                if card.current_df is None or card.current_df.name != df.name:
                    authenticated.clear()          # selecting another DF resets the card's security state
                card.enter(df.name)
                if ef.update.cond is Cond.MAC:
                    if isinstance(ef, BinaryFile):
                        raise ValueError(f"{df.name}{ef.name}: a binary file written with a MAC is not supported")
                    if ef.cyclic_records:
                        ins, p1, p2, record = 0xE2, 0x00, ef.sfi << 3, it.encode_value(value, card.profile.text_pad)
                    else:
                        ins = 0xDC
                        p1, p2, record = card.update_parts(ef, it, value)
                    check(card.engine.transmit(self._secured(0x04, ins, p1, p2, plain=record)), auth=True)
                    continue
                key_id = ef.update.key_needed
                if key_id is not None and key_id not in authenticated:
                    self.authenticate_terminal(key_id)
                    authenticated.add(key_id)
                card.update_item(ef, it, value)

    def block_application(self, permanent: bool = False, df: str = "SSSE") -> None:
        with self.session():
            self.card.select_df("SSSE")
            self.card.region()
            self.card.select_df(df)
            check(self.card.engine.transmit(self._secured(0x84, 0x1E, 0x00, int(permanent))), auth=True)

    def unblock_application(self, df: str = "SSSE", region: str | None = None) -> None:
        """APPLICATION UNBLOCK of ``df`` with a MAC from the PSAM. The MAC key is diversified by the card's
        region, which a blocked SSSE does not give (its EF05 answers 6985): then ``region`` is used, or the
        region the PSAM was issued for."""
        with self.session():
            card = self.card
            card.select_df("SSSE", allow_blocked=True)
            try:
                card.region()
            except CardError as exc:
                if exc.sw != 0x6985:
                    raise
                card.assume_region(region or self.need_psam().region())
            if df != "SSSE" or card.current_df is None or card.current_df.name != "SSSE":
                card.select_df(df, allow_blocked=True)
            check(self.card.engine.transmit(self._secured(0x84, 0x18, 0x00, 0x00)), auth=True)

    def block_card(self) -> None:
        with self.session():
            self.card.select_df("SSSE")
            check(self.card.engine.transmit(self._secured(0x84, 0x16, 0x00, 0x00)), auth=True)

    # --- the medical purse (docs/design.md §3.3) -----------------------------------------------------------
    def _purse_open(self, pin: str | None, timeout: int) -> DFSpec:
        """SELECT DF04 and VERIFY (the purse's condition; selecting a DF resets the PIN status)."""
        df = self.card.enter(PURSE_DF)
        if df.purse is None:
            raise ValueError(f"{PURSE_DF} has no purse in this profile")
        if pin is None:
            self.card.verify_pin_on_pad(self._pad("purse"), timeout=timeout)
        else:
            self.card.verify_pin(pin)
        return df

    def purse_balance(self, pin: str | None = None, *, timeout: int = pinpad.DEFAULT_TIMEOUT) -> int:
        """The purse's balance in fen: SELECT DF04, VERIFY, GET BALANCE. No PSAM is needed."""
        with self.session():
            self.card.select_df("SSSE")
            self._purse_open(pin, timeout)
            return self.card.get_balance()

    def purse_log(self, pin: str | None = None, *, timeout: int = pinpad.DEFAULT_TIMEOUT) -> list[P.LogRecord]:
        """The purse's transaction log (EF08), newest first, read after the PIN."""
        with self.session():
            self.card.select_df("SSSE")
            df = self._purse_open(pin, timeout)
            assert df.purse is not None
            ef = df.ef(df.purse.log_fid)
            assert isinstance(ef, RecordFile)
            out = []
            for raw in self.card.cyclic_records(ef):
                try:
                    out.append(P.LogRecord.parse(raw))
                except ValueError as exc:
                    raise CardError(0x6F00, f"{ef.name}: {exc}") from None
            return out

    def initialize_purchase(self, amount: int, terminal: bytes, pin: str | None = None, *,
                            timeout: int = pinpad.DEFAULT_TIMEOUT) -> tuple[KeySpec, P.InitResponse]:
        """Inside a session: SELECT DF04, VERIFY (``pin``, or the holder on the PIN pad), INITIALIZE FOR PURCHASE
        of ``amount`` fen at ``terminal`` (6 bytes). Returns the purchase key and the card's answer; the card then
        takes DEBIT FOR PURCHASE as its next command (``debit_purchase``), whoever computes MAC1."""
        if not 0 < amount <= P.MAX_AMOUNT:
            raise ValueError("the amount must be from 0.01 to 42949672.95 yuan")
        df = self._purse_open(pin, timeout)
        dpk = df.key_by_use(KeyUse.PURCHASE)
        try:
            init = self.card.initialize_purchase(dpk.key_id, amount, terminal)
        except CardError as exc:
            raise _purse_error(exc) from None
        try:
            _ = init.alg            # an algorithm id this project does not know: the card's answer is bad
        except ValueError as exc:
            raise CardError(0x6F00, str(exc)) from None
        return dpk, init

    def debit_purchase(self, terminal_txn: int, when: bytes, mac1: bytes) -> tuple[bytes, bytes]:
        """DEBIT FOR PURCHASE right after ``initialize_purchase``: (TAC, MAC2); a refused MAC1 is ``CardError``
        9302 (the card counts it), an insufficient balance 9401."""
        try:
            return self.card.debit_purchase(terminal_txn, when, mac1)
        except CardError as exc:
            raise _purse_error(exc) from None

    def debit(self, amount: int, pin: str | None = None, *, when: _dt.datetime | None = None,
              timeout: int = pinpad.DEFAULT_TIMEOUT) -> DebitResult:
        """A purchase of ``amount`` fen (the PBOC e-purse purchase, docs/design.md §3.3): SELECT SSSE (the card's
        region for the PSAM), DF04, VERIFY, INITIALIZE FOR PURCHASE, INIT SAM FOR PURCHASE (MAC1), DEBIT FOR
        PURCHASE, CREDIT SAM FOR PURCHASE (the PSAM checks MAC2). A refused MAC2 after the card debited is
        ``CardError`` 9302 with the TAC in its message: the money left the purse."""
        if not 0 < amount <= P.MAX_AMOUNT:
            raise ValueError("the amount must be from 0.01 to 42949672.95 yuan")
        stamp = P.datetime_bytes((when or _dt.datetime.now()).replace(microsecond=0))
        psam = self.need_psam()
        with self.session():
            card = self.card
            card.select_df("SSSE")
            factors = self.factors()
            terminal = psam.terminal_number()
            dpk, init = self.initialize_purchase(amount, bytes.fromhex(terminal), pin, timeout=timeout)
            levels = dpk.psam.levels
            txn, mac1 = psam.init_purchase(init.alg, P.psam_init_data(init, amount, stamp, factors[:levels]))
            tac, mac2 = self.debit_purchase(txn, stamp, mac1)
            try:
                psam.credit_purchase(mac2)
            except CardError as exc:
                raise CardError(exc.sw, f"the card debited {P.format_yuan(amount)} yuan (TAC {tac.hex().upper()}) "
                                        f"but the PSAM refused its MAC2 ({exc.sw:04X})") from None
            return DebitResult(amount, init.balance, init.balance - amount, init.offline_counter, terminal, txn,
                               stamp.hex(), tac.hex().upper(), mac2.hex().upper())


_PURSE_SW = {
    0x9401: "insufficient balance: the purse holds less than the amount (9401)",
    0x9302: "the card refused MAC1 (9302); nothing was debited",
    0x6983: "the purse's purchase key is blocked (6983)",
    0x9403: "the card has no purchase key of that index (9403)",
    0x6A82: "the card has no purse (6A82)",
}


def _purse_error(exc: CardError) -> CardError:
    """A purse status word with what it means for the purchase."""
    text = _PURSE_SW.get(exc.sw)
    return CardError(exc.sw, text) if text is not None else exc
