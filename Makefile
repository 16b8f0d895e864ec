# sscard: `make demo` runs the counter demo on the built-in emulator; `make test` runs the whole suite.
# Both install what is missing first (system packages as root, .venv, the package).
.PHONY: setup demo test bench fuzz lib mutation

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/sscard read --reader sim

lib: setup  # build/libsscard.so + build/sscard.h: the standard interface for C/C#/Java/Delphi (README "Native library")
	@bash scripts/build-lib.sh

test: setup lib
	@bash scripts/run-tests.sh

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; .venv/bin/python $$b; done

fuzz: setup  # long fuzzing run (hypothesis + atheris when installed): make fuzz FUZZ_SECONDS=3600
	@.venv/bin/python tests/fuzz/long_run.py --seconds $(or $(FUZZ_SECONDS),600)

mutation: setup  # mutation run of the card OS, minutes (docs/mutation.md): make mutation MUTATION_CHILDREN=1
	@MUTATION_CHILDREN=$(or $(MUTATION_CHILDREN),1) bash scripts/mutation.sh
