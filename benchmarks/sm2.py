"""SM2 sign and verify per second for each SM2 library on PyPI that installs from wheels here.

    .venv/bin/python benchmarks/sm2.py [--seconds S]

``cryptography`` has no SM2, so sscard needs another library (docs/design.md §3.4 "the library"). The candidates,
as PyPI has them:

* ``gmssl-pyx`` — a C extension of GmSSL 3.2.0, statically linked in the wheel (sscard's choice);
* ``gmssl-fast`` — a Rust extension over GmSSL, statically linked;
* ``tongsuopy`` — Tongsuo (an OpenSSL fork) through cffi, the library bundled in the wheel;
* ``gmssl`` — pure Python;
* ``snowland-smx`` (``pysmx``) — pure Python (the independent implementation the tests verify signatures with).

``gmssl-python`` and ``pygmssl`` load a GmSSL shared library through ctypes that neither the wheel nor Debian
provides (GmSSL would have to be built from its sources), so they are not measured. A library that is not
installed is reported and skipped: ``pip install gmssl-fast tongsuopy gmssl`` in the venv to measure all of them.

What is measured: signing a 32-byte SM3 digest e (what the card does, GM/T 0003.2 §6.1 steps A3–A7) and
verifying it, with one key pair, as many times as fit in ``--seconds`` (default 1) per figure; libraries that only
sign whole messages (tongsuopy, gmssl-fast) sign a 32-byte message, which adds Z and one SM3 to each operation.
Each figure is the best of 3 such runs. Every library's signature is also checked with gmssl-pyx (interop).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

MESSAGE = bytes(range(32))
ID = b"1234567812345678"          # GM/T 0009-2012 §10: the default user identity


@dataclass
class Candidate:
    name: str                      # the PyPI name
    module: str                    # what it imports as
    kind: str
    setup: Callable[[], tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]]


def _rate(op: Callable[[], object], seconds: float) -> float:
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            op()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, n / elapsed)
    return best


def _digest(public: bytes) -> bytes:
    """e = SM3(Z ‖ M) for MESSAGE (GM/T 0003.2 §6.1 A1–A2), through gmssl-pyx's own SM3."""
    import gmssl_pyx
    a = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
    b = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
    g = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
                      "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
    z = gmssl_pyx.sm3_hash((len(ID) * 8).to_bytes(2, "big") + ID + a + b + g + public)
    return bytes(gmssl_pyx.sm3_hash(z + MESSAGE))


def _gmssl_pyx() -> tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]:
    import gmssl_pyx
    public, private = gmssl_pyx.sm2_key_generate()
    e = _digest(public)
    return (lambda: gmssl_pyx.sm2_sign_sm3_digest(private, e),
            lambda sig: gmssl_pyx.sm2_verify_sm3_digest(public, e, sig), public, e)


def _gmssl_fast() -> tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]:
    import gmssl_fast
    key = gmssl_fast.SM2.generate()
    public = bytes.fromhex(key.public_key_hex or "")[1:]
    return (lambda: _der(key.sign(MESSAGE)), lambda sig: key.verify(MESSAGE, _raw(sig)), public, b"")


def _tongsuopy() -> tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]:
    from tongsuopy.crypto import hashes, serialization
    from tongsuopy.crypto.asymciphers import ec
    key = ec.generate_private_key(ec.SM2())
    pub = key.public_key()
    public = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]
    algorithm = ec.ECDSA(hashes.SM3())

    def verify(sig: bytes) -> bool:
        pub.verify(sig, MESSAGE, algorithm)     # raises when the signature is wrong
        return True
    return lambda: key.sign(MESSAGE, algorithm), verify, public, b""


def _gmssl() -> tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]:
    import gmssl_pyx
    from gmssl import sm2
    public, private = gmssl_pyx.sm2_key_generate()
    e = _digest(public)
    crypt = sm2.CryptSM2(private_key=private.hex(), public_key=public.hex())
    return (lambda: _der(bytes.fromhex(crypt.sign(e, os.urandom(32).hex()))),
            lambda sig: bool(crypt.verify(_raw(sig).hex(), e)), public, e)


def _pysmx() -> tuple[Callable[[], bytes], Callable[[bytes], bool], bytes, bytes]:
    import gmssl_pyx
    from pysmx import SM2
    public, private = gmssl_pyx.sm2_key_generate()
    e = _digest(public)
    return (lambda: _der(SM2.Sign(e, private, os.urandom(32).hex(), 64)),
            lambda sig: bool(SM2.Verify(_raw(sig), e, public, 64)), public, e)


def _der(rs: bytes) -> bytes:
    """r ‖ s (64 bytes) as GM/T 0009 §7.3's SEQUENCE { INTEGER r, INTEGER s }."""
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes((len(b),)) + b
    body = integer(rs[:32]) + integer(rs[32:])
    return b"\x30" + bytes((len(body),)) + body


def _raw(der: bytes) -> bytes:
    """The DER signature back to r ‖ s."""
    out, i = b"", 2
    for _ in range(2):
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\x00").rjust(32, b"\x00")
        i += 2 + n
    return out


CANDIDATES = (
    Candidate("gmssl-pyx", "gmssl_pyx", "C (GmSSL 3.2.0, static)", _gmssl_pyx),
    Candidate("gmssl-fast", "gmssl_fast", "Rust + C (GmSSL, static)", _gmssl_fast),
    Candidate("tongsuopy", "tongsuopy", "C (Tongsuo, bundled)", _tongsuopy),
    Candidate("gmssl", "gmssl", "pure Python", _gmssl),
    Candidate("snowland-smx", "pysmx", "pure Python", _pysmx),
)


def _interop(public: bytes, e: bytes, sig: bytes) -> str:
    """Whether gmssl-pyx verifies a signature another library made (over e, or over MESSAGE with Z)."""
    import gmssl_pyx
    ok = (gmssl_pyx.sm2_verify_sm3_digest(public, e, sig) if e
          else gmssl_pyx.sm2_verify(public, MESSAGE, sig, ID))
    return "yes" if ok else "NO"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per figure and run (default 1)")
    args = ap.parse_args()
    if importlib.util.find_spec("gmssl_pyx") is None:
        raise SystemExit("gmssl-pyx (sscard's SM2 library) is not installed: make setup")
    print(f"SM2 with one key pair; best of 3 runs of {args.seconds:g} s per figure; interop: gmssl-pyx verifies "
          "the library's signature")
    print(f"{'library':14} {'kind':26} {'sign/s':>9} {'verify/s':>9}  interop")
    base = 0.0
    for c in CANDIDATES:
        if importlib.util.find_spec(c.module) is None:
            print(f"{c.name:14} {c.kind:26} {'-':>9} {'-':>9}  not installed (pip install {c.name})")
            continue
        sign, verify, public, e = c.setup()
        sig = sign()
        if not verify(sig):
            print(f"{c.name:14} {c.kind:26} its own signature did not verify")
            continue
        sign_rate = _rate(sign, args.seconds)
        verify_rate = _rate(functools.partial(verify, sig), args.seconds)
        base = base or sign_rate
        print(f"{c.name:14} {c.kind:26} {sign_rate:9.0f} {verify_rate:9.0f}  {_interop(public, e, sig)}"
              f"   (sign: {sign_rate / base:.2g}× gmssl-pyx)")


if __name__ == "__main__":
    main()
