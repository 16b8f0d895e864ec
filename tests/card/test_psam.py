"""The PSAM emulator: file system, ``80 1A``/``BF DE`` key addressing, ``80 FA``, GET RESPONSE, key usages,
and no key ever leaves (docs/design.md §3 "PSAM"). The computations are checked against the card: what the
PSAM computes from the card's factors is what the card itself accepts or answers."""
from __future__ import annotations

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import PsamImage, PsamKey
from protocols import crypto
from protocols.codecs import encode_cn
from protocols.crypto import Alg
from protocols.keys import test_issuer_keys
from protocols.profile import PSAM_DDF_NAME, PSAM_KEYS, KeyUse, key_spec

SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
DES3_APP, SM4_APP = "00A4040006D15600000590", "00A4040006D15600000591"
#: Keys of a card, counted from docs/design.md §3 and the profile's sources, not from the profile: SSSE 7 (IRK, MK,
#: UK, RLK, RK, EK0D, STK), DF01 9 (RK, UK1–UK7, STK), DF02 8 (RK, UK1–UK6, STK), DF03 11 (RK, RK2, UK1–UK8, STK),
#: DF04 4 (RK, STK, the purse's DPK and DTK), DF05 3 and DF06 3 (RK, UK1, STK), DF07 5 (RK, RK2, RK3, UK1, STK).
#: A PSAM holds every one but the TAC key DTK (docs/design.md §3.3).
KEYS_PER_CARD = 7 + 9 + 8 + 11 + 4 + 3 + 3 + 5
PSAM_HELD = KEYS_PER_CARD - 1


def run(psam: PsamOS, hex_: str) -> tuple[bytes, int]:
    rsp = psam.process(bytes.fromhex(hex_.replace(" ", "")))
    return rsp[:-2], int.from_bytes(rsp[-2:], "big")


def collect(psam: PsamOS, hex_: str) -> bytes:
    """A command answered with 61xx, then GET RESPONSE: the data."""
    data, sw = run(psam, hex_)
    assert data == b"" and sw >> 8 == 0x61, f"{hex_} -> {sw:04X}"
    out, sw = run(psam, f"00C00000{sw & 0xFF:02X}")
    assert sw == 0x9000
    return out


def lc(data: bytes) -> str:
    return f"{len(data):02X}" + data.hex()


def powered(region: str = "440100") -> PsamOS:
    psam = PsamOS(demo_psam(region))
    psam.power_on()
    return psam


# --- files ---------------------------------------------------------------------------------------------
def test_terminal_number_and_public_data_by_sfi() -> None:
    psam = powered()
    img = psam.image
    assert run(psam, "00B0960006") == (bytes.fromhex("440100000001"), 0x9000)    # EF16: 6 bytes BCD
    assert run(psam, "00B0960003") == (bytes.fromhex("440100"), 0x9000)
    data, sw = run(psam, "00B095000F")                                            # EF15: production reads 15
    assert sw == 0x9000 and data == img.public_data()[:15]
    full, _ = run(psam, "00B0950000")
    assert full[-3:] == encode_cn("440100", 3)                                    # the PSAM's region
    assert run(psam, "00B0970006")[1] == 0x6A82                                  # no EF with SFI 17
    run(psam, DES3_APP)
    assert run(psam, "00B0960006")[1] == 0x6A82                                  # EF16 is the MF's


def test_mf_and_efs_by_file_id_then_read_binary_by_offset() -> None:
    psam = powered()
    run(psam, DES3_APP)
    assert run(psam, "00A4000000")[1] == 0x9000                                  # 00 A4 00 00 00: the MF
    assert run(psam, "00A40000020016")[1] == 0x9000
    assert run(psam, "00B0000006") == (bytes.fromhex("440100000001"), 0x9000)
    assert run(psam, "00B0000204") == (bytes.fromhex("00000001"), 0x9000)       # from offset 2
    assert run(psam, "00A40200020015")[1] == 0x9000                               # P1 02 too
    assert run(psam, "00B000000F") == (psam.image.public_data()[:15], 0x9000)
    assert run(psam, "00A40000023F00")[1] == 0x9000                               # the MF by FID
    assert run(psam, "00B0000006")[1] == 0x6986                                   # no current EF any more
    assert run(psam, "00A40400" + lc(PSAM_DDF_NAME))[1] == 0x9000            # the MF by its DDF name
    assert run(psam, "00A40000020017")[1] == 0x6A82
    assert run(psam, "00A4000002DF01")[1] == 0x9000                               # the 3DES application
    assert run(psam, "00A40000020016")[1] == 0x6A82                               # EF16 is not in DF01


