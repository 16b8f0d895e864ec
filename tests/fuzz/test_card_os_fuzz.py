"""Fuzzing the card OS at APDU level.

Sequences of valid commands (with real MACs and cryptograms, so deep states are reached: PIN verified,
keys authenticated, applications blocked …), mutated valid commands, structured random commands, raw random
bytes and power cycles, on personalised gen2 and gen3 cards. After every command:

* the card answered (no exception, no hang) with data ‖ SW1 SW2 and a valid SW (SW1 61..6F or 90..9F);
* a malformed APDU got 6700;
* a rejected command (SW ≠ 9000) carried no data, except the card's conventions (SELECT 6283 with the FCI,
  READ BINARY 6282, GET RESPONSE 61xx), and changed nothing in the image — except the try counter a failed
  PIN or external authentication must decrement, by exactly one (docs/design.md §3).

``REGRESSIONS`` are short sequences for security rules, each with the SWs it must get; they run here under
the same invariants and seed the coverage-guided fuzzer (``fuzz_targets.seeds``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, strategies as st

from firmware_sim.card_os import CardOS
from protocols import crypto
from protocols.apdu import CommandAPDU
from protocols.errors import MalformedApdu
from protocols.profile import EF, BinaryFile, KeyUse, RecordFile
from tests.fuzz.support import budget, data_allowed, diff_paths, valid_sw
from tests.support import cardkit as ck

CARD_INS = (0xA4, 0xB2, 0xB0, 0x84, 0xC0, 0x88, 0x82, 0x20, 0x5E, 0x24, 0x1E, 0x18, 0x16, 0xDC, 0xD6, 0xE2)


def checked(cos: CardOS, apdu: bytes) -> bytes:
    """Send one APDU and assert the invariants of the module docstring."""
    before = cos.image.to_json()
    rsp = cos.process(apdu)
    assert isinstance(rsp, bytes) and len(rsp) >= 2, rsp
    sw = int.from_bytes(rsp[-2:], "big")
    assert valid_sw(sw), f"{apdu.hex()} -> {rsp.hex()}"
    try:
        CommandAPDU.parse(apdu)
    except MalformedApdu:
        assert rsp == b"\x67\x00", f"malformed {apdu.hex()} -> {rsp.hex()}"
        assert cos.image.to_json() == before
        return rsp
    if sw == 0x9000:
        return rsp
    ins = apdu[1]
    assert not rsp[:-2] or data_allowed(ins, sw), f"{apdu.hex()} -> data with {sw:04X}: {rsp.hex()}"
    after = cos.image.to_json()
    changed = diff_paths(before, after)
    if not changed:
        return rsp
    counting = sw & 0xFFF0 == 0x63C0 or sw == 0x6983
    assert counting and len(changed) == 1, f"{apdu.hex()} -> {sw:04X} changed {changed}"
    path = changed[0]
    assert (ins in (0x20, 0x5E) and path == ("pin", "tries_left")) or \
           (ins == 0x82 and len(path) == 5 and path[0] == "dfs" and path[2] == "keys" and path[4] == "tries_left"), \
        (apdu.hex(), path)
    if ins == 0x82:                                    # the counter of the key the command named, no other
        df, key = changed[0][1], changed[0][3]
        assert before["dfs"][df]["keys"][key]["id"] == f"{apdu[3]:02X}", (apdu.hex(), path)
    node_b: Any = before
    node_a: Any = after
    for part in path:
        node_b, node_a = node_b[part], node_a[part]
    assert node_a == node_b - 1, f"{path}: {node_b} -> {node_a}"
    return rsp


# --- valid commands (each may send what it needs first, e.g. GET CHALLENGE) --------------------------------------
Gen = Callable[[CardOS, st.DataObject], bytes]


def _df_name(cos: CardOS) -> str:
    return cos.df.name if cos.df is not None else "SSSE"


def select_df(cos: CardOS, data: st.DataObject) -> bytes:
    spec = data.draw(st.sampled_from(cos.profile.dfs))
    p2 = data.draw(st.sampled_from([0x00, 0x0C]))
    le = b"\x00" if p2 == 0 else b""
    return bytes((0x00, 0xA4, 0x04, p2, len(spec.aid))) + spec.aid + le


def select_fid(cos: CardOS, data: st.DataObject) -> bytes:
    fids = [0x3F00] + [d.fid for d in cos.profile.dfs] + [f.fid for d in cos.profile.dfs for f in d.files]
    fid = data.draw(st.sampled_from(fids))
    return bytes((0x00, 0xA4, data.draw(st.sampled_from([0x00, 0x02])), 0x00, 0x02)) + fid.to_bytes(2, "big")


def _files(cos: CardOS) -> tuple[EF, ...]:
    return (cos.df or cos.profile.ssse).files


def read_record(cos: CardOS, data: st.DataObject) -> bytes:
    ef = data.draw(st.sampled_from([f for f in _files(cos) if isinstance(f, RecordFile)]))
    by_tag = data.draw(st.booleans()) and bool(ef.items)
    p1 = data.draw(st.sampled_from([it.tag for it in ef.items])) if by_tag else data.draw(st.integers(0, 12))
    le = data.draw(st.sampled_from([0, 0x20, 0x12, 0x03]))
    return bytes((0x00, 0xB2, p1, (ef.sfi << 3) | (0 if by_tag else 4), le))


def read_binary(cos: CardOS, data: st.DataObject) -> bytes:
    files: list[EF] = [f for f in _files(cos) if isinstance(f, BinaryFile)] or list(cos.profile.ssse.files[2:4])
    ef = data.draw(st.sampled_from(files))
    return bytes((0x00, 0xB0, 0x80 | ef.sfi, data.draw(st.integers(0, 255)), data.draw(st.integers(0, 255))))


def get_challenge(cos: CardOS, data: st.DataObject) -> bytes:
    return bytes((0x00, 0x84, 0x00, 0x00, data.draw(st.sampled_from([4, 8, 16, 0]))))


def get_response(cos: CardOS, data: st.DataObject) -> bytes:
    return bytes((0x00, 0xC0, 0x00, 0x00, data.draw(st.integers(0, 255))))


def internal_auth(cos: CardOS, data: st.DataObject) -> bytes:
    return bytes.fromhex("0088000010") + data.draw(st.binary(min_size=16, max_size=16)) + b"\x00"


def external_auth(cos: CardOS, data: st.DataObject) -> bytes:
    df = cos.df or cos.profile.ssse
    ks = data.draw(st.sampled_from([k for k in df.keys if k.use is KeyUse.EXTERNAL]))
    rsp = checked(cos, ck.GET_CHALLENGE)
    vector = data.draw(st.binary(min_size=8, max_size=8))
    key = cos.image.dfs[df.name].keys[ks.key_id].value
    cryptogram = crypto.external_auth_cryptogram(cos.alg, key, rsp[:-2] if len(rsp) == 10 else bytes(8), vector)
    if data.draw(st.integers(0, 3)) == 0:
        cryptogram = bytes([cryptogram[0] ^ 0x01]) + cryptogram[1:]
    return bytes((0x00, 0x82, 0x00, ks.key_id, 0x10)) + cryptogram + vector


def verify(cos: CardOS, data: st.DataObject) -> bytes:
    choice = data.draw(st.integers(0, 3))
    if choice == 0:
        return bytes.fromhex("0020000000")[:4]                 # ask for the try counter
    return ck.verify(cos.image.pin if choice == 1 else data.draw(st.sampled_from(["000000", "1234", "99999999"])))


def change_pin(cos: CardOS, data: st.DataObject) -> bytes:
    old = cos.image.pin if data.draw(st.booleans()) else "000000"
    return ck.change_pin(old, data.draw(st.sampled_from(["123456", "654321", "1234", "123456789012"])))


def _stk(cos: CardOS, data: st.DataObject) -> bytes:
    """The current DF's STK, now and then another DF's (per-DF keys: the card must refuse its MACs)."""
    dfs = cos.profile.dfs
    df = cos.df or cos.profile.ssse
    if data.draw(st.integers(0, 5)) == 0:
        df = data.draw(st.sampled_from(dfs))
    return cos.image.dfs[df.name].keys[df.key_by_use(KeyUse.MAC).key_id].value


def _maced(cos: CardOS, data: st.DataObject, header: bytes, body: bytes = b"", pin: str | None = None) -> bytes:
    rsp = checked(cos, ck.GET_CHALLENGE if data.draw(st.integers(0, 9)) else bytes.fromhex("0084000010"))
    challenge = rsp[:-2][:8] if len(rsp) >= 10 else bytes(8)
    key = _stk(cos, data)
    if pin is not None:
        body = crypto.sm_encipher(cos.alg, key, challenge, crypto.pin_to_bcd(pin))
    lc = len(body) + 4
    mac = crypto.sm_mac(cos.alg, key, challenge, header + bytes((lc,)) + body)
    if data.draw(st.integers(0, 4)) == 0:
        mac = bytes([mac[0] ^ 0x80]) + mac[1:]
    return header + bytes((lc,)) + body + mac


def pin_admin(cos: CardOS, data: st.DataObject) -> bytes:
    """EXTERNAL AUTHENTICATE with key 06 (in SSSE; elsewhere the card has no key 06: 6A88)."""
    df = cos.df or cos.profile.ssse
    rsp = checked(cos, ck.GET_CHALLENGE)
    ks = df.key_by_id(cos.profile.pin_admin_key)
    key = cos.image.dfs[df.name].keys[ks.key_id].value if ks is not None else bytes(16)
    vector = data.draw(st.binary(min_size=8, max_size=8))
    cryptogram = crypto.external_auth_cryptogram(cos.alg, key, rsp[:-2] if len(rsp) == 10 else bytes(8), vector)
    if data.draw(st.integers(0, 5)) == 0:
        cryptogram = bytes([cryptogram[0] ^ 0x01]) + cryptogram[1:]
    return bytes((0x00, 0x82, 0x00, cos.profile.pin_admin_key, 0x10)) + cryptogram + vector


def pin_unblock(cos: CardOS, data: st.DataObject) -> bytes:
    """PIN UNBLOCK (MAC only) or RELOAD (an enciphered new PIN), often in SSSE right after key 06."""
    if cos.df is not cos.profile.ssse and data.draw(st.booleans()):
        checked(cos, ck.SELECT_SSSE[:3] + b"\x0C" + ck.SELECT_SSSE[4:])
    if data.draw(st.booleans()):
        checked(cos, pin_admin(cos, data))
    reload = data.draw(st.booleans())
    header = bytes((0x84, 0x24, 0x00, int(reload)))
    if reload:
        return _maced(cos, data, header, pin=data.draw(st.sampled_from(["123456", "888888", "1234"])))
    if data.draw(st.integers(0, 5)) == 0:                          # the old form, carrying a PIN: refused
        return _maced(cos, data, header, pin=cos.image.pin)
    return _maced(cos, data, header)


def block(cos: CardOS, data: st.DataObject) -> bytes:
    ins = data.draw(st.sampled_from([0x1E, 0x1E, 0x18, 0x18, 0x16]))
    p2 = data.draw(st.sampled_from([0x00, 0x00, 0x01])) if ins == 0x1E else 0x00
    return _maced(cos, data, bytes((0x84, ins, 0x00, p2)))


def update(cos: CardOS, data: st.DataObject) -> bytes:
    files = [f for f in _files(cos) if isinstance(f, RecordFile)]
    ef = data.draw(st.sampled_from(files))
    if ef.cyclic_records:
        body = data.draw(st.binary(min_size=ef.record_size, max_size=ef.record_size))
        header = bytes((0x04, 0xE2, 0x00, ef.sfi << 3))
    else:
        n = data.draw(st.integers(1, len(ef.items)))
        item = ef.items[n - 1]
        body = item.encode_record(item.example)
        header = bytes((0x04, 0xDC, n, (ef.sfi << 3) | 4))
    if ef.update.key_id is not None and data.draw(st.integers(0, 3)):   # after external authentication
        df = cos.df or cos.profile.ssse
        ks = df.key_by_id(ef.update.key_id)
        if ks is not None:
            rsp = checked(cos, ck.GET_CHALLENGE)
            key = cos.image.dfs[df.name].keys[ks.key_id].value
            cg = crypto.external_auth_cryptogram(cos.alg, key, rsp[:-2] if len(rsp) == 10 else bytes(8), bytes(8))
            checked(cos, bytes((0x00, 0x82, 0x00, ks.key_id, 0x10)) + cg + bytes(8))
    if data.draw(st.integers(0, 2)):                                     # plain, as DF01–DF03 and SSSE take it
        return bytes((0x00,)) + header[1:] + bytes((len(body),)) + body
    return _maced(cos, data, header, body)


def update_binary(cos: CardOS, data: st.DataObject) -> bytes:
    chunk = data.draw(st.binary(min_size=1, max_size=40))
    return bytes((0x00, 0xD6, 0x80 | data.draw(st.sampled_from([7, 8])), data.draw(st.integers(0, 255)),
                  len(chunk))) + chunk


def select_child(cos: CardOS, data: st.DataObject) -> bytes:
    fid = data.draw(st.sampled_from([d.fid for d in cos.profile.dfs]))
    return bytes((0x00, 0xA4, 0x01, 0x00, 0x02)) + fid.to_bytes(2, "big")


def read_all_records(cos: CardOS, data: st.DataObject) -> bytes:
    ef = data.draw(st.sampled_from([f for f in _files(cos) if isinstance(f, RecordFile)]))
    return bytes((0x00, 0xB2, data.draw(st.integers(0, 9)), (ef.sfi << 3) | 5, data.draw(st.sampled_from([0, 0xFF, 3]))))


VALID: list[Gen] = [select_df, select_df, select_fid, select_child, read_record, read_record, read_all_records,
                    read_binary, get_challenge, get_response, internal_auth, external_auth, verify, verify,
                    change_pin, pin_admin, pin_unblock, pin_unblock, block, update, update, update_binary]


# --- noise -----------------------------------------------------------------------------------------------------
def mutate(apdu: bytes, data: st.DataObject) -> bytes:
    b = bytearray(apdu)
    kind = data.draw(st.integers(0, 6))
    i = data.draw(st.integers(0, max(0, len(b) - 1)))
    if kind == 0 and b:
        b[i] ^= data.draw(st.integers(1, 255))
    elif kind == 1:
        del b[data.draw(st.integers(0, len(b))):]
    elif kind == 2:
        b += data.draw(st.binary(min_size=1, max_size=4))
    elif kind == 3 and b:
        del b[i]
    elif kind == 4 and len(b) > 4:
        b[4] = data.draw(st.integers(0, 255))           # Lc / Le
    elif kind == 5 and len(b) > 3:
        b[data.draw(st.integers(2, 3))] = data.draw(st.integers(0, 255))   # P1 / P2
    else:
        b[0:2] = bytes((data.draw(st.sampled_from([0x00, 0x04, 0x80, 0x84, 0x0C, 0xFF])),
                        data.draw(st.sampled_from(CARD_INS + (0xCA, 0x70, 0x60, 0x6F)))))
    return bytes(b)


structured = st.builds(
    lambda cla, ins, p1, p2, body, le, ext: CommandAPDU(cla, ins, p1, p2, body, le, ext).to_bytes(),
    st.sampled_from([0x00, 0x04, 0x80, 0x84]) | st.integers(0, 255),
    st.sampled_from(CARD_INS) | st.integers(0, 255),
    st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300),
    st.none() | st.integers(1, 256) | st.sampled_from([257, 4096, 65536]), st.booleans())


def step(cos: CardOS, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["valid"] * 5 + ["mutated"] * 3 + ["structured", "random", "power"]))
    if kind == "power":
        cos.power_off()
        assert cos.power_on() == cos.image.atr
        return
    if kind == "random":
        checked(cos, data.draw(st.binary(max_size=270)))
        return
    if kind == "structured":
        checked(cos, data.draw(structured))
        return
    apdu = data.draw(st.sampled_from(VALID))(cos, data)
    checked(cos, mutate(apdu, data) if kind == "mutated" else apdu)


# --- regression sequences -------------------------------------------------------------------------------------
Send = Callable[[bytes], bytes]


def _sw(rsp: bytes) -> int:
    return int.from_bytes(rsp[-2:], "big")


def _select(send: Send, cos: CardOS, df: str) -> None:
    aid = cos.profile.df(df).aid
    assert _sw(send(bytes((0x00, 0xA4, 0x04, 0x0C, len(aid))) + aid)) == 0x9000


def _secured(send: Send, cos: CardOS, header: bytes, body: bytes = b"", key_name: str = "STK",
             df: str = "SSSE", challenge: bytes | None = None) -> bytes:
    if challenge is None:
        rsp = send(ck.GET_CHALLENGE)
        assert _sw(rsp) == 0x9000
        challenge = rsp[:-2]
    lc = bytes((len(body) + 4,))
    mac = crypto.sm_mac(cos.alg, ck.key(cos, key_name, df), challenge, header + lc + body)
    return header + lc + body + mac


def reg_challenge16_then_external_auth(send: Send, cos: CardOS) -> None:
    """A 16-byte challenge, then EXTERNAL AUTHENTICATE: 6984, and the key's counter is not lowered."""
    rsp = send(bytes.fromhex("0084000010"))
    assert _sw(rsp) == 0x9000 and len(rsp) == 18
    vector = bytes(range(8))
    crypt = crypto.external_auth_cryptogram(cos.alg, ck.key(cos, "UK"), rsp[:8], vector)
    assert _sw(send(bytes.fromhex("0082000410") + crypt + vector)) == 0x6984
    assert cos.image.dfs["SSSE"].keys[0x04].tries_left == 3


