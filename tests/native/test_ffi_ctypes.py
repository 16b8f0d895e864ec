"""The library from a second language's FFI: Python's ctypes (tests/native/ffi.py) in a subprocess, as any
counter program would call it. The process already runs Python, so the library uses that interpreter
(native/sscard.c); what is checked is the C ABI: GBK strings in and out, buffers, codes, the PIN callback,
the HSM steps across calls, configuration read again after sscard_close."""
from __future__ import annotations

import base64
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from firmware_sim.demo import DEMO_DIR
from host.standard import SSCardDriver, no_pin_entry
from tests.native.conftest import run_python

EF_ALL = "SSSEEF05|05|06|07|$SSSEEF06|08|09|4E|0A|0B|0D|$"


def ffi(code: str, env: dict[str, str]) -> object:
    """Run ``code`` with ``lib`` = tests.native.ffi.Lib(); it sets ``result``, which comes back through JSON."""
    script = "import json\nfrom tests.native.ffi import Lib\nlib = Lib()\nresult = None\n" + textwrap.dedent(code) \
        + "\nprint('RESULT ' + json.dumps(result, ensure_ascii=False))\n"
    done = run_python(script, env)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    line = [ln for ln in done.stdout.decode("utf-8").splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A card image of its own (the demo card, gen2) that writes go to."""
    return Path(shutil.copy(DEMO_DIR / "guangzhou-gen2.json", tmp_path / "card.json"))


def test_read_card_bas_matches_the_python_driver(native_lib, lib_env):
    got = ffi("result = lib.iReadCardBas(3)", lib_env)
    assert got == list(SSCardDriver("sim", pin_entry=no_pin_entry).iReadCardBas(3))


def test_read_card_output_is_gbk(native_lib, lib_env):
    got = ffi(f"result = lib.raw('iReadCard', 3, 2, b'', {EF_ALL.encode()!r})[1].hex()", lib_env)
    raw = bytes.fromhex(got)
    assert raw.startswith(b"SSSEEF05|") and "陈晓明".encode("gbk") in raw
    assert raw.decode("gbk") == SSCardDriver("sim", pin_entry=no_pin_entry).iReadCard(3, 2, "", EF_ALL)[1]


def test_write_gbk_name_and_read_it_back(native_lib, lib_env, card):
    """東 is 96 7C in GBK: its second byte is '|', so the separators are found in the decoded text, never in bytes."""
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    assert "王東".encode("gbk") == b"\xcd\xf5\x96|"
    got = ffi("""
        w = lib.iWriteCard(1, "", "SSSEEF06|09|$", "SSSEEF06|王東|$")
        r = lib.raw("iReadCard", 1, 2, b"", b"SSSEEF06|09|$")
        result = [w, r[0], r[1].hex()]
    """, env)
    assert got[:2] == [[0, ""], 0]
    assert bytes.fromhex(got[2]) == b"SSSEEF06|\xcd\xf5\x96||$"
    assert SSCardDriver(f"sim:{card}", pin_entry=no_pin_entry).iReadCardBas(1)[1].split("|")[4] == "王東"


def test_bad_inputs_through_ctypes(native_lib, lib_env):
    got = ffi(r"""
        result = {
            "null_out": lib.dll.iReadCardBas(3, None),
            "null_cardinfo": lib.raw("iReloadPIN", 3, None)[0],
            "null_fileaddr": lib.raw("iReadCard", 3, 2, b"", None)[0],
            "null_key": lib.raw("iReadCardBas_HSM_Step2", None)[0],
            "itype_big": lib.raw("iReadCardBas", 2**31 - 1)[0],
            "itype_zero": lib.raw("iVerifyPIN", 0)[0],
            "authtype": lib.raw("iReadCard", 3, 0, b"", b"SSSEEF05|$")[0],
            "addr_malformed": lib.raw("iReadCard", 3, 2, b"", b"SSSEEF05|05")[0],
            "addr_unknown_file": lib.raw("iReadCard", 3, 2, b"", b"DF09EF99|01|$")[0],
            "not_gbk": lib.raw("iReadCard", 3, 2, b"\xff\xfe|", b"SSSEEF05|$")[0],
            "not_gbk_write": lib.raw("iWriteCard", 3, b"", b"SSSEEF06|09|$", b"SSSEEF06|\x81\x7f|$")[0],
            "separator_in_value": lib.raw("iWriteCard", 3, b"", b"SSSEEF06|09|$", "SSSEEF06|王|五|$".encode("gbk"))[0],
            "other_card": lib.raw("iReloadPIN", 3, b"0" * 32 + b"|")[0],
            "still_works": lib.iReadCardBas(3)[0],
        }
    """, lib_env)
    assert got == {"null_out": -14, "null_cardinfo": -14, "null_fileaddr": -14, "null_key": -14, "itype_big": -14,
                   "itype_zero": -14, "authtype": -14, "addr_malformed": -23, "addr_unknown_file": got["addr_unknown_file"],
                   "not_gbk": -41, "not_gbk_write": -41, "separator_in_value": -23, "other_card": -22,
                   "still_works": 0}
    assert got["addr_unknown_file"] < 0


def test_missing_card_image_is_minus_11(native_lib, lib_env):
    env = dict(lib_env, SSCARD_READER="sim:/nonexistent/card.json")
    code, out = ffi("result = lib.iReadCardBas(1)", env)
    assert code == -11 and "no card image" in out and out.endswith("|")


def test_pin_functions_without_a_callback_or_terminal_refuse_at_once(native_lib, lib_env):
    got = ffi("result = [lib.iVerifyPIN(1)[0], lib.iChangePIN(1)[0], lib.iReadCard(1, 1, '', 'SSSEEF05|$')[0]]",
              lib_env)
    assert got == [-31, -31, -31]


def test_pin_callback_verify_change_and_tries(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        prompts = lib.set_pins("000000", "123456", "246810", "246810", "246810")
        result = [lib.iVerifyPIN(1), lib.iChangePIN(1), lib.iVerifyPIN(1), prompts]
    """, env)
    assert got == [[-51, "2|wrong PIN, 2 tries left|"], [0, ""], [0, ""], [1, 1, 2, 3, 1]]