# --- key addressing and work keys ---------------------------------------------------------------------------
def test_production_key_addresses() -> None:
    """The addresses production software sends (docs/design.md §3 [WAPP][HDOS Java]), written out here."""
    expected = {"UK": (0x48, 0x12), "RLK": (0x48, 0x10), "STK": (0x48, 0x09), "RK": (0x47, 0x0A),
                "IRK": (0x67, 0x08)}
    for name, (p1, p2) in expected.items():
        spec = key_spec(name)
        assert (spec.psam.p1, spec.psam.p2) == (p1, p2), name
    img = demo_psam("440100")
    for alg in (Alg.DES3, Alg.SM4):
        held = {(k.p1, k.index) for k in img.keys if k.alg is alg}
        assert set(expected.values()) <= held
        assert {(s.psam.p1, s.psam.p2) for s in PSAM_KEYS} == held
        assert len(held) == PSAM_HELD                       # one address per card key, none shared


@pytest.mark.parametrize("card_name, region", [("guangzhou-gen2", "440100"), ("shenzhen-gen3", "440300")])
def test_every_psam_key_gives_the_card_key_from_the_card_factors(card_name: str, region: str) -> None:
    """Stored at the level its P1 implies (3 root, 2 province, 1 city), each PSAM key diversified by the card's
    factors (lowest first, as many as P1 has levels) is the card's own key, in every DF."""
    card = demo_card(card_name)
    img = demo_psam(region)
    issuer = test_issuer_keys(card.profile.alg)
    factors = crypto.factors(region, card.atr)
    checked = 0
    for spec in card.profile.dfs:
        for ks in spec.keys:
            if ks.use is KeyUse.TAC:
                assert not any(k.name == ks.name for k in img.keys)      # the TAC key stays with the back office
                continue
            stored = next(k for k in img.keys if k.alg is card.profile.alg and (k.p1, k.index) == (ks.psam.p1,
                                                                                                     ks.psam.p2))
            assert stored.value == issuer.level_key(ks.name, region, ks.psam.levels), ks.name
            derived = crypto.derive(card.profile.alg, stored.value, factors[:ks.psam.levels])
            assert derived == card.dfs[spec.name].keys[ks.key_id].value, (spec.name, ks.name)
            checked += 1
    assert checked == PSAM_HELD


def test_psam_keys_are_level_keys_of_the_issuer() -> None:
    img = demo_psam("440100")
    issuer = test_issuer_keys(Alg.DES3)
    rk = next(k for k in img.keys if k.alg is Alg.DES3 and k.name == "RK")
    assert (rk.p1, rk.index) == (0x47, 0x0A)
    province = crypto.diversify(Alg.DES3, issuer.keys["RK"], crypto.province_factor("440100"))
    assert rk.value == province                                 # 2 levels: the PSAM holds the province key
    irk = next(k for k in img.keys if k.alg is Alg.DES3 and k.name == "IRK")
    assert irk.value == issuer.keys["IRK"]                      # 3 levels: the root key
    city = test_issuer_keys(Alg.DES3).city_keys("440100")
    assert rk.value != city["RK"]


def test_diversify_and_compute_match_the_card_keys() -> None:
    psam = powered()
    card = demo_card("guangzhou-gen2")
    card_f, city_f, _ = crypto.factors("440100", card.atr)
    assert run(psam, "BFDE470A" + lc(card_f + city_f))[1] == 0x6985             # no application selected
    assert run(psam, DES3_APP)[1] == 0x9000
    assert run(psam, "BFDE470A" + lc(card_f + city_f))[1] == 0x9000             # RK: 2 levels, usage 7
    enc = collect(psam, "80FA000008" + "00" * 8)
    rk = card.dfs["SSSE"].keys[0x0A].value
    assert enc == crypto.ecb_encrypt(Alg.DES3, rk, bytes(8))
    assert run(psam, "801A470A" + lc(card_f + city_f))[1] == 0x9000             # 80 1A means the same
    assert collect(psam, "80FA000008" + "00" * 8) == enc
    # STK (48 09, usage 8) MACs: the whole last CBC block of IV ‖ padded data; the caller keeps 4 bytes
    stk = card.dfs["SSSE"].keys[0x02].value
    assert run(psam, "BFDE4809" + lc(card_f + city_f))[1] == 0x9000
    iv, msg = bytes(range(8)), crypto.pad80(b"\x84\x1E\x00\x00\x04", 8)
    block = collect(psam, "80FA0500" + lc(iv + msg))
    assert len(block) == 8 and block == crypto.cbc_mac_block(Alg.DES3, stk, msg, iv)
    assert block[:4] == crypto.mac(Alg.DES3, stk, b"\x84\x1E\x00\x00\x04", iv)


