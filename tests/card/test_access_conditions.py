"""Every access-condition kind of ``protocols.profile.Cond`` enforced by the card OS, each with its negative
tests (docs/design.md §3; the kinds are those of personalisation tools, docs/sources.md §2.4).

``Cond.PIN`` guards DF03 EF19 in the shipped profiles (read after VERIFY, as production code reads it).
``Cond.PIN_OR_KEY`` is in no shipped profile, so it is tried on a small profile made here: gen2 with SSSE
EF0D readable after VERIFY *or* external authentication with RK (0A), and writable after VERIFY or external
authentication with UK (04). Likewise ``Cond.NEVER`` (no shipped file is closed) and ``Cond.MAC`` as a read
condition (the card has no secured read, so it opens nothing): gen2 with SSSE EF0D never read nor written, and
EF05 read "with a MAC".
"""
from __future__ import annotations

import dataclasses
from typing import TypedDict

import pytest

from firmware_sim.card_os import CardOS
from protocols.profile import GEN2, MAC, NEVER, RK, UK, Access, CardProfile, Cond, DF03_EF19
from tests.card.authn import external_auth, maced
from tests.card.conftest import SSSE, Card
from tests.support import cardkit as ck

VERIFY_RIGHT, VERIFY_WRONG = "0020000003123456", "0020000003999999"
DF03 = "00A4040006D15600000502"
EF19_RECORD = "00B201CC00"                  # READ RECORD 1 of SFI 19 (19 << 3 | 4 = CC)
EF19_BY_TAG = "00B279C800"                  # by its tag 79
EF19_ALL = "00B201CD00"                     # all records from 1
EF0D_READ = "00B2016C00"                    # READ RECORD 1 of SFI 0D


# --- Cond.PIN: DF03 EF19 -----------------------------------------------------------------------------------------
@pytest.fixture(params=["gen1", "gen2", "gen3"])
def df03(request: pytest.FixtureRequest) -> Card:
    card = Card(ck.card(request.param))
    assert card(DF03 + "00")[1] == 0x9000
    return card


def _ef19_reads(card: Card) -> set[int]:
    return {card.sw(apdu) for apdu in (EF19_RECORD, EF19_BY_TAG, EF19_ALL)}


def test_df03_ef19_needs_the_pin_in_every_read_mode(df03: Card) -> None:
    assert df03.os.profile.df("DF03").ef("EF19").read == Access(Cond.PIN)
    assert _ef19_reads(df03) == {0x6982}
    assert df03.sw(VERIFY_RIGHT) == 0x9000
    record, sw = df03(EF19_RECORD)
    assert sw == 0x9000 and record == DF03_EF19[0].encode_record(DF03_EF19[0].example)
    assert _ef19_reads(df03) == {0x9000}


def test_no_key_stands_in_for_the_pin(df03: Card) -> None:
    """Every external-authentication key of DF03 passed: EF19 still wants the PIN."""
    for name, key_id in (("DF03.RK", 0x84), ("DF03.UK1", 0x86), ("DF03.UK8", 0x8D)):
        assert external_auth(df03, name, key_id, df="DF03") == 0x9000
    assert df03.os.authed == {0x84, 0x86, 0x8D}
    assert _ef19_reads(df03) == {0x6982}


def test_a_wrong_pin_opens_nothing_and_closes_what_was_open(df03: Card) -> None:
    assert df03.sw(VERIFY_WRONG) == 0x63C2
    assert _ef19_reads(df03) == {0x6982}
    assert df03.sw(VERIFY_RIGHT) == 0x9000
    assert df03.sw(VERIFY_WRONG) == 0x63C2                   # a failed VERIFY ends the verified state
    assert _ef19_reads(df03) == {0x6982}


def test_the_pin_state_ends_with_a_reset_and_does_not_cross_dfs(df03: Card) -> None:
    assert df03.sw(VERIFY_RIGHT) == 0x9000
    df03.os.reset()
    assert df03(DF03 + "00")[1] == 0x9000
    assert _ef19_reads(df03) == {0x6982}
    df03(SSSE + "00")
    assert df03.sw(VERIFY_RIGHT) == 0x9000                   # verified in SSSE ...
    df03(DF03 + "00")
    assert _ef19_reads(df03) == {0x6982}                     # ... is not verified in DF03


def test_a_blocked_pin_keeps_ef19_closed(df03: Card) -> None:
    for _ in range(3):
        df03(VERIFY_WRONG)
    assert df03.sw(VERIFY_RIGHT) == 0x6983
    assert _ef19_reads(df03) == {0x6982}


class AccessChange(TypedDict, total=False):
    read: Access
    update: Access


