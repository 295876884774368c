# Two commands do all the set-up (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JSSP   ?= ../shared/jssp

.PHONY: install run test lint check clean-kernels bench bench-sample10 bench-sample60 bench-15x15 bench-20x20 bench-classes10 bench-taillard bench-classic bench-scale bench-service bench-fjsp bench-fjsp60 bench-live worker format clean crosscheck-full browser

install: $(STAMP)

## requirements/lock.txt pins every package's version (constraints, so extras stay optional);
## refresh it after changing dependencies: `make lock`.
$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/lock.txt -e '.[all]'
	$(BIN)/python -c "from aps.solvers.warmup import warm_up; warm_up()"  # compile the kernels once
	touch $(STAMP)

.PHONY: lock
lock:
	{ head -2 requirements/lock.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^aps'; } > requirements/lock.tmp
	mv requirements/lock.tmp requirements/lock.txt

## The service on its embedded default: SQLite and an in-process worker pool, no Redis.
run: install
	$(BIN)/aps serve

## Lint, type-check, architecture contract, then the whole test suite (what CI runs).
test: install lint browser
	$(BIN)/python -m pytest

## Debian's Chromium for the UI tests (tests/ui), installed only where it is missing.
browser:
	bash scripts/install_browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check aps api worker jobs tests
	$(BIN)/mypy aps api worker jobs
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format aps api worker jobs tests
	$(BIN)/ruff check --fix .

## Benchmarks are not tests. The job-shop targets write a CSV and Markdown tables to results/
## (for docs/benchmarks.md; bench-sample10 is the README's summary): our solver against the
## plain CP-SAT model and PyJobShop, same limits, one solve at a time.
SAMPLE := ta01 ta02 ta11 ta12 ta21 ta22 ta31 ta32 ta41 ta42 ta51 ta52 ta61 ta62 ta71 ta72
BENCH  := $(BIN)/aps bench --instances $(JSSP)/instances --workers 2

bench: bench-sample10 bench-sample60

bench-sample10: install
	mkdir -p results
	$(BENCH) $(SAMPLE) --time-limit 10 --baseline plain,pyjobshop \
		--out results/ta-sample-10.csv --markdown results/ta-sample-10.md

bench-sample60: install
	mkdir -p results
	$(BENCH) $(SAMPLE) --time-limit 60 --baseline plain,pyjobshop \
		--out results/ta-sample-60.csv --markdown results/ta-sample-60.md

## The whole 15x15 class (ta01-ta10) at 60 s against both peers, our closest class (30 minutes).
bench-15x15: install
	mkdir -p results
	$(BENCH) ta01 ta02 ta03 ta04 ta05 ta06 ta07 ta08 ta09 ta10 --time-limit 60 \
		--baseline plain,pyjobshop --out results/ta-15x15-60.csv --markdown results/ta-15x15-60.md

## The whole 20x20 class (ta21-ta30) at 60 s against both peers (30 minutes).
bench-20x20: install
	mkdir -p results
	$(BENCH) ta21 ta22 ta23 ta24 ta25 ta26 ta27 ta28 ta29 ta30 --time-limit 60 \
		--baseline plain,pyjobshop --out results/ta-20x20-60.csv --markdown results/ta-20x20-60.md

## The whole 15x15 and 20x20 classes (ta01-ta10, ta21-ta30) at 10 s against both peers:
## the classes where the sample's two instances decide the least (10 minutes).
bench-classes10: install
	mkdir -p results
	$(BENCH) ta01 ta02 ta03 ta04 ta05 ta06 ta07 ta08 ta09 ta10 \
		ta21 ta22 ta23 ta24 ta25 ta26 ta27 ta28 ta29 ta30 --time-limit 10 \
		--baseline plain,pyjobshop --out results/ta-classes-10.csv --markdown results/ta-classes-10.md

## All of Taillard's 80 instances at 60 s, ours only (80 minutes).
bench-taillard: install
	mkdir -p results
	$(BENCH) 'ta*' --time-limit 60 --out results/ta-all-60.csv --markdown results/ta-all-60.md

## The classic families (ft, la, abz, orb, swv, yn) at 10 s against the plain model.
bench-classic: install
	mkdir -p results
	$(BENCH) 'ft*' 'la*' 'abz*' 'orb*' 'swv*' 'yn*' --time-limit 10 --baseline plain \
		--out results/classic-10.csv --markdown results/classic-10.md

## Flexible job shops: a fixed stratified sample of 66 instances, every family and size
## (the rule and the command that prints it: benchmarks/fjsp_sample.py), against the textbook
## CP-SAT flexible model and PyJobShop at the same limits. $APS_FJSP_DIR or ../shared/fjsp.
FJSP_SAMPLE := dpp01 dpp07 dpp13 e-mt06 e-la01 e-car1 e-car5 e-car8 e-car6 e-abz5 e-la21 e-la36 \
	e-la31 k1 k2 k3 k4 sm01_1 med01_1 sm02_1 med02_1 sm03_1 lar02_1 med03_1 lar03_1 \
	med04_1 lar04_1 sfjs01 sfjs03 sfjs08 sfjs07 mfjs01 mfjs02 mfjs04 mfjs06 mfjs09 \
	mfjs10 mt10c1 mt10cc mt10xxx setb4c9 setb4cc setb4xxx seti5c12 seti5cc seti5xxx \
	r-mt06 r-la01 r-car1 r-car5 r-car8 r-car6 r-abz5 r-la21 r-la36 r-la31 v-mt06 \
	v-la01 v-car1 v-car5 v-car8 v-car6 v-abz5 v-la21 v-la36 v-la31
FJSP_BENCH := $(BIN)/aps bench --format fjsp --workers 2 --baseline plain,pyjobshop

bench-fjsp: install
	mkdir -p results
	$(FJSP_BENCH) $(FJSP_SAMPLE) --time-limit 10 \
		--out results/fjsp-sample-10.csv --markdown results/fjsp-sample-10.md

bench-fjsp60: install
	mkdir -p results
	$(FJSP_BENCH) $(FJSP_SAMPLE) --time-limit 60 \
		--out results/fjsp-sample-60.csv --markdown results/fjsp-sample-60.md

## MILP (HiGHS) vs CP-SAT on 240 seeded random problems; `make test` runs the first 24.
crosscheck-full: install
	$(BIN)/python -m tests.milp.crosscheck --count 240

## The service under load (wrk, loopback): submissions, reads and signed webhook events per
## second with p50/p99 on PostgreSQL + Redis and on the embedded default, end-to-end jobs/s
## with 1 and 2 workers, and another tenant's p99 while heavy requests are sent in a loop.
## Markdown tables for docs/benchmarks.md in results/service.md. wrk is installed if missing.
bench-service: install
	bash scripts/install_wrk.sh
	mkdir -p results
	$(BIN)/python benchmarks/bench_service.py --out results/service.md

## Load and chaos (not a test): 2,000 submissions by 50 clients; 500 jobs through 2 workers
## while one is SIGKILLed and restarted every 5 s; 0 lost, 0 run twice, all validated.
.PHONY: chaos
chaos: install
	mkdir -p results
	nice -n 10 $(BIN)/python benchmarks/chaos.py --out results/chaos.md

## A Celery worker for APS_BROKER_URL (production shape; `make run` needs none).
worker: install
	$(BIN)/aps worker

## Very large instances: first validated schedule, makespan vs simple LB, peak memory.
## 1,000,000 operations (`aps generate jssp --jobs 10000 --machines 100 --seed 3`) at 300 s,
## 100,000 at 60 s; JSON lines in results/scale.jsonl.
bench-scale: install
	mkdir -p results
	{ $(BIN)/python benchmarks/bench_scale.py --seed 3 --time-limit 300 10000x100; \
	  $(BIN)/python benchmarks/bench_scale.py --seed 3 --time-limit 60 1000x100; } \
		| tee results/scale.jsonl

## Tight generated plants (utilisation 0.95, due-date tightness 0.5): every dispatching rule,
## the greedy witness and ours side by side, validated; 600 orders at 60 s, then about
## 10,000 operations at 300 s. JSON lines in results/plant-*.jsonl.
.PHONY: bench-plant bench-plant10k
## The live plant through a real aps serve (embedded): a machine.down to a republished schedule.
bench-live: install
	mkdir -p results
	$(BIN)/python benchmarks/bench_live.py 450 1400 --time-limit 10 --reschedule 10 \
		--json results/live.json | tee results/live.md

bench-plant: install
	mkdir -p results
	$(BIN)/python benchmarks/bench_plant.py --time-limit 60 600:0.95:0.5 | tee results/plant-600.jsonl

bench-plant10k: install
	mkdir -p results
	$(BIN)/python benchmarks/bench_plant.py --time-limit 300 1050:0.95:0.5 | tee results/plant-10k.jsonl

## Plan-then-schedule vs one CP-SAT model, same limit, on a plant of 10,119 operations.
.PHONY: bench-plan
bench-plan: install
	$(BIN)/python benchmarks/bench_plan.py --orders 2300 --time-limit 240 --workers 2

## The kernels' machine code is cached in a folder per version of their sources
## (aps/kernels.py), so an edit never runs stale code; this drops every version's cache.
clean-kernels:
	find aps -name '*.nbi' -delete -o -name '*.nbc' -delete
	find aps -type d -name 'kernels-*' -prune -exec rm -rf {} +

clean: clean-kernels
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
