# Sluice developer commands. `make demo` and `make test` work on a fresh Debian 12 machine with
# a Rust toolchain: each installs what it needs (scripts/install-deps) first.

SLUICE_CACHE ?= $(HOME)/.cache/sluice
export SLUICE_CACHE
# Throwaway servers live on disk (/tmp). tmpfs made `testbed up` 3x faster, but what the servers
# write stays in RAM there: a full run held 13 GB in /dev/shm beside the broker's 8 GB of records,
# and the OOM killer took the broker (CI, 2026-12-05). On disk it is reclaimable page cache.
export SLUICE_TESTBED_ROOT ?= /tmp
# Build cache outside the clone, so fresh clones (CI) reuse earlier builds.
export CARGO_TARGET_DIR ?= $(SLUICE_CACHE)/target

.PHONY: deps build lint test test-tansu demo bench bench-build bench-pg bench-sink bench-redis bench-mongodb bench-dynamodb bench-opensearch bench-opensearch-latency bench-s3 bench-full-load bench-mysql

deps:
	scripts/install-deps

build: deps
	cargo build --workspace --all-targets --locked

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Lint, build, start the real servers once, run every test against them, tear them down.
test: deps lint
	cargo nextest run --workspace --locked --no-run
	scripts/with-testbed cargo nextest run --workspace --locked --no-fail-fast

## The same suite against the tansu broker, to catch Kafka-protocol quirks.
test-tansu: deps
	SLUICE_BROKER=tansu scripts/with-testbed cargo nextest run --workspace --locked --no-fail-fast

## Start the bench servers and run the most complete pipeline that works today.
demo: deps
	cargo build --locked --bin sluice
	scripts/with-testbed scripts/demo

## Benchmarks: encoder/decoder micro-benchmarks, then the PostgreSQL suite (Sluice vs
## pg_recvlogical vs Debezium: throughput on four workloads, RSS vs transaction size, latency at a
## fixed load; docs/bench/pg_suite.*), `sluice sink` vs COPY, full load vs a raw COPY read.
## Results and charts go to docs/bench/; docs/benchmarks.md explains them.
bench: deps
	cargo bench --workspace --locked
	$(MAKE) bench-pg
	$(MAKE) bench-sink
	$(MAKE) bench-redis
	$(MAKE) bench-mongodb
	$(MAKE) bench-dynamodb
	$(MAKE) bench-opensearch
	$(MAKE) bench-opensearch-latency
	$(MAKE) bench-s3
	$(MAKE) bench-full-load
	$(MAKE) bench-mysql

# The release binary the benches run. BENCH_SKIP_BUILD=1 uses an existing $(SLUICE_BIN) as is.
SLUICE_BIN ?= $(CARGO_TARGET_DIR)/release/sluice
bench-build:
	@if [ -z "$(BENCH_SKIP_BUILD)" ]; then cargo build --release --locked --bin sluice; fi

## PostgreSQL source suite (issue 8): bench/pg_suite.py; BENCH_SCALE=0.05 for a quick try.
## One fresh set of servers per phase (the noida-db broker keeps every record in memory).
bench-pg: deps bench-build
	set -e; for phase in throughput rss latency; do \
	  BENCH_PHASE=$$phase SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/pg_suite.py'; done

## Redis target vs a redis-py pipeline of the same rows: bench/redis_sink.py.
bench-redis: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/redis_sink.py'

## MongoDB target vs pymongo insert_many of the same documents: bench/mongodb_sink.py.
bench-mongodb: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/mongodb_sink.py'

## DynamoDB target vs boto3 batch_writer (BatchWriteItem) of the same items: bench/dynamodb_sink.py.
bench-dynamodb: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/dynamodb_sink.py'

## OpenSearch target vs opensearch-py helpers.bulk of the same documents: bench/opensearch_sink.py.
bench-opensearch: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/opensearch_sink.py'

## OpenSearch target: source commit → searchable latency (p50/p99) at a fixed load: bench/opensearch_latency.py.
bench-opensearch-latency: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/opensearch_latency.py'

## S3 Parquet files vs pyarrow write_table of the same rows, and the Iceberg target: bench/s3_sink.py.
bench-s3: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/s3_sink.py'

bench-sink: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/pg_sink.py'

## Full load (migration type full-load) vs a raw `COPY … TO STDOUT` read of the same table.
bench-full-load: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/pg_full_load.py'

## MariaDB binlog → broker acknowledgement vs python-mysql-replication on the same binlog (issue 7).
bench-mysql: deps bench-build
	SLUICE_BIN=$(SLUICE_BIN) scripts/with-testbed sh -c '$$SLUICE_PYTHON bench/mysql_source.py'