def test_hsm_steps_across_calls(native_lib, lib_env):
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        code1, step1 = lib.iReadCardBas_HSM_Step1(3)
        result = [code1, lib.iReadCardBas_HSM_Step2(SoftwareHsm().read_basic_info(step1)), lib.iReadCardBas(3)]
    """, lib_env)
    assert got[0] == 0 and got[1] == got[2] and got[1][0] == 0


def test_reload_pin_through_the_hsm_asks_the_new_pin_from_the_callback(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        hsm = SoftwareHsm()
        prompts = lib.set_pins("246810", "246810", "246810")
        _, step1 = lib.iReadCardBas_HSM_Step1(1)
        region, atr = step1.split("|")[:2]
        c1, r1 = lib.iReloadPIN_HSM_Step1(1, "")
        c2, r2 = lib.iReloadPIN_HSM_Step2(hsm.reload_pin_auth(r1, region, atr))
        c3, r3 = lib.iReloadPIN_HSM_Step3(hsm.reload_pin_command(r2, region, atr))
        result = [c1, c2, c3, lib.iVerifyPIN(1)[0], prompts]
    """, env)
    assert got == [0, 0, 0, 0, [2, 3, 1]]


def test_photo_and_its_buffer(native_lib, lib_env):
    got = ffi("""
        full = lib.raw("iReadPhoto", 3)
        small = lib.raw("iReadPhoto", 3, size=100)
        need = int(small[1].split(b"|")[0])
        again = lib.raw("iReadPhoto", 3, size=need)
        result = [full[0], full[1].decode(), small[0], small[1].decode(), need, again[0], again[1] == full[1]]
    """, lib_env)
    code, out, small_code, small_out, need, again_code, same = got
    assert code == 0 and out.endswith("|")
    photo = base64.b64decode(out[:-1])
    assert photo[:2] == b"\xFF\xD8" and photo == SSCardDriver("sim").contact.read_photo()
    assert (small_code, need, again_code, same) == (-42, len(out) + 1, 0, True)
    assert len(small_out) <= 99 and small_out.startswith(f"{need}|")


def test_reader_info_from_the_config_file(native_lib, lib_env):
    conf = Path(lib_env["XDG_CONFIG_HOME"]) / "sscard"
    conf.mkdir()
    (conf / "sscard.toml").write_text('device_number = "柜台-01"\n', encoding="utf-8")
    got = ffi("result = lib.reader_info()", lib_env)
    assert got == [0, "柜台-01", "440100000001"]


