#!/usr/bin/env bash
# Checks deploy/grafana/counter.json without a Grafana (none can be installed here), in tests/it/prometheus.rs:
#   - it is the JSON Grafana imports: schemaVersion, a `datasource` variable every panel and query uses;
#   - every panel's PromQL parses: the expressions, wrapped in a rules file, pass `promtool check rules`;
#   - every metric it names is in a real scrape of the binary, in memory and in redis mode (real redis-server).
# `make test` runs the same tests; this runs only them. Run from anywhere:  bash scripts/check-dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo test --test it -- prometheus::dashboard_ prometheus::redis_dashboard_
