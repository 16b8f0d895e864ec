#!/usr/bin/env bash
# The mutation run of the card OS (docs/mutation.md): mutmut mutates firmware_sim/card_os.py and runs the fast
# tests that drive the card OS against each mutant ([tool.mutmut] in pyproject.toml). Not part of `make test`:
# a whole run takes minutes. Prints the figures and the surviving mutants; `mutmut show NAME` (in .venv/bin)
# shows one.
#
#   scripts/mutation.sh                 a fresh run: mutants/ is deleted first, so nothing is taken from a cache
#   scripts/mutation.sh NAME|GLOB …     run only these mutants again, keeping the results of the others
#
# MUTATION_CHILDREN (default 1): how many mutants run at once (one process each).
set -euo pipefail
cd "$(dirname "$0")/.."

children=${MUTATION_CHILDREN:-1}
if [ ! -x .venv/bin/python ]; then
  echo "mutation: no .venv here; run \`make setup\` first (or \`make mutation\`)" >&2
  exit 2
fi
# The pinned mutmut of the `mutation` extra; installed into .venv when it is missing or another version.
want=$(.venv/bin/python - <<'PY'
import re, tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mutation"]
print(next(re.sub(r"^mutmut==", "", d) for d in extra if d.startswith("mutmut==")))
PY
)
have=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("mutmut"))' 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "mutation: installing mutmut $want into .venv"
  .venv/bin/pip install -q -e '.[test,mutation]'
fi

if [ $# -eq 0 ]; then
  rm -rf mutants
fi
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# mutmut draws a progress spinner; its output goes to the log, shown only when the run fails.
if ! .venv/bin/mutmut run --max-children "$children" "$@" >"$log" 2>&1; then
  tr '\r' '\n' <"$log" | tail -n 60
  echo "mutation: mutmut run failed" >&2
  exit 1
fi
elapsed=$(( $(date +%s) - start ))
.venv/bin/mutmut export-cicd-stats >/dev/null
echo "== surviving mutants (mutmut show NAME for the change)"
.venv/bin/mutmut results
.venv/bin/python - "$elapsed" "$children" <<'PY'
import json, sys
s = json.load(open("mutants/mutmut-cicd-stats.json"))
detected = s["killed"] + s["timeout"]
valid = s["total"] - s["skipped"]
print("== mutation run of firmware_sim/card_os.py")
print(f"mutants {s['total']}: killed {s['killed']}, timeout {s['timeout']}, survived {s['survived']}, "
      f"no tests {s['no_tests']}, suspicious {s['suspicious']}, skipped {s['skipped']}, "
      f"segfault {s['segfault']}")
print(f"score {detected}/{valid} = {100 * detected / valid:.1f}% (killed + timeout over all mutants run)")
print(f"time {sys.argv[1]} s with {sys.argv[2]} child process(es)")
PY
