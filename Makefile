# counter: everyday commands. `make test` is the README's test command and what CI runs.
.PHONY: run test deps build release static fmt lint msrv bench load load-redis redis-failover-demo compare fuzz soak memory flake-hunt hostile nemesis \
	render check-render check-rules check-dashboard check-k8s dashboard-picture

run: ## build and run the service in memory mode on :8080
	cargo run --release

deps: ## install the real clients/servers the tests drive (curl, wrk, redis, prometheus) when missing
	./scripts/install-deps.sh

test: deps ## the whole test suite: unit, integration over TCP, loom models, zero-allocation proof
	cargo test --workspace

flake-hunt: ## the test command 10 times, then 10 more beside a busy loop per core: failing tests by name, pass count
	./scripts/flake-hunt.sh -n 10
	./scripts/flake-hunt.sh -n 10 --load

nemesis: deps ## fault scenarios (SIGKILL, SIGSTOP, partitions, slot moves, clock steps) under load, each history checked; a table (~10 min; NEMESIS=name filters, NEMESIS_SEED=n replays)
	cargo test --test nemesis -- $(NEMESIS)

hostile: ## the hostile-client figures (rates, latencies, RSS, fds) the Robustness table quotes; asserts nothing
	./scripts/hostile-figures.sh

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

msrv: ## make lint with the Nix build's rustc (nix/rustc-version), the workspace's minimum Rust
	RUSTUP_TOOLCHAIN=$$(head -n1 nix/rustc-version) $(MAKE) lint

bench: ## criterion benchmarks
	cargo bench --bench handler

load: release ## wrk against the release binary, bounded in time
	./benches/load.sh

load-redis: release ## wrk: single Redis (no AOF, AOF everysec, always; plain and TLS) and HA (Sentinels, WAIT 0 and 1), same run, bounded
	./benches/load-redis.sh

redis-failover-demo: ## a Sentinel failover after replica lag, WAIT 0 against WAIT 1: values seen twice (about a minute)
	./scripts/redis-failover-demo.sh

compare: ## side-by-side with peer servers (hyper, may_minihttp, bare epoll, nginx); about 6 minutes
	./benches/compare/run.sh

fuzz: ## coverage-guided fuzzing, bounded: connection state machine 60 s, RESP parser 30 s
	./scripts/fuzz-conn.sh 60
	./scripts/fuzz-resp.sh 30

soak: release ## mixed load with random disconnects, a few minutes; RSS, fds and counter checked
	./scripts/soak.sh

memory: release ## RSS idle and with 10,000 idle keep-alive connections
	./scripts/memory.sh

render: ## regenerate kubernetes{,-memory}.yaml (kubectl kustomize deploy/k8s/overlays/*) and the PrometheusRule
	./scripts/render-k8s.sh

check-render: ## fail if a committed rendered file differs from a fresh render (CI's drift check)
	./scripts/render-k8s.sh --check

check-rules: deps ## promtool check rules + promtool test rules (every alert firing and not firing)
	./scripts/check-rules.sh

check-dashboard: deps ## the Grafana dashboard: import format, PromQL parses, metric names in real scrapes
	./scripts/check-dashboard.sh

check-k8s: check-render ## both rendered manifests: kubernetes-validate --strict, checkov, PDB/HPA/spread
	./scripts/check-k8s.sh kubernetes.yaml
	./scripts/check-k8s.sh kubernetes-memory.yaml

dashboard-picture: deps ## docs/dashboard.svg: the dashboard's queries drawn from a real Prometheus, a minute of load
	./scripts/dashboard-picture.sh
