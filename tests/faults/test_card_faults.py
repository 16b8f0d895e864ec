"""Card-OS fault injection: card removed, forced status words, slow card (WTX), tearing.

The host must surface a typed error for each fault, and the card image must stay consistent: after any
fault the file on disk is the old image or the new one (docs/design.md §4).
"""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.device_faults import FaultyDevice, ForcedStatus, PowerLoss, TearingStore, TearPoint, wtx_process
from firmware_sim.image import ImageStore, load_card, load_json
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.errors import error_code
from host.terminal import Terminal
from protocols import crypto
from protocols.errors import ApplicationBlocked, CardError, NoCard, PinBlocked, WrongCard, WrongPin
from protocols.profile import DF01_EF05, DF04_EF05
from protocols.t1 import T1Card, T1Host
from tests.support import cardkit as ck

GEN2_REGION = ck.REGION["gen2"]


def terminal(dev: Any) -> Terminal:
    return Terminal(InProcessReader(dev), InProcessReader(PsamOS(demo_psam(GEN2_REGION))))


# --- card removed ------------------------------------------------------------------------------------------------
def test_card_removed_mid_flow_is_no_card_until_inserted() -> None:
    dev = FaultyDevice(ck.card(), remove_at=3)
    term = terminal(dev)
    with pytest.raises(NoCard) as exc:
        term.read_basic_info()
    assert error_code(exc.value) == -2
    with pytest.raises(NoCard):
        term.read_basic_info()          # still out: the next power-on fails too
    dev.insert()
    assert term.read_basic_info().name == ck.PERSON["name"]


