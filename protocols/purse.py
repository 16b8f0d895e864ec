"""The medical purse of DF04: the PBOC electronic-purse purchase, its cryptograms and its log record.

One implementation for the card (``firmware_sim.card_os``), the PSAM (``firmware_sim.psam``), the software HSM
and the terminal (``host``). Commands and recipes: JR/T 0025.2 (PBOC 2.0 part 2, e-deposit / e-purse
application) §5.2 and its annex on the security mechanisms, as public worked examples show them byte for byte
(docs/sources.md §8):

    GET BALANCE              80 5C 00 02 04                          → balance (4)
    INITIALIZE FOR PURCHASE  80 50 01 02 0B key index (1) ‖ amount (4) ‖ terminal number (6)   Le 0F
                             → balance (4) ‖ offline counter (2) ‖ overdraft limit (3) ‖ key version (1)
                               ‖ algorithm id (1) ‖ pseudo-random (4)
    DEBIT FOR PURCHASE       80 54 01 00 0F terminal transaction number (4) ‖ date (4) ‖ time (3) ‖ MAC1 (4)
                             Le 08 → TAC (4) ‖ MAC2 (4)

    SESPK = E_DPK(random ‖ offline counter ‖ the low 2 bytes of the terminal transaction number)
    MAC1  = MAC_SESPK(amount ‖ type 06 ‖ terminal number ‖ date ‖ time)
    MAC2  = MAC_SESPK(amount)
    TAC   = MAC_DTK'(amount ‖ type 06 ‖ terminal number ‖ terminal transaction number ‖ date ‖ time)

MAC = the left 4 bytes of the CBC-MAC with IV zero over the data padded ``80 00..``. On 3DES cards E is 3DES
with the 16-byte card key and SESPK is an 8-byte single-DES key; DTK' is the left half of the TAC key XOR its
right half (single DES). On SM4 cards (no public source: the project's choice, docs/design.md §3.3) SESPK is the
card's SM4 process key E_DPK(P ‖ 00×8), the MACs are SM4 CBC-MACs and DTK' is the whole 16-byte TAC key.

Amounts are unsigned 4-byte numbers of fen (分, 0.01 yuan), as PBOC counts them.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from protocols import crypto
from protocols.crypto import Alg

__all__ = [
    "P1_PURCHASE", "P2_PURSE", "PURCHASE_TYPE", "ALG_IDS", "INIT_LC", "INIT_LE", "DEBIT_LC", "DEBIT_LE",
    "BALANCE_LE", "LOG_RECORD_SIZE", "MAX_AMOUNT", "InitResponse", "LogRecord", "session_key", "mac1", "mac2",
    "tac_key", "tac", "datetime_bytes", "check_datetime", "parse_yuan", "format_yuan", "psam_init_data",
    "PsamInit",
]

P1_PURCHASE = 0x01          # INITIALIZE P1: purchase (00 would be load)
P2_PURSE = 0x02             # P2: the electronic purse (01 is the electronic deposit, which the card has not)
PURCHASE_TYPE = 0x06        # transaction type of an e-purse purchase (JR/T 0025.2; the MAC1 and TAC input)
INIT_LC, INIT_LE = 0x0B, 0x0F
DEBIT_LC, DEBIT_LE = 0x0F, 0x08
BALANCE_LE = 0x04
MAX_AMOUNT = 0xFFFFFFFF
LOG_RECORD_SIZE = 23        # the PBOC transaction detail record (below)

#: The algorithm identifier INITIALIZE FOR PURCHASE answers: 00 3DES (the PBOC examples); 04 SM4 (choice).
ALG_IDS: dict[Alg, int] = {Alg.DES3: 0x00, Alg.SM4: 0x04}
_ALG_BY_ID = {v: k for k, v in ALG_IDS.items()}


def _u(value: int, size: int, what: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{what} does not fit {size} bytes")
    return value.to_bytes(size, "big")


@dataclass(frozen=True, slots=True)
class InitResponse:
    """The 15 bytes INITIALIZE FOR PURCHASE answers (JR/T 0025.2 §5.2.9)."""

    balance: int
    offline_counter: int
    overdraft_limit: int
    key_version: int
    alg_id: int
    random: bytes

    def encode(self) -> bytes:
        if len(self.random) != 4:
            raise ValueError("the pseudo-random number has 4 bytes")
        return (_u(self.balance, 4, "balance") + _u(self.offline_counter, 2, "offline counter")
                + _u(self.overdraft_limit, 3, "overdraft limit") + _u(self.key_version, 1, "key version")
                + _u(self.alg_id, 1, "algorithm id") + self.random)

    @classmethod
    def parse(cls, data: bytes) -> InitResponse:
        if len(data) != INIT_LE:
            raise ValueError(f"INITIALIZE FOR PURCHASE answers {INIT_LE} bytes, not {len(data)}")
        return cls(int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:6], "big"),
                   int.from_bytes(data[6:9], "big"), data[9], data[10], bytes(data[11:15]))

    @property
    def alg(self) -> Alg:
        """The algorithm the card's purchase key uses; ``ValueError`` for an id this project does not know."""
        try:
            return _ALG_BY_ID[self.alg_id]
        except KeyError:
            raise ValueError(f"unknown purse algorithm id {self.alg_id:02X}") from None


