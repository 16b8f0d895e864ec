"""X.509 certificates with SM2 keys and SM2-with-SM3 signatures: built for the test CA, read for the terminal.

The shape is GM/T 0015-2012 §5.2 (the SM2 profile of RFC 5280 §4.1): signature algorithm
``1.2.156.10197.1.501`` (SM2 with SM3, no parameters), subject key ``id-ecPublicKey`` (1.2.840.10045.2.1, RFC 5480
§2.1.1) with the SM2 curve ``1.2.156.10197.1.301`` as its parameters and the uncompressed point ``04 ‖ X ‖ Y`` as
the key, the signature a DER ``SEQUENCE { r, s }`` (GM/T 0009-2012 §7.3) computed over the DER TBSCertificate
with Z of the issuer's key and the default ID (GM/T 0009-2012 §10). A card's signing certificate follows the one
real social security card certificate public code shows ([S8], docs/sources.md §7): version 3, a 16-byte serial,
C / ST / L / CN names in UTF8String, authority and subject key identifiers and a key usage of digitalSignature and
nonRepudiation. Key identifiers are RFC 5280 §4.2.1.2 method (1): the SHA-1 of the key's BIT STRING.

Sans-I/O: bytes and dates in, bytes and a :class:`Certificate` out; reading raises ``MalformedFrame`` naming what
is wrong.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from dataclasses import dataclass

from protocols import asn1, sm2
from protocols.errors import MalformedFrame

SM2_WITH_SM3 = "1.2.156.10197.1.501"     # GM/T 0006-2012; GM/T 0015-2012 §5.2
SM2_CURVE = "1.2.156.10197.1.301"        # GM/T 0006-2012: the SM2 curve (as the key's parameters)
EC_PUBLIC_KEY = "1.2.840.10045.2.1"      # RFC 5480 §2.1.1

#: Attribute types of names, by the short names RFC 4514 §3 gives them (X.520).
ATTRIBUTES: dict[str, str] = {"C": "2.5.4.6", "ST": "2.5.4.8", "L": "2.5.4.7", "O": "2.5.4.10",
                              "OU": "2.5.4.11", "CN": "2.5.4.3", "serialNumber": "2.5.4.5"}
_ATTRIBUTE_NAMES = {v: k for k, v in ATTRIBUTES.items()}
_PRINTABLE_ATTRIBUTES = frozenset({"C", "serialNumber"})        # RFC 5280 Appendix A: PrintableString

_BASIC_CONSTRAINTS, _KEY_USAGE = "2.5.29.19", "2.5.29.15"
_SUBJECT_KEY_ID, _AUTHORITY_KEY_ID = "2.5.29.14", "2.5.29.35"
#: KeyUsage bits (RFC 5280 §4.2.1.3), in bit order.
KEY_USAGES = ("digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
              "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly")
SIGNING = ("digitalSignature", "nonRepudiation")
CA_USAGES = ("keyCertSign", "cRLSign")

Name = tuple[tuple[str, str], ...]      # ((short name, value), …) in the order the certificate holds them


@dataclass(frozen=True)
class Certificate:
    """A parsed certificate (what ``sscard pki cert`` shows) and the parts its signature covers."""

    der: bytes
    tbs: bytes                      # the DER TBSCertificate, what the issuer signed
    version: int                    # 3 for v3
    serial: int
    issuer: Name
    subject: Name
    not_before: _dt.datetime
    not_after: _dt.datetime
    public_key: bytes               # X ‖ Y
    signature: bytes                # r ‖ s
    key_usage: tuple[str, ...]      # () when the certificate has no key usage extension
    is_ca: bool
    subject_key_id: bytes
    authority_key_id: bytes

    def signed_by(self, issuer_public_key: bytes) -> bool:
        """Whether the issuer's key signed it (SM2 with SM3, Z of the issuer's key and the default ID)."""
        return sm2.verify(issuer_public_key, self.tbs, self.signature)

    def valid_at(self, moment: _dt.datetime) -> bool:
        return self.not_before <= moment <= self.not_after


def name_text(name: Name) -> str:
    """A name as one line, most significant part first: ``C=CN, ST=广东省, CN=林婉婷``."""
    return ", ".join(f"{k}={v}" for k, v in name)


def key_identifier(public_key: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value (``04 ‖ X ‖ Y``)."""
    return hashlib.sha1(b"\x04" + sm2.check_public_key(public_key)).digest()