def test_card_removed_after_it_counted_a_wrong_pin(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    dev = FaultyDevice(CardOS.from_file(path), remove_at=2, remove_after_run=True)
    dev.power_on()
    assert ck.sw(dev.process(ck.SELECT_SSSE)) == 0x6118             # gen2: the 24-byte FCI waits
    with pytest.raises(NoCard):
        dev.process(ck.verify("000000"))
    assert load_card(path).pin_tries_left == 2        # the answer never came back, the try still counts
    assert dev.log[-1][2] is None


# --- forced status words -----------------------------------------------------------------------------------------
FLOWS: dict[str, Callable[[Terminal], object]] = {
    "verify": lambda t: t.verify_pin(ck.PIN),
    "write": lambda t: t.write_item("SSSE/EF05", "card_number", "Z12345678"),
    "read": lambda t: t.read_basic_info(),
    "block": lambda t: t.block_application(),
}


@pytest.mark.parametrize("ins, sw, flow, error, tries, times", [
    (0x20, 0x63C1, "verify", WrongPin, 1, 1),
    (0x20, 0x6983, "verify", PinBlocked, None, 1),
    (0xDC, 0x6581, "write", CardError, None, 1),
    (0xA4, 0x6A82, "read", WrongCard, None, 1),
    # a blocked card answers 6A81 to every command; a single 6A81 to the all-records READ RECORD (mode 5)
    # only tells the host that mode is not supported, and it reads by tag instead
    (0xB2, 0x6A81, "read", ApplicationBlocked, None, 0),
    (0x1E, 0x6F00, "block", CardError, None, 1),
])
def test_forced_status_words_surface_as_typed_errors(tmp_path: Path, ins: int, sw: int, flow: str,
                                                     error: type[Exception], tries: int | None,
                                                     times: int) -> None:
    path = ck.write_image(tmp_path / "card.json")
    before = path.read_bytes()
    dev = FaultyDevice(CardOS.from_file(path), forced=[ForcedStatus(sw, ins=ins, times=times)])
    with pytest.raises(error) as exc:
        FLOWS[flow](terminal(dev))
    if tries is not None:
        assert exc.value.tries_left == tries           # type: ignore[attr-defined]  # the flows that count tries raise WrongPin
    if isinstance(exc.value, CardError):
        assert exc.value.sw == sw
    assert path.read_bytes() == before                  # the card never saw the command


def test_a_single_6a81_to_the_all_records_read_falls_back_to_reading_by_tag(tmp_path: Path) -> None:
    dev = FaultyDevice(ck.card(), forced=[ForcedStatus(0x6A81, ins=0xB2)])
    assert terminal(dev).read_basic_info().card_number == ck.PERSON["card_number"]
    reads = [apdu for _, apdu, _ in dev.log if apdu[1] == 0xB2]
    assert reads[0][3] & 0x07 == 0x05 and reads[1][3] & 0x07 == 0x00      # all records, then by tag


def test_forced_status_on_the_nth_command_only() -> None:
    dev = FaultyDevice(ck.card(), forced=[ForcedStatus(0x6F00, at=2)])
    answers = [ck.sw(dev.process(ck.GET_CHALLENGE)) for _ in range(3)]
    assert answers == [0x9000, 0x6F00, 0x9000]


def test_a_lying_answer_after_the_card_ran_the_command(tmp_path: Path) -> None:
    """``run=True``: the card blocked itself but the host was told 6F00; the image has the new state."""
    path = ck.write_image(tmp_path / "card.json")
    dev = FaultyDevice(CardOS.from_file(path), forced=[ForcedStatus(0x6F00, ins=0x1E, run=True)])
    with pytest.raises(CardError):
        terminal(dev).block_application()
    assert load_card(path).dfs["SSSE"].status == "blocked"


# --- slow card ---------------------------------------------------------------------------------------------------
def t1_exchange(host: T1Host, engine: T1Card, apdu: bytes) -> tuple[bytes, list[int]]:
    send, wtx = host.begin(apdu), []
    for _ in range(50):
        step = host.receive(engine.receive(send))
        wtx.append(step.wtx)
        if step.done:
            assert step.response is not None
            return step.response, wtx
        assert step.send is not None
        send = step.send
    raise AssertionError("T=1 exchange did not finish")


def test_slow_card_asks_for_waiting_time_over_t1() -> None:
    dev = FaultyDevice(ck.card(), slow_wtx=4)
    twin = ck.card()
    engine: T1Card
    engine = T1Card(wtx_process(dev, lambda: engine), ifsc=254, ifsd=254)
    host = T1Host(ifsc=254, ifsd=254)
    for apdu in (ck.SELECT_SSSE, bytes.fromhex("00B2012C00"), ck.verify("000000"), ck.verify(ck.PIN)):
        response, wtx = t1_exchange(host, engine, apdu)
        assert response == twin.process(apdu)
        assert 4 in wtx                               # the host granted the extension the card asked for
    dev.slow_wtx = 0
    assert t1_exchange(host, engine, bytes.fromhex("00B2022C00"))[1] == [1]


def test_slow_card_with_a_real_delay_still_answers() -> None:
    dev = FaultyDevice(ck.card(), delay=0.002)
    assert terminal(dev).read_basic_info().name == ck.PERSON["name"]
    assert dev.take_wtx() == 0


# --- tearing: power lost in the middle of a write -----------------------------------------------------------------
def _select(cos: CardOS, df: str = "SSSE") -> None:
    aid = cos.profile.df(df).aid
    rsp = cos.process(b"\x00\xA4\x04\x0C" + bytes((len(aid),)) + aid)
    assert ck.sw(rsp) == 0x9000, rsp.hex()


def prep_wrong_pin(cos: CardOS) -> bytes:
    _select(cos)
    return ck.verify("000000")


def prep_right_pin_after_a_wrong_one(cos: CardOS) -> bytes:
    _select(cos)
    assert ck.sw(cos.process(ck.verify("000000"))) == 0x63C2
    return ck.verify(ck.PIN)


def prep_change_pin(cos: CardOS) -> bytes:
    _select(cos)
    return ck.change_pin(ck.PIN, "654321")


def prep_external_auth(cos: CardOS) -> bytes:
    _select(cos)
    rsp = cos.process(ck.GET_CHALLENGE)
    cryptogram = crypto.external_auth_cryptogram(cos.alg, ck.key(cos, "UK"), rsp[:-2], bytes(8))
    return bytes((0x00, 0x82, 0x00, 0x04, 0x10)) + cryptogram + bytes(8)


def prep_update_after_external_auth(cos: CardOS) -> bytes:
    _select(cos)
    assert ck.external_auth(cos, "UK", 0x04) == 0x9000
    return ck.update_record(7, 5, b"\x07\x09Z12345678")


def prep_df_update_after_its_key(cos: CardOS) -> bytes:
    """DF01 EF05: plain UPDATE RECORD after external authentication with its update key 83 (DF01.UK1)."""
    _select(cos, "DF01")
    assert ck.external_auth(cos, "DF01.UK1", 0x83, "DF01") == 0x9000
    return ck.update_record(1, 5, DF01_EF05[0].encode_record("21"))


def prep_maced_update(cos: CardOS) -> bytes:
    """DF04 EF05: UPDATE RECORD MAC'd under DF04's own STK."""
    _select(cos, "DF04")
    record = DF04_EF05[0].encode_record("12")
    return ck.maced(cos, bytes((0x04, 0xDC, 0x01, (5 << 3) | 4)), record, "DF04.STK", "DF04")


def prep_cyclic_append(cos: CardOS) -> bytes:
    """DF02 EF07 (cyclic, 85-byte records): plain APPEND RECORD after external authentication with key 85
    (DF02.UK3)."""
    _select(cos, "DF02")
    assert ck.external_auth(cos, "DF02.UK3", 0x85, "DF02") == 0x9000
    return bytes((0x00, 0xE2, 0x00, 7 << 3, 85)) + bytes(range(85))


def prep_maced_cyclic_append(cos: CardOS) -> bytes:
    """DF04 EF15 (cyclic): APPEND RECORD MAC'd under DF04.STK."""
    _select(cos, "DF04")
    return ck.maced(cos, bytes((0x04, 0xE2, 0x00, 0x15 << 3)), bytes(range(32)), "DF04.STK", "DF04")


def prep_application_block(cos: CardOS) -> bytes:
    _select(cos)
    return ck.maced(cos, bytes.fromhex("841E0000"), b"")


def _block_pin(cos: CardOS) -> None:
    _select(cos)
    for _ in range(3):
        cos.process(ck.verify("000000"))
    assert cos.image.pin_tries_left == 0


def prep_pin_unblock(cos: CardOS) -> bytes:
    """PIN UNBLOCK ``84 24 00 00 04 MAC`` after external authentication with key 06."""
    _block_pin(cos)
    ck.pin_admin(cos)
    return ck.maced(cos, bytes.fromhex("84240000"))


def prep_pin_reload(cos: CardOS) -> bytes:
    """PIN RELOAD ``84 24 00 01 Lc E(LV new PIN) ‖ MAC`` after external authentication with key 06."""
    _block_pin(cos)
    ck.pin_admin(cos)
    return ck.maced(cos, bytes.fromhex("84240001"), pin="654321")


PREPS = [prep_wrong_pin, prep_right_pin_after_a_wrong_one, prep_change_pin, prep_external_auth,
         prep_update_after_external_auth, prep_df_update_after_its_key, prep_maced_update, prep_cyclic_append,
         prep_maced_cyclic_append, prep_application_block, prep_pin_unblock, prep_pin_reload]

#: How many times each command writes the image, as docs/design.md §3/§4 have it (written here, not taken from the
#: card): a counted try is written before the comparison and written again when it is reset; every other state
#: change is one write.
EXPECTED_SAVES: dict[Callable[[CardOS], bytes], int] = {
    prep_wrong_pin: 1,                     # the decremented counter
    prep_right_pin_after_a_wrong_one: 2,   # the decremented counter, then the reset
    prep_change_pin: 3,                    # counter down, counter reset, the new PIN
    prep_external_auth: 2,                 # the key's counter down, then reset
    prep_update_after_external_auth: 1,
    prep_df_update_after_its_key: 1,
    prep_maced_update: 1,
    prep_cyclic_append: 1,
    prep_maced_cyclic_append: 1,
    prep_application_block: 1,
    prep_pin_unblock: 1,                   # the counter back to 3: nothing is compared, no try is counted
    prep_pin_reload: 1,                    # the new PIN and the counter, together
}


class SnapshotTearingStore(TearingStore):
    """Also remembers the image on disk just before the torn save: the "old" state."""

    old_doc: Any = None

    def _tear(self, path: Path, data: bytes) -> None:
        self.old_doc = load_json(path)
        super()._tear(path, data)


class RecordingStore(ImageStore):
    def __init__(self) -> None:
        super().__init__(None)
        self.docs: list[dict[str, Any]] = []

    def save(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)


def saves_of(prep: Callable[[CardOS], bytes], profile: str) -> list[dict[str, Any]]:
    """The images the command under test writes, from a twin card that has no faults."""
    store = RecordingStore()
    cos = ck.card(profile, store, rng=lambda n: bytes(n))
    apdu = prep(cos)
    store.docs.clear()
    assert ck.sw(cos.process(apdu)) == (0x63C2 if prep is prep_wrong_pin else 0x9000)
    assert store.docs, f"{prep.__name__} writes nothing"
    return store.docs


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
@pytest.mark.parametrize("prep", PREPS, ids=[f.__name__[5:] for f in PREPS])
def test_each_command_writes_the_image_as_often_as_designed(profile: str, prep: Callable[[CardOS], bytes]) -> None:
    assert len(saves_of(prep, profile)) == EXPECTED_SAVES[prep]


def test_pin_unblock_and_reload_write_the_reset_counter() -> None:
    (doc,) = saves_of(prep_pin_unblock, "gen2")
    assert doc["pin"]["tries_left"] == 3
    (doc,) = saves_of(prep_pin_reload, "gen2")
    assert doc["pin"]["tries_left"] == 3


def cases() -> Iterator[tuple[str, Callable[[CardOS], bytes], int, TearPoint]]:
    """Every save of every command, torn at every point. The saves are those of ``EXPECTED_SAVES``, not those
    the card happens to make: a card that stops making one fails its case instead of losing it."""
    for profile in ("gen2", "gen3"):
        for prep in PREPS:
            for k in range(1, EXPECTED_SAVES[prep] + 1):
                for point in TearPoint:
                    yield profile, prep, k, point


CASES = list(cases())


@pytest.mark.parametrize("profile, prep, k, point", CASES,
                         ids=[f"{p}-{f.__name__[5:]}-save{k}-{pt.name}" for p, f, k, pt in CASES])
def test_power_lost_mid_write_leaves_the_old_or_the_new_image(tmp_path: Path, profile: str,
                                                              prep: Callable[[CardOS], bytes], k: int,
                                                              point: TearPoint) -> None:
    path = ck.write_image(tmp_path / "card.json", profile)
    store = SnapshotTearingStore(path, tear_on=10**9, point=point)
    cos = CardOS(load_card(path), store, rng=lambda n: bytes(n))
    cos.power_on()
    apdu = prep(cos)
    store.tear_on = store.saves + k
    tries_before = load_json(path)["pin"]["tries_left"]
    with pytest.raises(PowerLoss):
        cos.process(apdu)
    assert store.torn_doc is not None
    before = store.old_doc
    after = load_json(path)
    expected = store.torn_doc if point is TearPoint.AFTER_RENAME else before
    assert after == expected
    assert after in (before, json.loads(json.dumps(store.torn_doc)))
    # the card comes back to life on the image it finds, whatever the temp files left behind
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("card.json", "card.json.lock")]
    assert all(n.startswith("card.json.") and n.endswith(".tmp") for n in leftovers)
    again = CardOS.from_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "card.json.lock"]   # temps cleared
    again.power_on()
    answer = ck.sw(again.process(ck.SELECT_SSSE))
    assert answer >> 8 == 0x61 or answer == 0x6283     # FCI waiting, or a blocked application
    if prep in (prep_wrong_pin, prep_change_pin):
        assert load_card(path).pin_tries_left <= tries_before


