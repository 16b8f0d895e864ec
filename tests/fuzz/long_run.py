"""Long fuzzing runs: the hypothesis suite at a larger scale, and coverage-guided atheris.

    .venv/bin/python tests/fuzz/long_run.py [--seconds S] [--engine hypothesis|atheris|both] [--target T ...]
    make fuzz                      # FUZZ_SECONDS=600 by default

``hypothesis``: runs ``tests/fuzz`` again and again with fresh random seeds until the time is up, the example
budgets scaled (``SSCARD_FUZZ_SCALE``, up to ``--scale``, default 20) to fill the time.
``atheris`` (optional: ``pip install atheris``): libFuzzer on the byte-level targets of ``fuzz_targets.py``, the
time shared between them (at least 5 s each); crashing inputs go to ``--artifacts`` (default
``.fuzz-artifacts/``) and the corpus grows in ``--corpus`` (default ``.fuzz-corpus/``).
``both`` (the default when atheris is installed) gives each half of the time. Without arguments (as ``make
bench`` runs it) the budget is 30 seconds and the output shows executions per second per target.
Exit status 1 when anything was found.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]   # the project, and fuzz_targets beside us


def run_hypothesis(seconds: float, max_scale: int) -> bool:
    """Repeat the hypothesis fuzz suite with fresh seeds until ``seconds`` have passed; True when it stayed green.
    The first round runs the CI budget (scale 1); later rounds scale the budget up to fit the time left."""
    end, rounds, scale = time.monotonic() + seconds, 0, 1
    while True:
        env = dict(os.environ, SSCARD_FUZZ_SCALE=str(scale), SSCARD_FUZZ_WATCHDOG=str(max(600.0, seconds)))
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/fuzz"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        rounds += 1
        took = time.monotonic() - t0
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        print(f"hypothesis round {rounds} (scale {scale}): {last}", flush=True)
        if proc.returncode != 0:
            print(proc.stdout[-6000:], proc.stderr[-2000:], sep="\n")
            return False
        left = end - time.monotonic()
        per_scale = took / scale
        if left < per_scale:
            return True
        scale = max(1, min(max_scale, int(left / per_scale)))


def run_atheris(seconds: float, targets: list[str], corpus: Path, artifacts: Path) -> bool:
    each = max(5, int(seconds / len(targets)))
    ok = True
    for name in targets:
        tdir = corpus / name
        tdir.mkdir(parents=True, exist_ok=True)
        if not any(tdir.iterdir()):
            from fuzz_targets import seeds
            for i, s in enumerate(seeds(name)):
                (tdir / f"seed-{i}").write_bytes(s)
        artifacts.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, __file__, "--atheris-child", name, "--",
                               f"-max_total_time={each}", f"-artifact_prefix={artifacts}/{name}-",
                               "-print_final_stats=1", "-rss_limit_mb=4096", str(tdir)],
                              cwd=ROOT, capture_output=True, text=True)
        took = time.monotonic() - t0
        stats = {ln.split(":", 2)[2].split(":")[0].strip(): ln.rsplit(":", 1)[1].strip()
                 for ln in proc.stderr.splitlines() if ln.startswith("stat::")}
        print(f"atheris {name}: {stats.get('number_of_executed_units', '?')} inputs in {took:.0f} s, "
              f"{stats.get('average_exec_per_sec', '?')} execs/s, corpus +{stats.get('new_units_added', '?')}"
              f"{'' if proc.returncode == 0 else ' — FINDING, see ' + str(artifacts)}", flush=True)
        if proc.returncode != 0:
            ok = False
            print(proc.stderr[-4000:])
    return ok


def atheris_child(name: str, argv: list[str]) -> None:
    import atheris
    with atheris.instrument_imports(include=["protocols", "firmware_sim"]):
        import fuzz_targets
    target = fuzz_targets.TARGETS[name]
    atheris.Setup([sys.argv[0], *argv], target)
    atheris.Fuzz()


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--atheris-child":
        atheris_child(sys.argv[2], sys.argv[4:])
        return 0
    import fuzz_targets
    has_atheris = importlib.util.find_spec("atheris") is not None
    ap = argparse.ArgumentParser(description="Long fuzzing runs: hypothesis at scale, and atheris when installed.")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--engine", choices=("hypothesis", "atheris", "both"),
                    default="both" if has_atheris else "hypothesis")
    ap.add_argument("--scale", type=int, default=20, help="largest hypothesis example budget multiplier")
    ap.add_argument("--target", action="append", choices=sorted(fuzz_targets.TARGETS),
                    help="atheris targets (default all)")
    ap.add_argument("--corpus", type=Path, default=ROOT / ".fuzz-corpus")
    ap.add_argument("--artifacts", type=Path, default=ROOT / ".fuzz-artifacts")
    args = ap.parse_args()
    if args.engine != "hypothesis" and not has_atheris:
        print("atheris is not installed (.venv/bin/pip install atheris)", file=sys.stderr)
        return 2
    share = args.seconds / (2 if args.engine == "both" else 1)
    ok = True
    if args.engine in ("atheris", "both"):
        ok &= run_atheris(share, args.target or sorted(fuzz_targets.TARGETS), args.corpus, args.artifacts)
    if args.engine in ("hypothesis", "both"):
        ok &= run_hypothesis(share, args.scale)
    print("fuzzing: no findings" if ok else "fuzzing: FINDINGS (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