def test_one_psam_serves_card_after_card() -> None:
    """A PSAM keeps no card's key for the next: two cards in turn, then the first again, each gets its own."""
    psam = powered()
    assert run(psam, DES3_APP)[1] == 0x9000
    first = demo_card("guangzhou-gen2")
    other_atr = first.atr[:-8] + bytes(8 - i for i in range(8))
    for atr in (first.atr, other_atr, first.atr):
        card_f, city_f, _ = crypto.factors("440100", atr)
        assert run(psam, "BFDE470A" + lc(card_f + city_f))[1] == 0x9000
        rk = crypto.derive_card_key(Alg.DES3, test_issuer_keys(Alg.DES3).keys["RK"], "440100", atr)
        assert collect(psam, "80FA000008" + "00" * 8) == crypto.ecb_encrypt(Alg.DES3, rk, bytes(8))


def _card(name: str) -> CardOS:
    cos = CardOS(demo_card(name))
    cos.power_on()
    assert cos.process(bytes.fromhex(SSSE + "00"))[-2:] == b"\x90\x00"
    return cos


@pytest.mark.parametrize("card_name, region, app", [("guangzhou-gen2", "440100", DES3_APP),
                                                    ("shenzhen-gen3", "440300", SM4_APP)])
def test_process_factor_gives_what_the_card_answers_and_accepts(card_name: str, region: str, app: str) -> None:
    """IRK 67 08 with card ‖ city ‖ province ‖ P, then E_SK(D): the card's INTERNAL AUTHENTICATE answer; UK 48 12
    with card ‖ city ‖ challenge: a cryptogram the card's EXTERNAL AUTHENTICATE accepts; STK 48 09 with card ‖
    city ‖ challenge and IV zero: a MAC the card accepts (SM4: the terminal folds the PSAM's block)."""
    psam = powered(region)
    cos = _card(card_name)
    alg = cos.alg
    run(psam, app)
    factors = crypto.factors(region, cos.image.atr)

    def e_sk(d: bytes) -> bytes:
        if alg is Alg.SM4:
            return crypto.fold(collect(psam, "80FA0000" + lc(d + bytes(8))))
        return collect(psam, "80FA0000" + lc(d))

    p, d = bytes(range(8)), bytes(range(8, 16))
    assert run(psam, "BFDE6708" + lc(b"".join(factors) + p))[1] == 0x9000
    answer = e_sk(d)
    rsp = cos.process(bytes.fromhex("0088000010") + p + d + b"\x08")
    assert rsp == answer + b"\x90\x00"

    challenge = cos.process(bytes.fromhex("0084000008"))[:-2]
    assert run(psam, "BFDE4812" + lc(b"".join(factors[:2]) + challenge))[1] == 0x9000
    vector = bytes(range(1, 9))
    assert cos.process(bytes.fromhex("0082000410") + e_sk(vector) + vector) == b"\x90\x00"

    challenge = cos.process(bytes.fromhex("0084000008"))[:-2]
    assert run(psam, "BFDE4809" + lc(b"".join(factors[:2]) + challenge))[1] == 0x9000
    header = bytes.fromhex("841E000004")
    block = crypto.block_size(alg)
    mac = collect(psam, "80FA0500" + lc(bytes(block) + crypto.pad80(header, block)))[:4]
    assert cos.process(header + mac) == b"\x90\x00"                       # the application is now blocked
    assert cos.image.dfs["SSSE"].status == "blocked"


