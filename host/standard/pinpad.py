"""PIN entry for iVerifyPIN, iChangePIN, iReloadPIN and iUnblockPIN (docs/sources.md §6.1, §6.3 codes -31…-36).

When the card reader has a PIN pad (docs/serial.md §5, ``host.pinpad``), the holder types the PIN there and the
interface never sees it: ``HolderPin`` sends the pad a 6-digit VERIFY or CHANGE PIN (timeout → -32, Cancel →
-31, two new PINs that differ → -34). Otherwise the interface takes a ``PinEntry`` callable. It is asked for one
PIN at a time with a ``PinPrompt`` and returns the digits, or ``None`` when the holder cancels (-31); it may raise
``PinEntryTimeout`` (-32). The default prompts on the controlling terminal; tests use ``ScriptedPins``;
``no_pin_entry`` refuses at once (-31); the WebSocket bridge asks its page (``host.bridge``).

PIN RELOAD (and its HSM steps) always takes the new PIN from ``PinEntry``: the card wants it enciphered by the PSAM,
which a pad that only puts digits into a template cannot do. With a pad the host cannot refuse the initial PIN as
the new one (-36) either: it never sees the new PIN.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from host.card import SSCard
from host.errors import IllegalCharacters, PinEntryCancelled, PinEntryUnavailable, PinLengthError
from host.reader import PinPad
from protocols.pin import PIN_DIGITS, PinFormatError, check_pin
from protocols.pinpad import DEFAULT_TIMEOUT

PIN_LENGTH = PIN_DIGITS   # the one PIN rule of protocols.pin, which the command line follows too


class PinPrompt(str, Enum):
    CURRENT = "current"     # the holder's PIN (verify, change, unblock)
    NEW = "new"             # the new PIN (change, reload)
    CONFIRM = "confirm"     # the new PIN again

    @property
    def text(self) -> str:
        return {"current": "请输入密码 PIN: ", "new": "请输入新密码 new PIN: ",
                "confirm": "请再次输入新密码 new PIN again: "}[self.value]


PinEntry = Callable[[PinPrompt], "str | None"]


def console_pin_entry(prompt: PinPrompt) -> str | None:
    """Ask on the terminal without echo; Ctrl-C or EOF cancels."""
    try:
        return getpass.getpass(prompt.text)
    except (EOFError, KeyboardInterrupt):
        return None


def no_pin_entry(prompt: PinPrompt) -> str | None:
    """Refuse at once: there is no PIN pad or page PIN entry to ask (code -31, see ``PinEntryUnavailable``)."""
    raise PinEntryUnavailable("PIN entry is not available through the bridge (no PIN pad); "
                              "use sscard pin on the counter PC")


@dataclass
class ScriptedPins:
    """A PinEntry answering from a list (``None`` = the holder cancels); records the prompts it saw."""

    answers: list[str | None]

    def __post_init__(self) -> None:
        self.prompts: list[PinPrompt] = []

    def __call__(self, prompt: PinPrompt) -> str | None:
        self.prompts.append(prompt)
        if not self.answers:
            return None
        return self.answers.pop(0)

    @classmethod
    def of(cls, *answers: str | None) -> ScriptedPins:
        return cls(list(answers))


def ask_pin(entry: PinEntry, prompt: PinPrompt) -> str:
    """One PIN from ``entry``, checked: cancelled (-31), wrong length (-33), not digits (-41)."""
    pin = entry(prompt)
    if pin is None:
        raise PinEntryCancelled(f"PIN entry cancelled ({prompt.value})")
    try:
        return check_pin(pin.strip())
    except PinFormatError as exc:
        raise (IllegalCharacters if exc.kind == "charset" else PinLengthError)(str(exc)) from None


PadNotice = Callable[[PinPrompt], None]


@dataclass
class HolderPin:
    """Where the holder's PIN comes from in one call: the card reader's PIN pad when there is one (``timeout``
    seconds per key; ``notice`` is told before the holder is asked there), else ``entry``."""

    entry: PinEntry
    timeout: int = DEFAULT_TIMEOUT
    notice: PadNotice | None = None

    def verify(self, card: SSCard, pad: PinPad | None) -> None:
        if pad is None:
            card.verify_pin(ask_pin(self.entry, PinPrompt.CURRENT))
            return
        if self.notice is not None:
            self.notice(PinPrompt.CURRENT)
        card.verify_pin_on_pad(pad, min_digits=PIN_LENGTH, max_digits=PIN_LENGTH, timeout=self.timeout)

    def change_on_pad(self, card: SSCard, pad: PinPad) -> None:
        """CHANGE PIN typed on the pad: the current PIN, the new one, the new one again."""
        if self.notice is not None:
            self.notice(PinPrompt.NEW)
        card.change_pin_on_pad(pad, min_digits=PIN_LENGTH, max_digits=PIN_LENGTH, timeout=self.timeout)