def test_close_reads_the_configuration_again(native_lib, lib_env):
    got = ffi("""
        import os
        first = lib.iReadCardBas(1)[1].split("|")[2]
        os.environ["SSCARD_READER"] = "sim:shenzhen-gen3"
        same = lib.iReadCardBas(1)[1].split("|")[2]        # the open reader is kept …
        closed = lib.close()
        after = lib.iReadCardBas(1)[1].split("|")[2]       # … until sscard_close
        result = [first, same, closed, after]
    """, lib_env)
    assert got == ["A44010001", "A44010001", 0, "B44030002"]


def test_calls_from_python_threads_are_serialised(native_lib, lib_env):
    got = ffi("""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda i: lib.iReadCardBas(3 if i % 2 else 1), range(24)))
        result = [len(set(map(tuple, outs))), outs[0][0]]
    """, lib_env)
    assert got == [1, 0]


# --- the HSM steps of iReadCard, iWriteCard, iUnblockPIN and iWriteCardBas (docs/sources.md §6.2) ----------------
def test_read_card_hsm_steps_across_calls(native_lib, lib_env):
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        addr = "SSSEEF05|07|$DF01EF06|24|$SSSEEF06|09|$"
        c1, step1 = lib.iReadCard_HSM_Step1(3, "", addr)
        c2, out = lib.raw("iReadCard_HSM_Step2", SoftwareHsm().read_card(step1).encode())
        result = [c1, step1.split("|")[6], c2, out.hex(), lib.raw("iReadCard", 3, 2, b"", addr.encode())[1].hex()]
    """, lib_env)
    c1, address, c2, out, direct = got
    assert (c1, address, c2) == (0, "004F2E", 0)
    assert out == direct and "陈晓明".encode("gbk") in bytes.fromhex(out)


def test_write_card_hsm_writes_gbk(native_lib, lib_env, card):
    """東 is 96 7C in GBK: the HSM step's pWriteData is split on the decoded text, as iWriteCard's is."""
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        c1, step1 = lib.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
        w = lib.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "SSSEEF06|王東|$")
        again = lib.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "SSSEEF06|王東|$")
        result = [c1, step1.split("|")[4], w, again[0]]
    """, env)
    assert got == [0, "009412", [0, ""], -23]
    assert SSCardDriver(f"sim:{card}", pin_entry=no_pin_entry).iReadCardBas(1)[1].split("|")[4] == "王東"


def test_unblock_pin_hsm_across_calls(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        hsm = SoftwareHsm()
        lib.set_pins("000000", "000000", "000000", "123456")
        blocked = [lib.iVerifyPIN(1)[0] for _ in range(3)]
        _, step1 = lib.iReadCardBas_HSM_Step1(1)
        region, atr = step1.split("|")[:2]
        c1, u1 = lib.iUnblockPIN_HSM_Step1(1, "")
        c2, u2 = lib.iUnblockPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))
        c3, u3 = lib.iUnblockPIN_HSM_Step3(hsm.unblock_pin_command(u2, region, atr))
        result = [blocked, c1, c2, u2.split("|")[3], c3, u3, lib.iVerifyPIN(1)]
    """, env)
    assert got == [[-51, -51, -52], 0, 0, "8424000004", 0, "", [0, ""]]


def test_write_card_bas_ext_through_ctypes(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        card_id = lib.iReadCardBas(1)[1].split("|")[3]
        data = f"{card_id}||||B44019999||欧阳||||19800101|"
        result = [lib.iWriteCardBasExt(1, "", data), lib.iReadCardBas(1)[1].split("|")[2:5]]
    """, env)
    assert got[0] == [0, ""]
    assert got[1][0] == "B44019999" and got[1][2] == "欧阳"


