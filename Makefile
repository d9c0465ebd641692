# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test setup fuzz

dev:   ## serve the API on http://127.0.0.1:8787 with a migrated local D1
	scripts/dev.sh

test:  ## every test: native unit tests, then HTTP tests against wasm in workerd
	scripts/test.sh

setup: ## only install the toolchain, tools and npm packages
	scripts/setup.sh

fuzz:  ## property tests of the parsers with many cases (CASES=20000, about a minute)
	PROPTEST_CASES=$${CASES:-20000} cargo test --locked --test parsers

.PHONY: deploy
deploy: ## ENV=staging or ENV=production: remote D1 migrations, then wrangler deploy (FORCE=1: uncommitted changes too)
	scripts/deploy.sh "$(ENV)"

.PHONY: bench
bench: ## worker CPU per request beside a JS peer, PBKDF2 wasm vs native, start-up, bundle size, GET latency while logins hash (~11 min; `scripts/bench.sh stall`: the last alone)
	scripts/bench.sh