def gen2_with(name: str, ssse_access: dict[str, AccessChange]) -> CardProfile:
    """gen2 named ``name``, with new access conditions for some SSSE files: ``{"EF0D": {"read": …}}``."""
    ssse = GEN2.ssse
    files = tuple(dataclasses.replace(f, **ssse_access[f.name]) if f.name in ssse_access else f for f in ssse.files)
    dfs = (dataclasses.replace(ssse, files=files),) + GEN2.dfs[1:]
    return dataclasses.replace(GEN2, name=name, dfs=dfs)


def card_in_ssse(profile: CardProfile) -> Card:
    """A new gen2 card on ``profile``, SSSE selected."""
    image = ck.new_image("gen2")
    image.profile = profile
    card = Card(CardOS(image))
    assert card(SSSE + "00")[1] == 0x9000
    return card


# --- Cond.PIN_OR_KEY: a profile made for the test --------------------------------------------------------------
def pin_or_key_profile() -> CardProfile:
    """gen2, but SSSE EF0D is read with PIN or RK (0A) and written with PIN or UK (04)."""
    return gen2_with("gen2-pin-or-key", {"EF0D": {"read": Access(Cond.PIN_OR_KEY, RK.key_id),
                                                  "update": Access(Cond.PIN_OR_KEY, UK.key_id)}})


@pytest.fixture
def either() -> Card:
    return card_in_ssse(pin_or_key_profile())


def _ef0d_update(card: Card) -> bytes:
    record = card.os.image.dfs["SSSE"].records[0xEF0D][0]
    return bytes.fromhex("00DC016C") + bytes((len(record),)) + record[:2] + b"P44010000099"


def test_pin_or_key_is_closed_to_neither(either: Card) -> None:
    assert either.sw(EF0D_READ) == 0x6982
    assert either.raw(_ef0d_update(either))[1] == 0x6982
    assert either.os.image.dfs["SSSE"].records[0xEF0D][0][2:] == b"P44010000001"


def test_pin_or_key_opens_with_the_pin_alone(either: Card) -> None:
    assert either.sw(VERIFY_RIGHT) == 0x9000
    assert either.os.authed == set()
    assert either.sw(EF0D_READ) == 0x9000
    assert either.raw(_ef0d_update(either))[1] == 0x9000
    assert either(EF0D_READ)[0][2:] == b"P44010000099"


def test_pin_or_key_opens_with_the_key_alone(either: Card) -> None:
    assert external_auth(either, "RK", RK.key_id) == 0x9000
    assert not either.os.pin_ok
    assert either.sw(EF0D_READ) == 0x9000
    assert either.raw(_ef0d_update(either))[1] == 0x6982        # RK reads; writing takes UK or the PIN
    assert external_auth(either, "UK", UK.key_id) == 0x9000
    assert either.raw(_ef0d_update(either))[1] == 0x9000


def test_pin_or_key_stays_closed_to_the_wrong_key_and_failed_tries(either: Card) -> None:
    assert external_auth(either, "UK", UK.key_id) == 0x9000       # UK is the write key, not the read key
    assert either.sw(EF0D_READ) == 0x6982
    assert external_auth(either, "RK", RK.key_id, tamper=True) == 0x63C2
    assert either.sw(EF0D_READ) == 0x6982
    assert either.sw(VERIFY_WRONG) == 0x63C2
    assert either.sw(EF0D_READ) == 0x6982
    either.os.reset()
    either(SSSE + "00")
    assert either.raw(_ef0d_update(either))[1] == 0x6982         # the reset took UK's authentication away


# --- Cond.NEVER and Cond.MAC read: a profile made for the test ----------------------------------------------------
def closed_profile() -> CardProfile:
    """gen2, but SSSE EF0D is never read nor written, and EF05 is read only "with a MAC"."""
    return gen2_with("gen2-closed", {"EF0D": {"read": NEVER, "update": NEVER}, "EF05": {"read": MAC}})


@pytest.fixture
def closed() -> Card:
    card = card_in_ssse(closed_profile())
    assert card.sw(VERIFY_RIGHT) == 0x9000                      # every PIN and key of SSSE passed
    for name, key_id in (("MK", 0x00), ("UK", UK.key_id), ("RLK", 0x06), ("RK", RK.key_id), ("EK0D", 0x0D)):
        assert external_auth(card, name, key_id) == 0x9000
    return card


def test_never_opens_to_nothing(closed: Card) -> None:
    before = closed.os.image.to_json()
    assert closed.sw(EF0D_READ) == 0x6982
    assert closed.sw("00B2016D00") == 0x6982                     # all records from 1
    assert closed.raw(_ef0d_update(closed))[1] == 0x6982
    secured = maced(closed, bytes.fromhex("04DC016C"), _ef0d_update(closed)[5:])
    assert closed.raw(secured)[1] == 0x6982                      # nor with a good MAC
    assert closed.os.image.to_json() == before


def test_a_mac_read_condition_opens_nothing(closed: Card) -> None:
    assert closed.sw("00B2012C00") == 0x6982
    assert closed.sw("00B2012D00") == 0x6982
    assert closed.sw("00B2072800") == 0x6982                     # by tag
