# Every target creates .venv on first use, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/blastradius collect --manifests snapshots/example/k8s --aws-json snapshots/example/aws.json \
	    --cluster-name example -o snapshots/example.json.gz
	$(BIN)/blastradius snapshot show snapshots/example.json.gz

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# make bench SIZE=L BENCH_ARGS="--json bench-L.json --baseline bench-M.json"; see docs/performance.md.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --size $(or $(SIZE),S) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
