# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test setup fuzz

dev:   ## serve the API on http://127.0.0.1:8787 with a migrated local D1 and its superuser (SAMPLE=1: three sample recipes too)
	scripts/dev.sh

test:  ## every test: native unit tests, then HTTP tests against wasm in workerd
	scripts/test.sh

setup: ## only install the toolchain, tools and npm packages
	scripts/setup.sh

fuzz:  ## property tests of the parsers with many cases (CASES=20000, about a minute)
	PROPTEST_CASES=$${CASES:-20000} cargo test --locked --test parsers

# Deploying (docs/deploying.md: the first-deploy checklist runs these in order).
.PHONY: keys deploy superuser smoke
keys:  ## ENV=staging|production [NAME=JWT_SECRET|MFA_ENCRYPTION_KEY]: generate keys into 0600 files for your password manager, and set them
	scripts/keys.sh "$(ENV)" "$(NAME)"

deploy: ## ENV=staging|production: build, print the D1 restore point, migrate, deploy what was built (FORCE=1: uncommitted changes too)
	scripts/deploy.sh "$(ENV)"

# EMAIL only from the command line: an EMAIL in the shell's environment names no superuser.
superuser: ## ENV=staging|production|local EMAIL=you@your-domain: create or promote that superuser (password: SUPERUSER_PASSWORD or a prompt)
	scripts/superuser.sh "$(ENV)" "$(if $(filter command line,$(origin EMAIL)),$(EMAIL))"

smoke: ## URL=https://<the host make deploy printed> [EMAIL=the superuser]: check the deployed API from outside
	node scripts/smoke.mjs "$(URL)" $(if $(filter command line,$(origin EMAIL)),"$(EMAIL)")

.PHONY: bench
bench: ## worker CPU per request beside a JS peer, PBKDF2 wasm vs native, start-up, bundle size, GET latency while logins hash (~11 min; `scripts/bench.sh stall`: the last alone)
	scripts/bench.sh

# Backups (docs/backups.md). ENV=staging or production; ENV=local is make dev's local D1
# (PERSIST_TO=dir: another local one).
where = $(if $(filter local,$(ENV)),--local $(if $(PERSIST_TO),--persist-to "$(PERSIST_TO)"),--env "$(ENV)")

.PHONY: backup restore end-sessions reset-local
backup: ## ENV=production: export its D1 (tables, d1_migrations; not the search index) to backups/ENV-<time>/ (OUT=dir)
	scripts/backup.sh export $(where) $(if $(OUT),--out "$(OUT)")

restore: ## ENV=production DATABASE=<a new, empty D1> FROM=backups/…: import, rebuild the search index, check, end every session
	scripts/backup.sh import $(where) $(if $(DATABASE),--database "$(DATABASE)") "$(FROM)"

end-sessions: ## ENV=production: every access and refresh token stops working (after any restore, Time Travel too)
	scripts/backup.sh end-sessions $(where) $(if $(DATABASE),--database "$(DATABASE)")

reset-local: ## delete make dev's local D1 (stop make dev first); the next make dev migrates and seeds a new one
	rm -rf .wrangler/state/v3/d1
	@echo "reset-local: the local D1 is gone; make dev creates a new one"