def reg_challenge16_then_maced(send: Send, cos: CardOS) -> None:
    """A 16-byte challenge, then a MAC'd APPLICATION BLOCK: 6984, nothing blocked."""
    rsp = send(bytes.fromhex("0084000010"))
    assert _sw(rsp) == 0x9000
    assert _sw(send(_secured(send, cos, bytes.fromhex("841E0000"), challenge=rsp[:8]))) == 0x6984
    assert cos.image.dfs["SSSE"].status == "active"


def reg_maced_extended_lc(send: Send, cos: CardOS) -> None:
    """``04 D6 88 00 00 01 04`` + 260 bytes: a MAC'd command with more than 255 data bytes is 6700."""
    assert _sw(send(ck.GET_CHALLENGE)) == 0x9000
    assert _sw(send(bytes.fromhex("04D68800000104") + bytes(range(256)) + bytes(4))) == 0x6700


def reg_stk_mac_is_not_the_update_key(send: Send, cos: CardOS) -> None:
    """An STK-MAC'd UPDATE RECORD of EF05 (update condition: key 04) without that key: 6982."""
    assert _sw(send(_secured(send, cos, bytes.fromhex("04DC072C"), b"\x07\x09Z12345678"))) == 0x6982


def reg_ssse_mac_refused_in_df04(send: Send, cos: CardOS) -> None:
    """In DF04, a MAC under SSSE's STK: 6988 (each DF has its own STK)."""
    _select(send, cos, "DF04")
    record = cos.image.dfs["DF04"].records[0xEF05][0]
    assert _sw(send(_secured(send, cos, bytes.fromhex("04DC012C"), record))) == 0x6988