def test_write_card_bas_as_the_kiosk_calls_it(native_lib, lib_env, card):
    """S7's sequence (docs/sources.md §6.1): iWriteCardBas(iType, pOutInfo) gives the two randoms (fields 1 and 2),
    the HSM answers, iWriteCardBas_HSM_Step1(pKey, pWriteInfo, pOutInfo) writes; declared as S7 declares them."""
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        basic = lib.iReadCardBas(1)[1].split("|")
        c1, out = lib.iWriteCardBas(1)
        randoms = out.split("|")[1:3]
        pkey = SoftwareHsm().write_basic_info(out, basic[0], basic[5])
        info = "||20250102|20350102|C44010003|440106197001010022|司马||1|02|19700101|"
        w = lib.iWriteCardBas_HSM_Step1(pkey, info)
        again = lib.iWriteCardBas_HSM_Step1(pkey, info)
        result = [c1, [len(r) for r in randoms], out.split("|")[3], w, again[0], lib.iReadCardBas(1)[1].split("|")[1:5]]
    """, env)
    assert got[:5] == [0, [16, 16], "0094", [0, ""], -23]
    assert got[5][0:2] == ["440106197001010022", "C44010003"] and got[5][3] == "司马"


def test_write_card_bas_wrong_answer_through_ctypes(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        c1, out = lib.iWriteCardBas(1)
        result = [c1, lib.iWriteCardBas_HSM_Step1("00" * 16, "||||||王五|||||")[0], lib.iReadCardBas(1)[1].split("|")[4]]
    """, env)
    assert got == [0, -0x63C2, "陈晓明"]