def test_errors() -> None:
    psam = PsamOS(demo_psam())
    run(psam, DES3_APP)
    assert run(psam, "BFDE4777" + "10" + "00" * 16)[1] == 0x9403            # no key at index 77
    assert run(psam, "BFDE670A" + "18" + "00" * 24)[1] == 0x9403            # RK is not held at 3 levels
    assert run(psam, "801A470A08" + "00" * 8)[1] == 0x6700                  # 2 levels need 16 or 24 bytes
    assert run(psam, "801A070A08" + "00" * 8)[1] == 0x6700                  # 0 levels
    assert run(psam, "80FA000008" + "00" * 8)[1] == 0x6985                  # no key initialised
    assert run(psam, "801A470A10" + "00" * 16)[1] == 0x9000
    assert run(psam, "80FA000007" + "00" * 7)[1] == 0x6700                  # not a block multiple
    assert run(psam, "80FA090008" + "00" * 8)[1] == 0x6A86
    assert run(psam, "80FA000100" + "00")[1] in (0x6A86, 0x6700)            # P2 must be 00
    assert run(psam, "00C0000008")[1] == 0x6985                              # nothing pending
    assert run(psam, "00A4040006D15600000599")[1] == 0x6A82
    assert run(psam, "00EE000000")[1] == 0x6D00
    run(psam, "BFDE4809" + "10" + "00" * 16)                                 # STK, usage 8: MAC and encipher
    assert run(psam, "80FA050008" + "00" * 8)[1] == 0x6700                   # an IV and no data
    assert run(psam, "80FA05000C" + "00" * 12)[1] == 0x6700                  # data must be whole blocks
    assert run(psam, "80FA050010" + "00" * 16)[1] == 0x6108          # the last block


def test_a_key_is_used_only_for_its_usage() -> None:
    """Usage 7 only enciphers, 6 only MACs, 8 does both; anything else is 6985 (docs/design.md §3)."""
    value = bytes(range(16))
    keys = [PsamKey(Alg.DES3, (1 << 5) | usage, 0x50, f"U{usage}", value) for usage in (6, 7, 8)]
    psam = PsamOS(PsamImage(demo_psam().atr, "440100", "440100000001", keys))
    psam.power_on()
    run(psam, DES3_APP)
    for usage, may_encipher, may_mac in ((6, False, True), (7, True, False), (8, True, True)):
        assert run(psam, f"BFDE{0x20 | usage:02X}5008" + "00" * 8)[1] == 0x9000
        assert run(psam, "80FA000008" + "00" * 8)[1] == (0x6108 if may_encipher else 0x6985), usage
        assert run(psam, "80FA050010" + "00" * 16)[1] == (0x6108 if may_mac else 0x6985), usage


def test_rk_cannot_mac() -> None:
    """Production's RK address ``47 0A`` is an encryption key: asked to MAC, the PSAM refuses (6985)."""
    psam = powered()
    card = demo_card("guangzhou-gen2")
    run(psam, DES3_APP)
    card_f, city_f, _ = crypto.factors("440100", card.atr)
    assert run(psam, "BFDE470A" + lc(card_f + city_f))[1] == 0x9000
    assert run(psam, "80FA050010" + "00" * 16) == (b"", 0x6985)
    assert run(psam, "00C0000008")[1] == 0x6985                              # and nothing is pending
    assert run(psam, "80FA000008" + "00" * 8)[1] == 0x6108                   # it still enciphers


def test_no_psam_command_returns_key_material() -> None:
    img = demo_psam("440100")
    secrets = [k.value for k in img.keys]
    # the work keys the initialisations below produce (all-zero factors) are secret too
    inits = ((0x47, 0x0A, bytes(16)), (0x48, 0x09, bytes(24)), (0x67, 0x08, bytes(32)))
    for k in img.keys:
        for p1, p2, data in inits:
            if (k.p1, k.index) == (p1, p2):
                levels = p1 >> 5
                work = crypto.derive(k.alg, k.value, [data[8 * i:8 * i + 8] for i in range(levels)])
                if len(data) > 8 * levels:
                    work = crypto.process_key(k.alg, work, data[-8:])
                secrets.append(work)
    psam = PsamOS(img)
    psam.power_on()
    seen = b""
    for select in (DES3_APP, SM4_APP):
        run(psam, select)
        for ins in range(256):
            for cla in (0x00, 0x80, 0xBF):
                for p1, p2, data in ((0x00, 0x00, b""), (0x96, 0x00, b""), *inits, (0x05, 0x00, bytes(32)),
                                     (0x00, 0x00, bytes(16))):
                    apdu = bytes((cla, ins, p1, p2, len(data))) + data if data else bytes((cla, ins, p1, p2, 0x00))
                    rsp = psam.process(apdu)
                    seen += rsp
                    if rsp[-2] == 0x61:
                        seen += psam.process(bytes((0x00, 0xC0, 0x00, 0x00, rsp[-1])))
    assert len(secrets) > len(img.keys)
    for secret in secrets:
        for half in (secret[:8], secret[8:]):
            assert not half or half not in seen