# --- the recipes -------------------------------------------------------------------------------------
def session_key(alg: Alg, dpk: bytes, random: bytes, offline_counter: int, terminal_txn: int) -> bytes:
    """SESPK = E_DPK(random (4) ‖ offline counter (2) ‖ terminal transaction number's low 2 bytes)."""
    if len(random) != 4:
        raise ValueError("the pseudo-random number has 4 bytes")
    factor = bytes(random) + _u(offline_counter, 2, "offline counter") + _u(terminal_txn, 4, "terminal "
                                                                            "transaction number")[2:]
    return crypto.process_key(alg, dpk, factor)


def _trade(amount: int, terminal: bytes, when: bytes) -> tuple[bytes, bytes, bytes]:
    if len(terminal) != 6:
        raise ValueError("the terminal number has 6 bytes")
    if len(when) != 7:
        raise ValueError("date and time have 7 bytes (YYYYMMDD hhmmss, BCD)")
    return _u(amount, 4, "amount"), bytes(terminal), bytes(when)


def mac1(alg: Alg, sespk: bytes, amount: int, terminal: bytes, when: bytes,
         txn_type: int = PURCHASE_TYPE) -> bytes:
    """MAC1 = MAC_SESPK(amount ‖ type ‖ terminal number ‖ date ‖ time): the terminal's proof to the card."""
    amt, term, dt = _trade(amount, terminal, when)
    return crypto.mac(alg, sespk, amt + bytes((txn_type,)) + term + dt)


def mac2(alg: Alg, sespk: bytes, amount: int) -> bytes:
    """MAC2 = MAC_SESPK(amount): the card's proof to the terminal that it debited."""
    return crypto.mac(alg, sespk, _u(amount, 4, "amount"))


def tac_key(alg: Alg, dtk: bytes) -> bytes:
    """The key the TAC is computed with: 3DES the left 8 bytes of DTK XOR its right 8; SM4 DTK itself."""
    if Alg(alg) is Alg.SM4:
        return bytes(dtk)
    if len(dtk) != 16:
        raise ValueError("a 3DES TAC key has 16 bytes")
    return bytes(a ^ b for a, b in zip(dtk[:8], dtk[8:], strict=True))


def tac(alg: Alg, dtk: bytes, amount: int, terminal: bytes, terminal_txn: int, when: bytes,
        txn_type: int = PURCHASE_TYPE) -> bytes:
    """TAC = MAC_DTK'(amount ‖ type ‖ terminal number ‖ terminal transaction number ‖ date ‖ time), IV zero:
    what the back office checks the debit with (no terminal holds DTK)."""
    amt, term, dt = _trade(amount, terminal, when)
    return crypto.mac(alg, tac_key(alg, dtk),
                      amt + bytes((txn_type,)) + term + _u(terminal_txn, 4, "terminal transaction number") + dt)


# --- date and time -----------------------------------------------------------------------------------
def datetime_bytes(when: _dt.datetime) -> bytes:
    """YYYYMMDD ‖ hhmmss in BCD (7 bytes), as DEBIT FOR PURCHASE carries them."""
    return bytes.fromhex(when.strftime("%Y%m%d%H%M%S"))


def check_datetime(raw: bytes) -> _dt.datetime:
    """The date and time of 7 BCD bytes; ``ValueError`` unless they are a real date and time."""
    text = bytes(raw).hex()
    if len(raw) != 7 or not text.isdigit():
        raise ValueError("date and time are 7 bytes of BCD digits")
    return _dt.datetime.strptime(text, "%Y%m%d%H%M%S")