def to_pem(der: bytes) -> str:
    """RFC 7468 §5: ``-----BEGIN CERTIFICATE-----``, base64 in 64-character lines."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def from_pem_or_der(data: bytes) -> bytes:
    """The DER of a certificate given as DER or PEM (the first CERTIFICATE block); ``MalformedFrame`` otherwise."""
    head = b"-----BEGIN CERTIFICATE-----"
    if head not in data:
        return data
    body = data.split(head, 1)[1].split(b"-----END CERTIFICATE-----", 1)
    if len(body) != 2:
        raise MalformedFrame("PEM: no END CERTIFICATE line")
    try:
        return base64.b64decode(b"".join(body[0].split()), validate=True)
    except ValueError:
        raise MalformedFrame("PEM: not base64") from None


# --- building ---------------------------------------------------------------------------------------------------
def _algorithm() -> bytes:
    return asn1.sequence(asn1.oid(SM2_WITH_SM3))


def encode_name(name: Name) -> bytes:
    """RDNSequence, one attribute per RDN, in the order given (RFC 5280 §4.1.2.4)."""
    rdns = []
    for key, value in name:
        if key not in ATTRIBUTES:
            raise ValueError(f"name attribute {key!r} (known: {', '.join(ATTRIBUTES)})")
        text = asn1.printable_string(value) if key in _PRINTABLE_ATTRIBUTES else asn1.utf8_string(value)
        rdns.append(asn1.set_of(asn1.sequence(asn1.oid(ATTRIBUTES[key]), text)))
    return asn1.sequence(*rdns)


def encode_public_key(public_key: bytes) -> bytes:
    """SubjectPublicKeyInfo of an SM2 key (GM/T 0015-2012 §5.2; RFC 5480 §2)."""
    return asn1.sequence(asn1.sequence(asn1.oid(EC_PUBLIC_KEY), asn1.oid(SM2_CURVE)),
                         asn1.bit_string(b"\x04" + sm2.check_public_key(public_key)))


def _key_usage(usages: tuple[str, ...]) -> bytes:
    """KeyUsage as a DER BIT STRING: trailing zero bits dropped (X.690 §11.2.2)."""
    bits = 0
    for usage in usages:
        bits |= 1 << (15 - KEY_USAGES.index(usage))
    body = bits.to_bytes(2, "big").rstrip(b"\x00")
    return asn1.bit_string(body, ((body[-1] & -body[-1]).bit_length() - 1) if body else 0)


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    return asn1.sequence(asn1.oid(oid), *((asn1.boolean(True),) if critical else ()), asn1.octet_string(value))


def build_tbs(*, serial: int, issuer: Name, subject: Name, not_before: _dt.datetime, not_after: _dt.datetime,
              public_key: bytes, issuer_key_id: bytes, ca: bool = False) -> bytes:
    """A v3 TBSCertificate (RFC 5280 §4.1.2): an end entity's signing key, or (``ca``) a CA's."""
    if not 0 < serial < 1 << 159:
        raise ValueError("a serial number is positive and at most 20 bytes (RFC 5280 §4.1.2.2)")
    if not_after <= not_before:
        raise ValueError("notAfter must be after notBefore")
    subject_key_id = key_identifier(public_key)
    extensions = [
        _extension(_AUTHORITY_KEY_ID, asn1.sequence(asn1.implicit(0, issuer_key_id))),
        _extension(_SUBJECT_KEY_ID, asn1.octet_string(subject_key_id)),
        _extension(_KEY_USAGE, _key_usage(CA_USAGES if ca else SIGNING), critical=True),
    ]
    if ca:
        extensions.append(_extension(_BASIC_CONSTRAINTS, asn1.sequence(asn1.boolean(True)), critical=True))
    return asn1.sequence(
        asn1.explicit(0, asn1.integer(2)), asn1.integer(serial), _algorithm(), encode_name(issuer),
        asn1.sequence(asn1.time(not_before), asn1.time(not_after)), encode_name(subject),
        encode_public_key(public_key), asn1.explicit(3, asn1.sequence(*extensions)))


def assemble(tbs: bytes, signature: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (RFC 5280 §4.1.1)."""
    return asn1.sequence(tbs, _algorithm(), asn1.bit_string(sm2.signature_der(signature)))


# --- reading ----------------------------------------------------------------------------------------------------
def _read_name(value: bytes) -> Name:
    out = []
    for rdn in asn1.expect_all(asn1.items(value), asn1.SET, "name"):
        for atv in asn1.expect_all(asn1.items(rdn), asn1.SEQUENCE, "name attribute"):
            parts = asn1.items(atv)
            if len(parts) != 2 or parts[0][0] != asn1.OID:
                raise MalformedFrame("name attribute: expected its type and value")
            oid = asn1.read_oid(parts[0][1])
            out.append((_ATTRIBUTE_NAMES.get(oid, oid), asn1.read_string(*parts[1])))
    return tuple(out)


def _read_public_key(value: bytes) -> bytes:
    algorithm, key = asn1.expect(asn1.items(value), asn1.SEQUENCE, asn1.BIT_STRING, what="subject public key")
    parts = asn1.items(algorithm)
    oids = [asn1.read_oid(v) for t, v in parts if t == asn1.OID]
    if oids not in ([EC_PUBLIC_KEY, SM2_CURVE], [SM2_CURVE]):
        raise MalformedFrame(f"the subject key is not an SM2 key ({', '.join(oids) or 'no algorithm'})")
    point = asn1.read_bit_string(key)
    if len(point) != 65 or point[0] != 0x04:
        raise MalformedFrame("the SM2 key is not an uncompressed point 04 ‖ X ‖ Y")
    try:
        return sm2.check_public_key(point[1:])
    except ValueError as exc:
        raise MalformedFrame(f"the SM2 key: {exc}") from None


