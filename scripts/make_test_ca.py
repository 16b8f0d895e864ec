"""Make a new test CA for the PKI application: firmware_sim/demo/pki-test-ca.json (key and certificate) and
pki-test-ca.pem (the certificate). TEST ONLY: the private key is written in the clear. Regenerate the demo cards
afterwards (scripts/make_demo_cards.py): their certificates name the CA's key."""
from __future__ import annotations

import json

from firmware_sim.image import atomic_write
from firmware_sim.issuance.ca import CA_FILE, CA_PEM, TestCA
from protocols import x509

ca = TestCA.create()
atomic_write(CA_FILE, json.dumps(ca.to_json(), indent=1) + "\n")
atomic_write(CA_PEM, x509.to_pem(ca.certificate))
print(CA_FILE.name, CA_PEM.name, x509.name_text(ca.cert.subject))