def reg_unblock_without_key_06(send: Send, cos: CardOS) -> None:
    """PIN UNBLOCK with a good STK MAC but no external authentication with key 06: 6982."""
    assert _sw(send(_secured(send, cos, bytes.fromhex("84240000")))) == 0x6982


REGRESSIONS: dict[str, Callable[[Send, CardOS], None]] = {
    f.__name__[4:]: f for f in (reg_challenge16_then_external_auth, reg_challenge16_then_maced, reg_maced_extended_lc,
                                reg_stk_mac_is_not_the_update_key, reg_ssse_mac_refused_in_df04,
                                reg_unblock_without_key_06)}


@pytest.mark.parametrize("profile", ["gen1", "gen2", "gen3"])
@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression_sequences(profile: str, name: str) -> None:
    cos = ck.card(profile)
    checked(cos, ck.SELECT_SSSE)
    before = cos.image.to_json()
    REGRESSIONS[name](lambda apdu: checked(cos, apdu), cos)
    assert cos.image.to_json() == before                 # each sequence is refused and changes nothing


def fresh(profile: str, seed: int) -> CardOS:
    counter = iter(range(1 << 30))
    return ck.card(profile, rng=lambda n: (seed + next(counter)).to_bytes(8, "big")[-n:].rjust(n, b"\x5A"))