def _read_algorithm(value: bytes, what: str) -> None:
    parts = asn1.items(value)
    if not parts or parts[0][0] != asn1.OID or asn1.read_oid(parts[0][1]) != SM2_WITH_SM3:
        raise MalformedFrame(f"{what} is not SM2 with SM3 ({SM2_WITH_SM3})")


def _read_extensions(value: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for ext in asn1.expect_all(asn1.items(asn1.one(value, asn1.SEQUENCE, "extensions")), asn1.SEQUENCE,
                               "extension"):
        parts = asn1.items(ext)
        if not parts or parts[0][0] != asn1.OID or parts[-1][0] != asn1.OCTET_STRING:
            raise MalformedFrame("an extension without its identifier or value")
        out[asn1.read_oid(parts[0][1])] = parts[-1][1]
    return out


def _read_key_usage(value: bytes) -> tuple[str, ...]:
    body = asn1.one(value, asn1.BIT_STRING, "key usage")
    if not body or body[0] > 7:
        raise MalformedFrame("key usage: not a BIT STRING")
    bits = int.from_bytes(body[1:].ljust(2, b"\x00")[:2], "big")
    return tuple(u for i, u in enumerate(KEY_USAGES) if bits & (1 << (15 - i)))


def parse(der: bytes) -> Certificate:
    """Read an SM2 certificate; ``MalformedFrame`` when it is not one (not DER, another algorithm, a bad key)."""
    tbs_value, algorithm, signature = asn1.expect(asn1.items(asn1.one(der, asn1.SEQUENCE, "certificate")),
                                                  asn1.SEQUENCE, asn1.SEQUENCE, asn1.BIT_STRING,
                                                  what="certificate")
    _read_algorithm(algorithm, "the signature algorithm")
    fields = asn1.items(tbs_value)
    version = 1
    if fields and fields[0][0] == 0xA0:
        version = asn1.read_integer(asn1.one(fields.pop(0)[1], asn1.INTEGER, "version")) + 1
    extensions: dict[str, bytes] = {}
    while fields and fields[-1][0] in (0x81, 0x82, 0xA3):       # unique IDs, extensions
        tag, value = fields.pop()
        if tag == 0xA3:
            extensions = _read_extensions(value)
    serial, inner_algorithm, issuer, validity, subject, spki = asn1.expect(
        fields, asn1.INTEGER, asn1.SEQUENCE, asn1.SEQUENCE, asn1.SEQUENCE, asn1.SEQUENCE, asn1.SEQUENCE,
        what="TBSCertificate")
    _read_algorithm(inner_algorithm, "the TBSCertificate's signature algorithm")
    times = asn1.items(validity)
    if len(times) != 2:
        raise MalformedFrame("validity: expected notBefore and notAfter")
    usage = _read_key_usage(extensions[_KEY_USAGE]) if _KEY_USAGE in extensions else ()
    is_ca = False
    if _BASIC_CONSTRAINTS in extensions:
        constraints = asn1.items(asn1.one(extensions[_BASIC_CONSTRAINTS], asn1.SEQUENCE, "basic constraints"))
        is_ca = bool(constraints) and constraints[0] == (asn1.BOOLEAN, b"\xFF")
    ski = asn1.one(extensions[_SUBJECT_KEY_ID], asn1.OCTET_STRING, "subject key identifier") \
        if _SUBJECT_KEY_ID in extensions else b""
    aki = b""
    if _AUTHORITY_KEY_ID in extensions:
        aki = next((v for t, v in asn1.items(asn1.one(extensions[_AUTHORITY_KEY_ID], asn1.SEQUENCE,
                                                      "authority key identifier")) if t == 0x80), b"")
    return Certificate(
        der=bytes(der), tbs=asn1.sequence(tbs_value), version=version, serial=asn1.read_integer(serial),
        issuer=_read_name(issuer), subject=_read_name(subject), not_before=asn1.read_time(*times[0]),
        not_after=asn1.read_time(*times[1]), public_key=_read_public_key(spki),
        signature=sm2.signature_raw(asn1.read_bit_string(signature)), key_usage=usage, is_ca=is_ca,
        subject_key_id=ski, authority_key_id=aki)


def certificate_length(head: bytes) -> int:
    """The whole length of the DER certificate whose first bytes are ``head`` (at least 4): what to read of a
    certificate file; 0 when the file holds none (all 00 or FF)."""
    if not head.strip(b"\x00\xFF"):
        return 0
    if len(head) < 2 or head[0] != asn1.SEQUENCE:
        raise MalformedFrame("the file does not start with a certificate (30 …)")
    first = head[1]
    if first < 0x80:
        return 2 + first
    k = first & 0x7F
    if not 1 <= k <= 3 or len(head) < 2 + k:
        raise MalformedFrame("the certificate's length is not a DER length of 1 to 3 bytes")
    return 2 + k + int.from_bytes(head[2:2 + k], "big")
