# counter: everyday commands. `make test` is the README's test command and what CI runs.
.PHONY: run test deps build release static fmt lint bench load load-redis

run: ## build and run the service in memory mode on :8080
	cargo run --release

deps: ## install the real clients/servers the tests drive (curl, wrk, redis) when missing
	./scripts/install-deps.sh

test: deps ## the whole test suite: unit, integration over TCP, loom models, zero-allocation proof
	cargo test --workspace

build:
	cargo build

release:
	cargo build --release

static: ## the static binary the image ships, built the way nix/package.nix builds it
	RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: ## criterion benchmarks
	cargo bench --bench handler

load: release ## wrk against the release binary, bounded in time
	./benches/load.sh

load-redis: release ## wrk against 1 and 3 local processes sharing one redis-server, bounded in time
	./benches/load-redis.sh