@pytest.mark.parametrize("point", list(TearPoint))
def test_a_failing_flash_answers_6581_and_keeps_a_consistent_image(tmp_path: Path, point: TearPoint) -> None:
    path = ck.write_image(tmp_path / "card.json")
    store = SnapshotTearingStore(path, tear_on=10**9, point=point, error=OSError)
    cos = CardOS(load_card(path), store)
    cos.power_on()
    apdu = prep_update_after_external_auth(cos)
    store.tear_on = store.saves + 1
    assert ck.sw(cos.process(apdu)) == 0x6581
    before = store.old_doc
    after = load_json(path)
    assert after == (store.torn_doc if point is TearPoint.AFTER_RENAME else before)
    assert cos.image.to_json() == after                # the card reloaded what is really on disk


# --- a save that fails: 6581, and the card takes up the image on disk ---------------------------------------------
class FailingFlash(ImageStore):
    """Fault injection — a deliberate FAKE: the store of an image file whose ``fail_on``-th save (1-based) raises
    ``OSError`` (no space left) before it writes anything, as a full or worn-out flash does; every other save is
    a real atomic write. With ``lose_file`` the failing save also deletes the image (the card cannot read back
    what it had). ``written`` holds the images the real saves wrote."""

    def __init__(self, path: Path, *, lose_file: bool = False) -> None:
        super().__init__(path)
        self.fail_on, self.lose_file = 10**9, lose_file
        self.saves = 0
        self.written: list[dict[str, Any]] = []

    def save(self, doc: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.fail_on:
            if self.lose_file:
                assert self.path is not None
                self.path.unlink()
            raise OSError(errno.ENOSPC, "fault injection: no space left on the card's flash")
        super().save(doc)
        self.written.append(json.loads(json.dumps(doc)))


class FailingMemory(ImageStore):
    """Fault injection — a deliberate FAKE: a store with no file that keeps every image it accepts in ``kept`` and
    refuses its ``fail_on``-th save with ``OSError``."""

    def __init__(self, first: dict[str, Any]) -> None:
        super().__init__(None)
        self.fail_on, self.saves = 10**9, 0
        self.kept = [first]

    def save(self, doc: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.fail_on:
            raise OSError(errno.EIO, "fault injection: the flash does not answer")
        self.kept.append(json.loads(json.dumps(doc)))


FAILED_SAVES = [(prep, k) for prep in PREPS for k in range(1, EXPECTED_SAVES[prep] + 1)]


def _failing_card(tmp_path: Path, profile: str, prep: Callable[[CardOS], bytes], k: int,
                  **kw: Any) -> tuple[CardOS, FailingFlash, bytes, dict[str, Any]]:
    """A card on an image file, prepared for ``prep``'s command, whose store fails the command's k-th save.
    Also returns the image on disk just before the command."""
    path = ck.write_image(tmp_path / "card.json", profile)
    store = FailingFlash(path, **kw)
    cos = CardOS(load_card(path), store, rng=lambda n: bytes(n))
    cos.power_on()
    apdu = prep(cos)
    store.fail_on = store.saves + k
    return cos, store, apdu, load_json(path)


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
@pytest.mark.parametrize("prep, k", FAILED_SAVES, ids=[f"{f.__name__[5:]}-save{k}" for f, k in FAILED_SAVES])
def test_a_failed_save_answers_6581_and_the_card_keeps_the_image_on_disk(
        tmp_path: Path, profile: str, prep: Callable[[CardOS], bytes], k: int) -> None:
    """Whichever save of a command fails, the answer is 6581 and the card's state is the image on disk: the one
    before the command, or what the command's earlier saves wrote (a try already counted) — never a change that
    was not written."""
    cos, store, apdu, before = _failing_card(tmp_path, profile, prep, k)
    written_before = len(store.written)
    assert cos.process(apdu) == b"\x65\x81"
    disk = load_json(store.path)   # type: ignore[arg-type]
    assert disk == (store.written[-1] if len(store.written) > written_before else before)
    assert len(store.written) - written_before == k - 1
    assert cos.image.to_json() == disk


def _select_ssse(cos: CardOS) -> int:
    return ck.sw(cos.process(ck.SELECT_SSSE))


def test_a_failed_save_of_a_wrong_pin_counts_no_try(tmp_path: Path) -> None:
    cos, store, apdu, _ = _failing_card(tmp_path, "gen2", prep_wrong_pin, 1)
    assert ck.sw(cos.process(apdu)) == 0x6581
    assert cos.image.pin_tries_left == load_card(store.path).pin_tries_left == 3   # type: ignore[arg-type]
    assert ck.sw(cos.process(bytes.fromhex("0020000000"))) == 0x63C3
    assert ck.sw(cos.process(ck.verify("000000"))) == 0x63C2            # the flash works again: one try counted


@pytest.mark.parametrize("k, tries", [(1, 2), (2, 1)])
def test_a_failed_save_of_a_right_pin_verifies_nothing(tmp_path: Path, k: int, tries: int) -> None:
    """The right PIN after a wrong one: the decrement fails (tries stay 2) or the reset fails (the counted try
    stays, 1); either way the PIN is not verified and the counter is the one on disk."""
    cos, store, apdu, _ = _failing_card(tmp_path, "gen2", prep_right_pin_after_a_wrong_one, k)
    assert ck.sw(cos.process(apdu)) == 0x6581
    assert cos.image.pin_tries_left == load_card(store.path).pin_tries_left == tries   # type: ignore[arg-type]
    assert not cos.pin_ok
    assert ck.sw(cos.process(bytes.fromhex("0020000000"))) == 0x63C0 | tries


def test_a_failed_save_of_an_update_record_leaves_the_record(tmp_path: Path) -> None:
    cos, store, apdu, before = _failing_card(tmp_path, "gen2", prep_update_after_external_auth, 1)
    old = cos.image.dfs["SSSE"].records[0xEF05][6]
    assert old == b"\x07\x09" + ck.PERSON["card_number"].encode()
    assert ck.sw(cos.process(apdu)) == 0x6581
    assert cos.image.dfs["SSSE"].records[0xEF05][6] == old
    assert load_card(store.path).dfs["SSSE"].records[0xEF05][6] == old   # type: ignore[arg-type]
    assert cos.process(bytes.fromhex("00B2072C0B")) == old + b"\x90\x00"


def test_a_failed_save_of_a_pin_reload_keeps_the_old_pin_and_the_blocked_counter(tmp_path: Path) -> None:
    cos, store, apdu, _ = _failing_card(tmp_path, "gen2", prep_pin_reload, 1)
    assert cos.image.pin_tries_left == 0
    assert ck.sw(cos.process(apdu)) == 0x6581
    on_disk = load_card(store.path)   # type: ignore[arg-type]
    assert (cos.image.pin, cos.image.pin_tries_left) == (on_disk.pin, on_disk.pin_tries_left) == (ck.PIN, 0)
    assert ck.sw(cos.process(ck.verify("654321"))) == 0x6983              # the new PIN was never taken
    assert ck.sw(cos.process(ck.verify(ck.PIN))) == 0x6983                # and the counter is still blocked


def test_a_failed_save_of_an_application_block_leaves_the_application_active(tmp_path: Path) -> None:
    cos, store, apdu, _ = _failing_card(tmp_path, "gen2", prep_application_block, 1)
    assert ck.sw(cos.process(apdu)) == 0x6581
    on_disk = load_card(store.path)                                      # type: ignore[arg-type]
    assert cos.image.dfs["SSSE"].status == on_disk.dfs["SSSE"].status == "active"
    assert _select_ssse(cos) >> 8 == 0x61                                # not 6283: not blocked
    assert ck.sw(cos.process(bytes.fromhex("00B2012C00"))) == 0x9000
    assert ck.sw(cos.process(prep_application_block(cos))) == 0x9000      # and a working flash blocks it
    assert load_card(store.path).dfs["SSSE"].status == "blocked"         # type: ignore[arg-type]


@pytest.mark.parametrize("prep", [prep_wrong_pin, prep_update_after_external_auth, prep_pin_reload,
                                  prep_application_block], ids=lambda f: f.__name__[5:])
def test_a_failed_save_that_loses_the_image_file_keeps_the_last_image_written(
        tmp_path: Path, prep: Callable[[CardOS], bytes]) -> None:
    """The failing save takes the file with it: nothing on disk to read back, so the card keeps the last image it
    wrote (or loaded), answers 6581 and raises nothing."""
    cos, store, apdu, before = _failing_card(tmp_path, "gen2", prep, 1, lose_file=True)
    last = store.written[-1] if store.written else before
    assert cos.process(apdu) == b"\x65\x81"
    assert not store.path.exists()   # type: ignore[union-attr]
    assert cos.image.to_json() == last


@pytest.mark.parametrize("prep", [prep_wrong_pin, prep_update_after_external_auth, prep_pin_reload,
                                  prep_application_block], ids=lambda f: f.__name__[5:])
def test_a_failed_save_of_a_card_without_a_file_keeps_the_last_image_kept(prep: Callable[[CardOS], bytes]) -> None:
    """A store with no file (another kind of memory) that refuses a save: the card keeps the last image the store
    accepted, as it would the image on disk."""
    image = ck.new_image("gen2")
    store = FailingMemory(image.to_json())
    cos = CardOS(image, store, rng=lambda n: bytes(n))
    cos.power_on()
    apdu = prep(cos)
    store.fail_on = store.saves + 1
    assert cos.process(apdu) == b"\x65\x81"
    assert cos.image.to_json() == store.kept[-1]


@pytest.mark.parametrize("error, expected", [(PowerLoss, NoCard), (OSError, CardError)])
def test_tearing_seen_from_the_host(tmp_path: Path, error: type[BaseException], expected: type[Exception]) -> None:
    """Power lost mid-write: the reader loses the card (NoCard); a failing flash: CardError 6581. Either way
    the card that boots again from the file holds the old image."""
    path = ck.write_image(tmp_path / "card.json")
    store = TearingStore(path, tear_on=10**9, point=TearPoint.BEFORE_RENAME, error=error)
    card = CardOS(load_card(path), store)
    dev = FaultyDevice(card)
    term = terminal(dev)
    store.tear_on = 3          # the external authentication writes twice (count, reset), the update third
    with pytest.raises(expected) as exc:
        term.write_item("SSSE/EF05", "card_number", "Z12345678")
    if isinstance(exc.value, CardError):
        assert exc.value.sw == 0x6581
    assert load_card(path).dfs["SSSE"].records[0xEF05][6] == b"\x07\x09T44010001"
    dev.insert(CardOS.from_file(path))
    assert terminal(dev).read_basic_info().card_number == ck.PERSON["card_number"]
    terminal(dev).write_item("SSSE/EF05", "card_number", "Z12345678")   # and the card works on
    assert load_card(path).dfs["SSSE"].records[0xEF05][6] == b"\x07\x09Z12345678"


@pytest.mark.parametrize("call", [1, 2, 3])
def test_power_lost_inside_the_real_atomic_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 call: int) -> None:
    """Tear ``firmware_sim.image.atomic_write`` itself at its fsync(file) · rename · fsync(folder) calls."""
    path = ck.write_image(tmp_path / "card.json")
    cos = CardOS.from_file(path)
    cos.power_on()
    apdu = prep_update_after_external_auth(cos)
    before = load_json(path)
    calls = {"n": 0}
    real_fsync, real_replace = os.fsync, os.replace

    def count(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == call:
                raise PowerLoss(f"power lost at call {call}")
            return real(*a)
        return wrapper

    monkeypatch.setattr(os, "fsync", count(real_fsync))
    monkeypatch.setattr(os, "replace", count(real_replace))
    with pytest.raises(PowerLoss):
        cos.process(apdu)
    monkeypatch.undo()
    after = load_card(path)
    record = after.dfs["SSSE"].records[0xEF05][6]
    if call < 3:                            # before the rename: the old image
        assert load_json(path) == before
    else:                                   # renamed: the new image, even if the folder was not yet synced
        assert record == b"\x07\x09Z12345678"
