# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test setup

dev:   ## serve the API on http://127.0.0.1:8787 with a migrated local D1
	scripts/dev.sh

test:  ## every test: native unit tests, then HTTP tests against wasm in workerd
	scripts/test.sh

setup: ## only install the toolchain, tools and npm packages
	scripts/setup.sh
