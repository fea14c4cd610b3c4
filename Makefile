.PHONY: help demo test bench benchpy benchjs peer stress lint
.DEFAULT_GOAL := help

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

demo: ## run the omnichannel day demo (the main demo)
	cargo run --release -p unistock-examples --bin omnichannel_day

test: ## run every test in every language (what CI runs)
	bash scripts/test-all.sh

bench: ## criterion benchmarks (holds with the naive Mutex<HashMap> baseline, routing, journal modes)
	cargo bench -p unistock

benchpy: ## Python benchmark against plain-Python hold logic (after make test built the venv)
	.venv/bin/python benches/python/bench_holds.py

benchjs: ## Node benchmark (after make test built the addon)
	node benches/node/bench_holds.js

peer: ## unistock vs Redis, PostgreSQL and a naive lock: make peer ARGS=--quick
	bash benches/peer/run.sh $(ARGS)

stress: ## long randomized runs: make stress SIZE=100
	bash scripts/stress.sh $(or $(SIZE),10)

lint: ## format check, clippy and the core's API docs
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc -p unistock --no-deps