# --- the log record (EF08, cyclic) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LogRecord:
    """A transaction detail record, 23 bytes (JR/T 0025.2 transaction detail file): offline counter (2) ‖
    overdraft limit (3) ‖ amount (4) ‖ type (1) ‖ terminal number (6) ‖ date (4) ‖ time (3)."""

    offline_counter: int
    overdraft_limit: int
    amount: int
    txn_type: int
    terminal: bytes
    when: bytes

    def encode(self) -> bytes:
        amt, term, dt = _trade(self.amount, self.terminal, self.when)
        return (_u(self.offline_counter, 2, "offline counter") + _u(self.overdraft_limit, 3, "overdraft limit")
                + amt + bytes((self.txn_type,)) + term + dt)

    @classmethod
    def parse(cls, raw: bytes) -> LogRecord:
        if len(raw) != LOG_RECORD_SIZE:
            raise ValueError(f"a log record has {LOG_RECORD_SIZE} bytes, not {len(raw)}")
        return cls(int.from_bytes(raw[0:2], "big"), int.from_bytes(raw[2:5], "big"),
                   int.from_bytes(raw[5:9], "big"), raw[9], bytes(raw[10:16]), bytes(raw[16:23]))

    @property
    def terminal_number(self) -> str:
        return self.terminal.hex().upper()

    @property
    def timestamp(self) -> str:
        """YYYYMMDDhhmmss as the card holds it."""
        return self.when.hex().upper()


# --- the PSAM's INIT SAM FOR PURCHASE ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PsamInit:
    """The data of INIT SAM FOR PURCHASE ``80 70 00 00 Lc`` (the PBOC PSAM's MAC1 computation): card random (4)
    ‖ card offline counter (2) ‖ amount (4) ‖ type (1) ‖ date (4) ‖ time (3) ‖ key version (1) ‖ algorithm id (1)
    ‖ diversification factors, 8 bytes each, the card's first (here card ‖ city: Lc 24)."""

    random: bytes
    offline_counter: int
    amount: int
    txn_type: int
    when: bytes
    key_version: int
    alg_id: int
    factors: tuple[bytes, ...]

    HEAD = 4 + 2 + 4 + 1 + 7 + 1 + 1

    def encode(self) -> bytes:
        if len(self.random) != 4 or len(self.when) != 7 or any(len(f) != 8 for f in self.factors):
            raise ValueError("random 4, date and time 7, each factor 8 bytes")
        return (bytes(self.random) + _u(self.offline_counter, 2, "offline counter") + _u(self.amount, 4, "amount")
                + bytes((self.txn_type,)) + bytes(self.when) + bytes((self.key_version, self.alg_id))
                + b"".join(self.factors))

    @classmethod
    def parse(cls, data: bytes) -> PsamInit:
        rest = len(data) - cls.HEAD
        if rest < 8 or rest % 8:
            raise ValueError("INIT SAM FOR PURCHASE: 22 bytes and one or more 8-byte factors")
        return cls(bytes(data[0:4]), int.from_bytes(data[4:6], "big"), int.from_bytes(data[6:10], "big"),
                   data[10], bytes(data[11:18]), data[18], data[19],
                   tuple(bytes(data[i:i + 8]) for i in range(cls.HEAD, len(data), 8)))


def psam_init_data(init: InitResponse, amount: int, when: bytes, factors: tuple[bytes, ...]) -> bytes:
    """INIT SAM FOR PURCHASE's data for the card's INITIALIZE answer ``init``."""
    return PsamInit(init.random, init.offline_counter, amount, PURCHASE_TYPE, when, init.key_version,
                    init.alg_id, factors).encode()


# --- yuan ---------------------------------------------------------------------------------------------
def parse_yuan(text: str) -> int:
    """Fen of an amount in yuan with at most two decimals ("1.00" → 100, "12" → 1200); ``ValueError`` for
    anything else, a negative amount or more than 4 bytes of fen."""
    t = text.strip()
    if not t or not all(c.isascii() and (c.isdigit() or c == ".") for c in t) or t.count(".") > 1:
        raise ValueError("an amount in yuan, e.g. 1.00")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise ValueError("an amount in yuan, e.g. 1.00") from None
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError("an amount in yuan has at most two decimals (fen)")
    if not 0 <= fen <= MAX_AMOUNT:
        raise ValueError("the amount is out of range")
    return int(fen)


def format_yuan(fen: int) -> str:
    """Yuan with two decimals: 1234 → "12.34"."""
    return f"{fen // 100}.{fen % 100:02d}"