@budget(150)
@given(st.sampled_from(["gen2", "gen3"]), st.integers(0, 1 << 32), st.data())
def test_command_sequences_keep_the_invariants(profile: str, seed: int, data: st.DataObject) -> None:
    cos = fresh(profile, seed)
    checked(cos, ck.SELECT_SSSE)
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        step(cos, data)


@budget(300)
@given(st.sampled_from(["gen2", "gen3"]), st.binary(max_size=300))
def test_random_bytes_after_select(profile: str, apdu: bytes) -> None:
    cos = ck.card(profile)
    checked(cos, ck.SELECT_SSSE)
    checked(cos, apdu)


@budget(300)
@given(st.sampled_from(["gen2", "gen3"]), structured, st.booleans())
def test_structured_commands(profile: str, apdu: bytes, select_first: bool) -> None:
    cos = ck.card(profile)
    if select_first:
        checked(cos, ck.SELECT_SSSE)
    checked(cos, apdu)


def test_checker_catches_a_change_on_rejection() -> None:
    """The invariant check itself: a card that changes its image and answers an error must fail it."""
    cos = ck.card()
    real = cos.process

    def lying(apdu: bytes) -> bytes:
        real(apdu)
        cos.image.pin = "000000"
        return b"\x6A\x80"

    cos.process = lying  # type: ignore[method-assign]  # a card that lies, on purpose
    try:
        checked(cos, ck.SELECT_SSSE)
    except AssertionError:
        return
    raise AssertionError("the checker accepted a rejected command that changed the image")


def test_regression_seeds_replay_on_the_fuzz_target() -> None:
    """Each regression seed of ``fuzz_targets`` gets, replayed by the ``card_os`` target, the SWs it was recorded
    with — so the coverage-guided fuzzer starts from the refused sequences themselves."""
    from tests.fuzz import fuzz_targets
    seeds = fuzz_targets.seeds("card_os")
    assert len(REGRESSIONS) == 6
    assert len(seeds) == 1 + 5 * 2                           # all but the extended-Lc one, for gen2 and gen3
    for seed in seeds[1:]:
        counter = iter(range(1 << 30))
        cos = ck.card("gen3" if seed[0] & 1 else "gen2", rng=lambda n, c=counter: next(c).to_bytes(n, "big"))
        checked(cos, ck.SELECT_SSSE)
        answers = [_sw(checked(cos, apdu)) for apdu in fuzz_targets.chunks(seed[1:])]
        assert answers[-1] in (0x6984, 0x6982, 0x6988), [f"{a:04X}" for a in answers]
        fuzz_targets.card_os(seed)                           # and the target itself finds nothing
