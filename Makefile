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

EXAMPLE := snapshots/example
DEMO_OUT := out/example
EXAMPLE_ISSUER := https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
# The example's sync statuses were written as of this time; staleness is judged then, not today.
EXAMPLE_NOW := 2026-12-01T12:00:00Z

# The main job on the bundled example estate: collect, then the questions of a threat-model workshop.
# The audit exits 1 on this deliberately weak estate; the demo reports that and carries on.
demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	$(BIN)/blastradius collect --manifests $(EXAMPLE)/k8s --aws-json $(EXAMPLE)/aws.json \
	    --cluster-name example --oidc-issuer $(EXAMPLE_ISSUER) -o snapshots/example.json.gz
	$(BIN)/blastradius snapshot show snapshots/example.json.gz
	$(BIN)/blastradius query who-can production/database/credentials --kind group -s snapshots/example.json.gz
	$(BIN)/blastradius audit -s snapshots/example.json.gz --config $(EXAMPLE)/blastradius.toml --fail-on high \
	    --now $(EXAMPLE_NOW) \
	    > $(DEMO_OUT)/audit.txt || echo "audit: findings at or above high (exit 1), see $(DEMO_OUT)/audit.txt"
	$(BIN)/blastradius simulate arn:aws:iam::111122223333:role/eso-global -s snapshots/example.json.gz \
	    --runbook $(DEMO_OUT)/runbook-eso-global.md > $(DEMO_OUT)/simulate-eso-global.txt
	$(BIN)/blastradius simulate eso-controller -s snapshots/example.json.gz > $(DEMO_OUT)/simulate-eso-controller.txt
	$(BIN)/blastradius report -s snapshots/example.json.gz --config $(EXAMPLE)/blastradius.toml \
	    --html $(DEMO_OUT)/report.html --graphml $(DEMO_OUT)/graph.graphml --json $(DEMO_OUT)/graph.json
	$(BIN)/blastradius report -s snapshots/example.json.gz --focus production/database/credentials \
	    --svg $(DEMO_OUT)/who-can-production-database.svg \
	    || echo "SVG needs Graphviz (apt-get install graphviz); the DOT file was written instead"
	@echo
	@echo "Outputs in $(DEMO_OUT)/:"
	@ls -1 $(DEMO_OUT) | sed 's/^/  /'

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# make bench SIZE=L BENCH_ARGS="--json bench-L.json --baseline bench-M.json"; see docs/performance.md.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --size $(or $(SIZE),S) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