def test_new_exports_refuse_bad_inputs(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi(r"""
        import ctypes
        as_int = lib.dll["iWriteCardBas"]              # a caller that declares the result int, not long
        as_int.restype, as_int.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_char_p]
        result = {
            "bas_itype_as_int": as_int(9, ctypes.create_string_buffer(1024)),
            "read_null_addr": lib.raw("iReadCard_HSM_Step1", 1, b"", None)[0],
            "read_null_key": lib.raw("iReadCard_HSM_Step2", None)[0],
            "read_null_out": lib.dll.iReadCard_HSM_Step1(1, b"", b"SSSEEF05|$", None),
            "read_itype": lib.raw("iReadCard_HSM_Step1", 7, b"", b"SSSEEF05|$")[0],
            "read_step2_first": lib.raw("iReadCard_HSM_Step2", b"00|")[0],
            "read_unknown_file": lib.raw("iReadCard_HSM_Step1", 1, b"", b"DF09EF99|01|$")[0],
            "read_bad_addr": lib.raw("iReadCard_HSM_Step1", 1, b"", b"SSSEEF05|07")[0],
            "read_not_gbk": lib.raw("iReadCard_HSM_Step1", 1, b"\xff\xfe|", b"SSSEEF05|$")[0],
            "write_null_data": lib.raw("iWriteCard_HSM_Step2", b"00", None)[0],
            "write_step2_first": lib.raw("iWriteCard_HSM_Step2", b"00" * 16, b"SSSEEF06|A|$")[0],
            "write_bad_hex": [lib.raw("iWriteCard_HSM_Step1", 1, b"", b"SSSEEF06|09|$")[0],
                              lib.raw("iWriteCard_HSM_Step2", b"zz" * 16, b"SSSEEF06|A|$")[0]],
            "write_mac_file": lib.raw("iWriteCard_HSM_Step1", 1, b"", b"DF04EF05|81|$")[0],
            "unblock_null_info": lib.raw("iUnblockPIN_HSM_Step1", 1, None)[0],
            "unblock_step3_first": lib.raw("iUnblockPIN_HSM_Step3", b"00" * 4)[0],
            "unblock_bad_length": [lib.raw("iUnblockPIN_HSM_Step1", 1, b"")[0],
                                   lib.raw("iUnblockPIN_HSM_Step2", b"00" * 15)[0]],
            "bas_null_data": lib.raw("iWriteCardBasExt", 1, b"", None)[0],
            "bas_fields": lib.raw("iWriteCardBasExt", 1, b"", b"a|b|")[0],
            "bas_not_gbk": lib.raw("iWriteCardBasExt", 1, b"", b"||||||\x81\x7f|||||")[0],
            "bas_step1_first": lib.raw("iWriteCardBas_HSM_Step1", b"00" * 16, b"||||||A|||||")[0],
            "bas_null_key": [lib.raw("iWriteCardBas", 1)[0], lib.raw("iWriteCardBas_HSM_Step1", None, b"")[0]],
            "bas_null_info": [lib.raw("iWriteCardBas", 1)[0], lib.raw("iWriteCardBas_HSM_Step1", b"00" * 16, None)[0]],
            "bas_itype": lib.raw("iWriteCardBas", 9)[0],
            "read_small_buffer": [lib.raw("iReadCard_HSM_Step1", 1, b"", b"SSSEEF05|07|$", size=16)[0],
                                  lib.raw("iReadCard_HSM_Step1", 1, b"", b"SSSEEF05|07|$", size=16)[1].split(b"|")[0].decode()],
            "still_works": lib.iReadCardBas(1)[0],
        }
    """, env)
    need = int(got["read_small_buffer"][1])
    assert got == {"read_null_addr": -14, "read_null_key": -14, "read_null_out": -14, "read_itype": -14,
                   "read_step2_first": -23, "read_unknown_file": -0x6A82, "read_bad_addr": -23, "read_not_gbk": -41,
                   "write_null_data": -14, "write_step2_first": -23, "write_bad_hex": [0, -23],
                   "write_mac_file": -13, "unblock_null_info": -14, "unblock_step3_first": -23,
                   "unblock_bad_length": [0, -23], "bas_null_data": -14, "bas_fields": -23, "bas_not_gbk": -41,
                   "bas_step1_first": -23, "bas_null_key": [0, -14], "bas_null_info": [0, -14], "bas_itype": -14,
                   "bas_itype_as_int": -14,
                   "read_small_buffer": [-42, str(need)], "still_works": 0}
    assert need > 16


def test_pki_functions_through_ctypes(native_lib, lib_env):
    """PKI_GetCert and PKI_SignData on the gen3 demo card: GBK data in, base64 DER out; a wrong PIN is -51."""
    from pysmx import SM2 as ThirdPartySM2

    from firmware_sim.apps.pki import PkiData
    from firmware_sim.demo import demo_card
    from protocols import sm2
    got = ffi("""
        cert = lib.PKI_GetCert(3)
        signed = lib.PKI_SignData("123456", "社保卡签名", 1)
        wrong = lib.PKI_SignData("000000", "x", 1)
        result = [cert[0], cert[1], signed[0], signed[1], wrong[0], wrong[1]]
    """, {**lib_env, "SSCARD_READER": "sim:shenzhen-gen3"})
    cert_code, cert, code, out, wrong_code, wrong = got
    data = demo_card("shenzhen-gen3").apps["pki"]
    assert isinstance(data, PkiData)
    assert cert_code == 0 and base64.b64decode(cert.split("|")[0]) == data.sign_certificate
    signature = sm2.signature_raw(base64.b64decode(out.rstrip("|")))
    assert code == 0 and ThirdPartySM2.Verify(signature, "社保卡签名".encode("gbk"), data.sign_public_key, 64,
                                              uid=sm2.DEFAULT_ID)
    assert (wrong_code, wrong) == (-51, "2|wrong PIN, 2 tries left|")


def test_pki_verify_sign_through_ctypes(native_lib, lib_env):
    """PKI_VerifySign of what PKI_SignData made: 1| and 0 when it verifies (the card's certificate read from the card
    or given as base64), 0| and -22 for a changed text or another key's signature, -23/-14 for bad inputs."""
    from protocols import sm2
    private, public = sm2.generate_keypair()
    other = base64.b64encode(sm2.signature_der(sm2.sign(private, public, "社保卡签名".encode("gbk")))).decode()
    got = ffi(f"""
        cert = lib.PKI_GetCert(1)[1].split("|")[0]
        sig = lib.PKI_SignData("123456", "社保卡签名", 1)[1]
        result = {{
            "own_cert": lib.PKI_VerifySign("", "", "社保卡签名", sig, 1),
            "given_cert": lib.PKI_VerifySign("", cert, "社保卡签名", sig.rstrip("|"), 3),
            "changed_text": lib.PKI_VerifySign("", cert, "社保卡签名!", sig, 1),
            "other_key": lib.PKI_VerifySign("", "", "社保卡签名", {other!r}, 1),
            "bad_base64": [lib.PKI_VerifySign("", cert, "x", "not base64!", 1)[0],
                           lib.PKI_VerifySign("", "@@", "x", sig, 1)[0]],
            "bad_der": lib.PKI_VerifySign("", "", "x", "MAMCAQE=", 1)[0],
            "not_gbk": lib.raw("PKI_VerifySign", b"", b"", b"\\x81\\x7f", sig.encode(), 1)[0],
            "nulls": [lib.raw("PKI_VerifySign", b"", None, b"x", sig.encode(), 1)[0],
                      lib.raw("PKI_VerifySign", b"", b"", None, sig.encode(), 1)[0],
                      lib.raw("PKI_VerifySign", b"", b"", b"x", None, 1)[0],
                      lib.raw("PKI_VerifySign", None, b"", b"x", sig.encode(), 1)[0],
                      lib.dll.PKI_VerifySign(b"", b"", b"x", sig.encode(), 1, None)],
            "itype": lib.PKI_VerifySign("", cert, "社保卡签名", sig, 7)[0],
            "small_buffer": lib.raw("PKI_VerifySign", b"", cert.encode(), "社保卡签名".encode("gbk"),
                                    sig.encode(), 1, size=2)[0],
        }}
    """, {**lib_env, "SSCARD_READER": "sim:shenzhen-gen3"})
    assert got == {"own_cert": [0, "1|"], "given_cert": [0, "1|"], "changed_text": [-22, "0|"],
                   "other_key": [-22, "0|"], "bad_base64": [-23, -23], "bad_der": -23, "not_gbk": -41,
                   "nulls": [-14, -14, -14, -14, -14], "itype": -14, "small_buffer": -42}


# --- the purse debit through the HSM (docs/sources.md §6.4) ----------------------------------------------------------
def test_debit_hsm_steps_across_calls(native_lib, lib_env, card):
    """Step 1 asks the PIN from the callback; the software HSM's answer crosses into Step 2 as GBK bytes; MAC2 checks."""
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi("""
        from firmware_sim.hsm import SoftwareHsm
        hsm = SoftwareHsm(transaction_number=7)
        prompts = lib.set_pins("123456", "123456")
        c1, step1 = lib.iDoDebit_HSM_Step1(1, "", "1.00|1.00|20240501103000|440100000001|")
        c2, out = lib.iDoDebit_HSM_Step2(hsm.debit_mac1(step1))
        result = [c1, step1.split("|")[1:8], c2, out.split("|")[:7], hsm.check_mac2(step1, out),
                  lib.iReadDebitRecord(1), prompts]
    """, env)
    assert got[0] == 0 and got[1][0] == "004201" and got[1][3:] == ["00000064", "06", "440100000001", "20240501103000"]
    assert got[2] == 0 and got[3] == ["1234.56", "1.00", "1233.56", "0000", "440100000001", "00000007",
                                      "20240501103000"]
    assert got[4] is True
    assert got[5] == [0, "0000|1.00|06|440100000001|20240501103000|$"] and got[6] == [1, 1]


def test_debit_hsm_exports_refuse_bad_inputs(native_lib, lib_env, card):
    env = dict(lib_env, SSCARD_READER=f"sim:{card}")
    got = ffi(r"""
        lib.set_pins(*["123456"] * 4)
        pay = b"1.00||20240501103000|440100000001|"
        result = {
            "null_info": lib.raw("iDoDebit_HSM_Step1", 1, None, pay)[0],
            "null_pay": lib.raw("iDoDebit_HSM_Step1", 1, b"", None)[0],
            "null_out": lib.dll.iDoDebit_HSM_Step1(1, b"", pay, None),
            "null_key": lib.raw("iDoDebit_HSM_Step2", None)[0],
            "itype": lib.raw("iDoDebit_HSM_Step1", 9, b"", pay)[0],
            "step2_first": lib.raw("iDoDebit_HSM_Step2", b"00000000|20240501103000|00000000|")[0],
            "bad_pay": lib.raw("iDoDebit_HSM_Step1", 1, b"", b"1,00||20240501103000|")[0],
            "not_gbk": lib.raw("iDoDebit_HSM_Step1", 1, b"", b"\x81\x7f|||")[0],
            "bad_hex": [lib.raw("iDoDebit_HSM_Step1", 1, b"", pay)[0],
                        lib.raw("iDoDebit_HSM_Step2", b"zz000000|20240501103000|00000000|")[0]],
            "wrong_mac1": [lib.raw("iDoDebit_HSM_Step1", 1, b"", pay)[0],
                           lib.raw("iDoDebit_HSM_Step2", b"00000000|20240501103000|00000000|")[0]],
            "small_buffer": lib.raw("iDoDebit_HSM_Step1", 1, b"", pay, size=16)[0],
        }
    """, env)
    assert got == {"null_info": -14, "null_pay": -14, "null_out": -14, "null_key": -14, "itype": -14,
                   "step2_first": -23, "bad_pay": -23, "not_gbk": -41, "bad_hex": [0, -23],
                   "wrong_mac1": [0, -0x9302], "small_buffer": -42}
    from firmware_sim.image import load_card
    purse = load_card(card).dfs["DF04"]
    assert purse.purse is not None and purse.purse.balance == 123456 and purse.keys[1].tries_left == 2
