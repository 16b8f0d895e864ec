"""The contract between the card OS and the applications it carries beside the social security environment.

An application (the bank application; a medical purse, a PKI application) lives in one module of
``firmware_sim/apps/`` and is listed in ``firmware_sim.apps.APPLICATIONS``. It has two parts:

* :class:`AppData`, its persistent data: its own section ``"apps": {SECTION: …}`` of the card image, loaded strictly
  (``BadCardImage`` naming the field, as ``firmware_sim.image`` does for the rest) and written with the image,
  atomically, whenever the application calls ``card.persist()``. An image without the section has no such
  application, so older images load unchanged.
* :class:`Application`, its behaviour: the names SELECT by DF name reaches it by, the FCI it answers, and the
  commands (``protocols.commands``) it takes while selected. The card OS makes a new instance at each SELECT of
  it (its volatile state: what is selected inside it, a GPO done …) and passes the section's current data with
  every call, so a reload of the image from disk, or a rollback after a failed write, is seen at once.

The card OS keeps SELECT and GET RESPONSE: a successful SELECT of one of the application's names routes every
later command to it; any other SELECT (of SSSE, a DF, the MF, another application, or a name nothing answers)
ends the selection, unless the selected application answers it first (:meth:`Application.select_file`: the
files under its own DF). While an application is selected, a command it does not list answers 6D00 and one with a
CLA its command does not take 6E00; a command of an application that is not selected answers 6985.
docs/design.md §3.1.
"""
from __future__ import annotations

import abc
import functools
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from firmware_sim.image_fields import hex_field
from protocols.apdu import CommandAPDU
from protocols.commands import Command
from protocols.errors import BadCardImage


class CardStatus(Exception):
    """Raised inside a command handler to answer with a status word (and optional data)."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        self.sw = sw
        self.data = data


class CardServices(Protocol):
    """What the card OS lends the selected application (``firmware_sim.card_os.CardOS`` provides it)."""

    def persist(self) -> None:
        """Write the image (the application's section with it) before the response leaves the card; a write that
        fails raises ``CardStatus(6581)`` and the card, its application data included, goes back to the image on
        disk."""
        ...

    def reply(self, data: bytes, le: int | None) -> bytes:
        """``data`` ‖ 9000 for a case-2 command (READ RECORD): Le must fit the data exactly or be 00, else 6Cxx."""
        ...

    def offer(self, data: bytes, le: int | None) -> bytes:
        """``data`` ‖ 9000 for a case-3/4 command; without Le the data waits for GET RESPONSE (61xx)."""
        ...

    def random(self, n: int) -> bytes:
        """``n`` bytes from the card's random source."""
        ...


class AppData(abc.ABC):
    """An application's persistent data: its section of the card image."""

    @classmethod
    @abc.abstractmethod
    def from_json(cls, doc: Any, where: str) -> AppData:
        """Load the section ``doc`` found at ``where`` (``apps.bank``); ``BadCardImage`` naming the first field that
        is wrong (its place, never its value when the value is personal)."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The section as JSON, in a stable key order (images are diffed)."""

    @staticmethod
    def check_fields(doc: Any, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """``doc`` as an object with exactly ``fields``; ``BadCardImage`` naming what is unknown or missing."""
        if not isinstance(doc, dict):
            raise BadCardImage(f"{where}: expected an object")
        unknown = sorted(set(doc) - set(fields))
        if unknown:
            raise BadCardImage(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(fields)})")
        missing = [f for f in fields if f not in doc]
        if missing:
            raise BadCardImage(f"{where}: missing field(s) {', '.join(missing)}")
        return doc


class FieldsData(AppData):
    """An ``AppData`` dataclass whose section is its ``FIELDS``, in that order, ``bytes`` fields as upper-case hex;
    ``check`` says which values break the application's rules."""

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Self:
        doc = cls.check_fields(doc, where, cls.FIELDS)
        hexed = _bytes_fields(cls)
        data = cls(**{name: hex_field(doc[name], f"{where}.{name}") if name in hexed else doc[name]
                      for name in cls.FIELDS})
        data.check(where)
        return data

    def to_json(self) -> dict[str, Any]:
        hexed = _bytes_fields(type(self))
        return {name: getattr(self, name).hex().upper() if name in hexed else getattr(self, name)
                for name in self.FIELDS}

    @abc.abstractmethod
    def check(self, where: str) -> None:
        """``BadCardImage`` naming the first field at ``where`` that breaks its rule."""


@functools.cache
def _bytes_fields(cls: type[FieldsData]) -> frozenset[str]:
    """The fields of ``cls`` declared ``bytes``."""
    return frozenset(name for name, hint in typing.get_type_hints(cls).items() if hint is bytes)


D = TypeVar("D", bound=AppData)


class Application(abc.ABC, Generic[D]):
    """One selection of an application (see the module docstring)."""

    section: ClassVar[str]                       # its key under "apps" in the card image
    data_type: ClassVar[type[AppData]]           # what that section loads as
    commands: ClassVar[Mapping[int, Command]]    # by INS: what it answers while selected (SELECT, GET RESPONSE
                                                 # stay with the card OS)

    @staticmethod
    @abc.abstractmethod
    def names(data: D) -> tuple[bytes, ...]:
        """The DF names / AIDs SELECT by name (``00 A4 04 00``) reaches this application by."""

    @staticmethod
    def mf_fci(data: D) -> bytes:
        """What SELECT MF answers on a card carrying this application (b"": a bare 9000)."""
        return b""

    @abc.abstractmethod
    def select(self, data: D, name: bytes) -> bytes:
        """Enter the application by ``name`` (one of :meth:`names`); return the FCI."""

    def select_file(self, data: D, cmd: CommandAPDU, card: CardServices) -> bytes | None:
        """A SELECT while this application is selected, asked before the card OS selects: the response (the
        application stays selected, as it does when this raises ``CardStatus``: a failed SELECT keeps the
        current DF), or None to let the card OS select as usual, which ends this selection. An application
        with a file system of its own (DFs and EFs under its DF name) answers its SELECTs by identifier here;
        by default every SELECT goes to the card OS."""
        return None

    @abc.abstractmethod
    def process(self, data: D, cmd: CommandAPDU, card: CardServices) -> bytes:
        """Run one of :attr:`commands` (CLA already checked); the response APDU, or ``CardStatus`` raised."""
