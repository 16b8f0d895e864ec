"""``sscard pki cert|sign``: the gen3 card's PKI application: its signing certificate, and signatures it makes.

``pki cert`` shows the certificate of file 0018 (subject, issuer, serial number, validity, public key, key usage)
and ``--out FILE`` writes it, DER, or PEM for a name ending in ``.pem`` or with ``--pem``; ``--ca FILE`` checks
that the CA certificate in FILE signed it. ``pki sign FILE`` signs the file's bytes with the card's signing key
after the user PIN, given as for ``sscard pin`` (``--pin``, else a line of standard input, else a prompt; the
PKI PIN block is made on the host, so a reader's PIN pad is not used). The signature is SM2 with SM3 over
e = SM3(Z ‖ M), Z of the card's key and the default ID 1234567812345678 (GM/T 0009-2012 §10), written as DER
``SEQUENCE { r, s }`` (GM/T 0009-2012 §7.3; ``--raw``: r ‖ s, 64 bytes), in hex on standard output or as bytes
to ``--out``. ``openssl dgst -sm3 -verify card.pem -sigopt distid:1234567812345678 -signature SIG FILE``
verifies it with the public key of ``pki cert --out``'s certificate. docs/design.md §3.4.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from host.cli.columns import label_table
from host.cli.exits import EXIT_CARD, EXIT_OK
from host.cli.options import check_pin_flags, on_terminal, reader_arg, read_pin
from host.pki import verify_quietly
from protocols import x509
from protocols.errors import MalformedFrame

LABELS = (
    ("subject", "主题", "Subject"), ("issuer", "签发者", "Issuer"), ("serial", "序列号", "Serial number"),
    ("not_before", "有效期自", "Valid from"), ("not_after", "有效期至", "Valid until"),
    ("public_key", "公钥", "Public key"), ("key_usage", "密钥用法", "Key usage"),
    ("algorithm", "签名算法", "Signature algorithm"),
)


def certificate_view(cert: x509.Certificate) -> dict[str, str]:
    """The certificate's fields as ``pki cert`` shows them (``--json`` keeps these keys)."""
    return {
        "subject": x509.name_text(cert.subject), "issuer": x509.name_text(cert.issuer),
        "serial": f"{cert.serial:X}", "not_before": cert.not_before.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "not_after": cert.not_after.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "public_key": "SM2 04" + cert.public_key.hex().upper(), "key_usage": ", ".join(cert.key_usage),
        "algorithm": f"SM2 with SM3 ({x509.SM2_WITH_SM3})",
    }


def format_certificate(view: dict[str, str]) -> str:
    rows = [row for row in LABELS + (("ca", "CA 检查", "CA check"),) if row[0] in view]
    return label_table([(f"{zh} {en}", view[key]) for key, zh, en in rows])


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("pki", help="the gen3 card's PKI application: its certificate, signatures (SM2)")
    psub = sp.add_subparsers(dest="pki_command", required=True)
    cert = psub.add_parser("cert", help="show the card's signing certificate (file 0018); --out writes it")
    reader_arg(cert)
    cert.add_argument("--out", "-o", metavar="FILE", help="write the certificate: DER, or PEM for *.pem or --pem")
    cert.add_argument("--pem", action="store_true", help="write PEM whatever FILE's name")
    cert.add_argument("--ca", metavar="CA_CERT", help="check that this CA certificate (PEM or DER) signed it")
    cert.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    cert.set_defaults(func=cmd_cert)
    sign = psub.add_parser("sign", help="sign a file with the card's signing key (SM2 with SM3) after the PIN")
    reader_arg(sign)
    sign.add_argument("file", metavar="FILE", help="the data to sign")
    sign.add_argument("--pin", help="the PKI application's user PIN; read from stdin or prompted when absent")
    sign.add_argument("--out", "-o", metavar="SIG", help="write the signature's bytes here instead of hex")
    sign.add_argument("--raw", action="store_true", help="r ‖ s (64 bytes) instead of DER SEQUENCE { r, s }")
    sign.add_argument("--json", action="store_true", help="one JSON object: signature, format, digest, key, ID")
    sign.set_defaults(func=cmd_sign)


def _ca_check(cert: x509.Certificate, path: str) -> str:
    """One line saying whether the CA certificate in ``path`` signed ``cert``."""
    try:
        ca = x509.parse(x509.from_pem_or_der(Path(path).read_bytes()))
    except MalformedFrame as exc:
        raise ValueError(f"--ca {path}: not an SM2 certificate ({exc})") from None
    if ca.subject != cert.issuer:
        return f"not issued by {path} (its subject is not the certificate's issuer)"
    if not verify_quietly(lambda: cert.signed_by(ca.public_key)):
        return f"the signature does NOT verify with {path}'s key"
    return f"signed by {path} ({x509.name_text(ca.subject)})"


def cmd_cert(args: argparse.Namespace) -> int:
    der = on_terminal(args, lambda term: term.read_pki_certificate())
    if not der:
        print("sscard: the card holds no signing certificate (file 0018 is empty)", file=sys.stderr)
        return EXIT_CARD
    try:
        cert = x509.parse(der)
    except MalformedFrame as exc:
        print(f"sscard: file 0018 does not hold an SM2 certificate ({exc})", file=sys.stderr)
        return EXIT_CARD
    view = certificate_view(cert)
    if args.ca:
        view["ca"] = _ca_check(cert, args.ca)
    if args.json:
        print(json.dumps(view, ensure_ascii=False))
    else:
        print(format_certificate(view))
    now = _dt.datetime.now(_dt.UTC)
    if not cert.valid_at(now):
        state = "has expired" if now > cert.not_after else "is not valid yet"
        print(f"sscard: 警告 warning: the certificate {state} ({view['not_before']} – {view['not_after']})",
              file=sys.stderr)
    if args.out:
        out = Path(args.out)
        pem = args.pem or out.suffix.lower() == ".pem"
        out.write_bytes(x509.to_pem(der).encode("ascii") if pem else der)
        print(f"certificate written to {out} ({'PEM' if pem else 'DER'}, {len(der)} bytes of DER)",
              file=sys.stderr if args.json else sys.stdout)
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    check_pin_flags(args, "pin")                     # before the reader is opened
    try:
        message = Path(args.file).read_bytes()
    except OSError as exc:
        raise ValueError(f"{args.file}: {exc.strerror or exc}") from None
    pin = read_pin(args)
    signature = on_terminal(args, lambda term: term.pki_sign(message, pin))
    data = signature.raw if args.raw else signature.der
    kind = "r‖s" if args.raw else "DER"
    if args.out:
        Path(args.out).write_bytes(data)
    if args.json:
        print(json.dumps({"signature": data.hex().upper(), "format": "raw" if args.raw else "der",
                          "digest": signature.digest.hex().upper(), "public_key": signature.public_key.hex().upper(),
                          "id": signature.uid.decode("ascii"), "algorithm": x509.SM2_WITH_SM3}))
    elif args.out:
        print(f"signature ({kind}, {len(data)} bytes) written to {args.out}")
    else:
        print(data.hex().upper())
    return EXIT_OK
