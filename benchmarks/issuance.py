"""Batch issuance speed (target >= 2,000 cards/s on one core).

    .venv/bin/python benchmarks/issuance.py [N] [--workers W] [--out DIR] [--durable-sample M]

Prints the end-to-end rate of ``firmware_sim.issuance.batch.run_batch`` for N synthetic people (default 2,000), a
per-card breakdown of where one core spends its time (personalisation with diversified keys, the image
as a JSON document, JSON text, the file write), the JSON formatter against ``json.dumps(indent=1)``,
and the cost of a per-file fsync (``--durable``) on a sample. Figures depend on the disk: other
processes that fsync a lot on the same file system slow file creation down.

Each figure is from one run, not a best-of or a median: the batch rate is the whole batch's (total cards over
total seconds), the per-card times are means over 1,000 cards (or N), the JSON and write times means over 500 and
``--durable-sample`` repetitions. Run it twice to see how much they move.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

from firmware_sim.image import atomic_write, dumps
from firmware_sim.issuance.batch import BatchConfig, fast_dumps, read_people, run_batch
from firmware_sim.issuance.personalise import new_card
from protocols.crypto import Alg
from protocols.keys import IssuerKeys, test_issuer_keys

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
CHECK = "10X98765432"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def ssn(i: int) -> str:
    """A well-formed 18-character citizen ID (Guangzhou, a real date, a correct check digit)."""
    body = f"440106{1950 + i % 50:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


class CityKeyCache(IssuerKeys):
    """An issuer key set that derives each region's city keys once, as ``run_batch`` does for a whole batch (the
    city keys are the same for every card of a city): the per-card breakdown then measures what a batch pays."""

    def city_keys(self, region: str) -> dict[str, bytes]:
        cache: dict[str, dict[str, bytes]] = self.__dict__.setdefault("_cities", {})
        if region not in cache:
            cache[region] = super().city_keys(region)
        return dict(cache[region])


def write_people(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "ssn", "card_number", "issue_date", "expiry_date"])
        for i in range(n):
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)] + GIVEN[(i // 7) % len(GIVEN)]
            w.writerow([name, ssn(i), f"B{i:08d}", "20240301", "20340301"])


def per_card(n: int, out: Path) -> dict[str, float]:
    """Mean microseconds per card for each stage, over ``n`` cards, one core."""
    keys = test_issuer_keys(Alg.DES3)
    issuer = CityKeyCache(keys.label, keys.alg, keys.keys)
    stages = {"personalise (new_card)": 0.0, "image to JSON document": 0.0, "JSON text (fast_dumps)": 0.0,
              "write (temp + rename)": 0.0}
    names = list(stages)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        t0 = time.perf_counter()
        card = new_card({"name": "张三", "ssn": ssn(i), "card_number": f"C{i:08d}"}, serial=i, issuer=issuer)
        t1 = time.perf_counter()
        doc = card.to_json()
        t2 = time.perf_counter()
        text = fast_dumps(doc)
        t3 = time.perf_counter()
        atomic_write(out / f"C{i:08d}.json", text, durable=False)
        t4 = time.perf_counter()
        for name, dt in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[name] += dt
    return {k: v / n * 1e6 for k, v in stages.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", help="output folder (default: a temporary folder)")
    ap.add_argument("--durable-sample", type=int, default=200, help="cards for the per-file fsync figure")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sscard-issuance-") as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        people = base / "people.csv"
        base.mkdir(parents=True, exist_ok=True)
        write_people(people, args.n)
        rows = read_people(people)
        result = run_batch(rows, BatchConfig(base / "cards"), workers=args.workers)
        assert result.ok and result.issued == args.n, result.errors[:3]
        print(f"batch issuance (one run): {result.issued} cards in {result.seconds:.3f} s = {result.rate:,.0f} cards/s "
              f"({args.workers} worker{'s' if args.workers > 1 else ''}; target 2,000 cards/s on one core)")

        sample = min(args.n, 1000)
        stages = per_card(sample, base / "stages")
        total = sum(stages.values())
        print(f"one core, per card (mean of {sample}): {total:.0f} us = {1e6 / total:,.0f} cards/s")
        for name, us in stages.items():
            print(f"  {name:<26} {us:7.1f} us  {us / total:5.1%}")

        doc = new_card({"name": "张三", "ssn": ssn(1), "card_number": "D00000001"}).to_json()
        assert fast_dumps(doc) == dumps(doc)
        reps = 500
        t0 = time.perf_counter()
        for _ in range(reps):
            dumps(doc)
        t1 = time.perf_counter()
        for _ in range(reps):
            fast_dumps(doc)
        t2 = time.perf_counter()
        print(f"JSON text (mean of {reps}): json.dumps(indent=1) {(t1 - t0) / reps * 1e6:.0f} us, fast_dumps "
              f"{(t2 - t1) / reps * 1e6:.0f} us (ratio {(t1 - t0) / (t2 - t1):.1f}x, same text)")

        m = args.durable_sample
        if m:
            text = fast_dumps(doc)
            dur = base / "durable"
            dur.mkdir(exist_ok=True)
            t0 = time.perf_counter()
            for i in range(m):
                atomic_write(dur / f"F{i:08d}.json", text, durable=False)
            t1 = time.perf_counter()
            for i in range(m):
                atomic_write(dur / f"E{i:08d}.json", text)
            t2 = time.perf_counter()
            print(f"write per card (mean of {m}): temp + rename {(t1 - t0) / m * 1e6:.0f} us, with fsync of file and "
                  f"folder {(t2 - t1) / m * 1e6:.0f} us (ratio {(t2 - t1) / (t1 - t0):.0f}x)")
    print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
