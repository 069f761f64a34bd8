# The two commands of README.md. Each sets up whatever is missing, then runs.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: run test bench setup frontend browser-deps

run: setup
	.venv/bin/docroute init
	.venv/bin/docroute demo
	.venv/bin/docroute serve --host 127.0.0.1 --port 5000

test: setup browser-deps
	.venv/bin/mypy engine webui
	DOCROUTE_TEST_POSTGRES_URL=$${DOCROUTE_TEST_POSTGRES_URL-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} \
		.venv/bin/pytest -q -n 2 --dist loadfile --durations=25

# The benchmarks (never part of make test): each prints its figures with the SpiffWorkflow
# floor measured in the same run and the load average; docs/benchmarks.md records them.
# Run on an idle machine. PostgreSQL: $DOCROUTE_TEST_POSTGRES_URL or the local server.
bench: setup
	( $(PY) benchmarks/bench_engine.py --db both \
	  && $(PY) benchmarks/bench_inbox.py --db both \
	  && $(PY) benchmarks/bench_timers.py --db sqlite \
	  && $(PY) benchmarks/bench_timers.py --db postgresql \
	  && $(PY) benchmarks/bench_scaleout.py \
	  && $(PY) benchmarks/bench_audit.py \
	  && $(PY) benchmarks/bench_kpi.py --db both ) 2>&1 | tee benchmarks/last-run.txt

setup: $(STAMP) frontend
	.venv/bin/pybabel compile -d webui/translations -f

$(STAMP): pyproject.toml
	test -d .venv || python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

frontend:
	@if [ -f scripts/build-frontend.sh ]; then bash scripts/build-frontend.sh; fi

# Debian's Chromium and a CJK font for the browser tests (never a downloaded browser).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wqy; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; \
	fi
