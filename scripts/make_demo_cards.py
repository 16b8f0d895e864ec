"""Regenerate the demo card and PSAM images in firmware_sim/demo/ (deterministic)."""
from __future__ import annotations

from firmware_sim.demo import DEMO_DIR, DEMO_PEOPLE, DEMO_PURSE_BALANCE, card_path, psam_path
from firmware_sim.image import atomic_write, dumps
from firmware_sim.issuance.personalise import new_card, new_psam

for i, (stem, (region, prof, serial, person)) in enumerate(DEMO_PEOPLE.items(), start=1):
    photo = (DEMO_DIR / f"photo-{i}.jpg").read_bytes()
    card = new_card(person, profile=prof, region=region, serial=serial, photo=photo,
                    purse_balance=DEMO_PURSE_BALANCE[stem])
    atomic_write(card_path(stem), dumps(card.to_json()))
    psam = new_psam(region, terminal=region + "000001", serial=i)
    atomic_write(psam_path(region), dumps(psam.to_json()))
    print(card_path(stem).name, psam_path(region).name)

from protocols.crypto import Alg  # noqa: E402
from protocols.keys import test_issuer_keys  # noqa: E402

for alg in (Alg.DES3, Alg.SM4):
    path = DEMO_DIR / f"issuer-test-{alg.name.lower()}.json"
    atomic_write(path, test_issuer_keys(alg).to_json())
    print(path.name)
