#!/usr/bin/env bash
# Compares refundd with two open-source ledgers, Blnk and Formance Ledger,
# on the same local PostgreSQL: the same closed-loop load (32 clients,
# spread over 2000 sources and hot on one), a guarded 1-unit movement, and
# an exactness race (2000 concurrent 1-unit requests for 500 units).
# Results and the Markdown table land in $OUT; docs/performance.md
# ("Against the ledgers") says what is comparable and what is not.
#
# Nothing of the peers is committed: they are fetched with git at pinned
# commits and built with `go build` in $WORK, outside the repository.
#
#   bench/peers/run.sh        # from anywhere: the builds, then about 2 minutes of runs
#
# Environment (defaults in brackets):
#   BLNK_SRC, LEDGER_SRC  git URL or local path of Blnk / Formance Ledger
#                         [https://github.com/blnkfinance/blnk, https://github.com/formancehq/ledger];
#                         a local mirror (e.g. a bare clone) serves where GitHub is out of reach
#   BATCHER_SRC           git URL or path of go.vallahaye.net/batcher (a Formance dependency),
#                         used only when the Go module proxy will not serve it
#                         [https://github.com/vallahaye/go-batcher]
#   PG                    PostgreSQL, trust auth; databases refundd_peers_*, blnk_bench, ledger_bench
#                         are dropped and created [postgres://postgres@127.0.0.1:5432]
#   REDIS_URL             Redis for Blnk; its database is flushed before each Blnk run
#                         [redis://127.0.0.1:6379/7]
#   WORK [/tmp/refundd-peers]  OUT [$WORK/results/<time>]  DURATION [10s]  CLIENTS [32]
#   ONLY                  systems to run [refundd blnk formance]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/refundd-peers}
OUT=${OUT:-$WORK/results/$(date -u +%Y%m%d-%H%M%S)}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/7}
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-32}
ONLY=${ONLY:-refundd blnk formance}

# Pinned: a tag names the checkout, the commit is checked against it.
BLNK_SRC=${BLNK_SRC:-https://github.com/blnkfinance/blnk}
BLNK_TAG=v0.15.2
BLNK_COMMIT=6867722ed66de4d850a363433c005ddd2e0fa711
LEDGER_SRC=${LEDGER_SRC:-https://github.com/formancehq/ledger}
LEDGER_TAG=v2.4.12
LEDGER_COMMIT=f43a7078e7e1b9f6a354307ef994431593bf57e0
BATCHER_SRC=${BATCHER_SRC:-https://github.com/vallahaye/go-batcher}
BATCHER_TAG=v0.6.0

BLNK_PORT=5101
LEDGER_PORT=3168
REFUNDD_PORT=8431

log() { printf '== %s %s\n' "$(date -u +%T)" "$*" >&2; }
psql_() { PGOPTIONS='-c client_min_messages=warning' psql -q -X -v ON_ERROR_STOP=1 "$PG/postgres?sslmode=disable" "$@"; }
freshdb() { psql_ -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
dropdb_() { psql_ -c "DROP DATABASE IF EXISTS $1"; }

mkdir -p "$WORK/src" "$WORK/bin" "$WORK/run" "$OUT"

# Servers this script started, stopped on any exit.
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# stop PID: SIGTERM, then SIGKILL after 20 s; reaped, and forgotten by cleanup.
stop() {
	local p=$1 rest=()
	if kill "$p" 2>/dev/null; then
		for _ in $(seq 40); do
			[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = "" ] || [ "$(ps -o stat= -p "$p" | cut -c1)" = Z ] && break
			sleep 0.5
		done
		kill -9 "$p" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || true
	for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || rest+=("$q"); done
	PIDS=("${rest[@]}")
}

# wait_http URL: until it answers 2xx, at most 60 s.
wait_http() {
	for _ in $(seq 120); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	echo "no answer from $1" >&2
	return 1
}

# checkout SRC DIR TAG COMMIT: a clone at TAG, which must be COMMIT.
checkout() {
	local src=$1 dir=$2 tag=$3 commit=$4
	if [ ! -d "$dir/.git" ]; then
		timeout 900 git clone --quiet "$src" "$dir"
	fi
	git -C "$dir" checkout --quiet --detach "$tag^{commit}" 2>/dev/null ||
		{ timeout 300 git -C "$dir" fetch --quiet --tags "$src" && git -C "$dir" checkout --quiet --detach "$tag^{commit}"; }
	local got
	got=$(git -C "$dir" rev-parse HEAD)
	if [ -n "$commit" ] && [ "$got" != "$commit" ]; then
		echo "$dir: $tag is $got, pinned $commit" >&2
		return 1
	fi
}

# ---- fetch and build (peers outside the repository) ----
build() {
	log "building the load driver and refundd"
	(cd "$ROOT/bench/peers/driver" && timeout 600 go build -o "$WORK/bin/driver" .)
	(cd "$ROOT" && timeout 900 go build -o "$WORK/bin/refundd" ./cmd/refundd)
	if [[ " $ONLY " == *" blnk "* ]]; then
		log "Blnk $BLNK_TAG from $BLNK_SRC"
		checkout "$BLNK_SRC" "$WORK/src/blnk" "$BLNK_TAG" "$BLNK_COMMIT"
		(cd "$WORK/src/blnk" && timeout 1800 go build -o "$WORK/bin/blnk" ./cmd)
	fi
	if [[ " $ONLY " == *" formance "* ]]; then
		log "Formance Ledger $LEDGER_TAG from $LEDGER_SRC"
		checkout "$LEDGER_SRC" "$WORK/src/ledger" "$LEDGER_TAG" "$LEDGER_COMMIT"
		local proxy=${GOPROXY:-https://proxy.golang.org,direct}
		# go.vallahaye.net is not on every module proxy's allow-list: serve
		# it from a local file proxy built from its git tag. go.sum still
		# checks the bytes, so a wrong copy fails the build.
		if ! (cd "$WORK/src/ledger" && timeout 300 go mod download go.vallahaye.net/batcher) 2>/dev/null; then
			log "go.vallahaye.net/batcher $BATCHER_TAG from $BATCHER_SRC (local module proxy)"
			checkout "$BATCHER_SRC" "$WORK/src/go-batcher" "$BATCHER_TAG" ""
			local m="$WORK/goproxy/go.vallahaye.net/batcher/@v" stage="$WORK/stage"
			rm -rf "$m" "$stage" && mkdir -p "$m" "$stage"
			git -C "$WORK/src/go-batcher" archive --format=tar --prefix="go.vallahaye.net/batcher@$BATCHER_TAG/" "$BATCHER_TAG" | tar -x -C "$stage"
			(cd "$stage" && zip -q -r -D -X "$m/$BATCHER_TAG.zip" go.vallahaye.net)
			git -C "$WORK/src/go-batcher" show "$BATCHER_TAG:go.mod" >"$m/$BATCHER_TAG.mod"
			echo "{\"Version\":\"$BATCHER_TAG\"}" >"$m/$BATCHER_TAG.info"
			echo "$BATCHER_TAG" >"$m/list"
			proxy="file://$WORK/goproxy,$proxy"
		fi
		(cd "$WORK/src/ledger" && GOPROXY=$proxy timeout 1800 go build \
			-ldflags "-X github.com/formancehq/ledger/cmd.Version=$LEDGER_TAG" -o "$WORK/bin/ledger" .)
	fi
}

# ---- the systems ----

# Blnk: migrations, then `blnk start` (the API server; no `blnk workers`,
# which the synchronous skip_queue path does not need). Blnk reads ./blnk.json
# if present, so it runs in a directory of its own; config by environment.
start_blnk() {
	local dir="$WORK/run/blnk"
	mkdir -p "$dir" && rm -f "$dir/blnk.json"
	freshdb blnk_bench
	redis-cli -u "$REDIS_URL" FLUSHDB >/dev/null
	export BLNK_DATA_SOURCE_DNS="$PG/blnk_bench?sslmode=disable" BLNK_REDIS_DNS="$REDIS_URL" \
		BLNK_SERVER_PORT=$BLNK_PORT BLNK_ENABLE_TELEMETRY=false BLNK_ENABLE_OBSERVABILITY=false
	(cd "$dir" && timeout 120 "$WORK/bin/blnk" migrate up >>"$OUT/blnk.log" 2>&1)
	(cd "$dir" && exec "$WORK/bin/blnk" start >>"$OUT/blnk.log" 2>&1) &
	SERVER=$!
	PIDS+=("$SERVER")
	wait_http "http://127.0.0.1:$BLNK_PORT/health"
}

# Formance Ledger: one process with its worker (--worker), as its
# single-binary deployment runs. Its pool (20 connections by default) is
# raised to 64, and kept open (idle 64: at its default of none kept idle, a pool
# wider than the load closes and reopens a connection per request, which
# cut it to 9/s here); with more requests in flight on one account than
# the pool holds it deadlocks (see docs/performance.md).
start_formance() {
	freshdb ledger_bench
	"$WORK/bin/ledger" serve --postgres-uri "$PG/ledger_bench?sslmode=disable" --postgres-max-open-conns 64 --postgres-max-idle-conns 64 \
		--auto-upgrade --worker --bind "127.0.0.1:$LEDGER_PORT" >>"$OUT/formance.log" 2>&1 &
	SERVER=$!
	PIDS+=("$SERVER")
	wait_http "http://127.0.0.1:$LEDGER_PORT/_healthcheck"
}

# run_peer NAME PORT START_FN DB: spread, hot, race, each on a fresh database.
run_peer() {
	local name=$1 port=$2 start=$3 db=$4 conns=${5:-0}
	for shape in spread hot; do
		log "$name $shape"
		$start
		timeout 900 "$WORK/bin/driver" -peer "$name" -url "http://127.0.0.1:$port" -shape "$shape" \
			-clients "$CLIENTS" -duration "$DURATION" -json >"$OUT/$name-$shape.json"
		stop "$SERVER"
		dropdb_ "$db"
	done
	log "$name race"
	$start
	timeout 900 "$WORK/bin/driver" -peer "$name" -url "http://127.0.0.1:$port" -mode race -conns "$conns" \
		-json >"$OUT/$name-race.json" || true
	stop "$SERVER"
	dropdb_ "$db"
}

# refundd: its own bench (in-process server, sandbox acquirer) for the
# load, as in the rest of docs/performance.md; the race through the driver
# against `refundd serve`.
run_refundd() {
	local n=0 db
	for shape in spread hot; do
		n=$((n + 1)); db=refundd_peers_$n
		log "refundd $shape"
		freshdb "$db"
		(cd "$ROOT" && timeout 600 go run ./cmd/refundd bench --db "$PG/$db?sslmode=disable" \
			--shape "$shape" --clients "$CLIENTS" --duration "$DURATION" --json) >"$OUT/refundd-$shape.json"
		dropdb_ "$db"
	done
	log "refundd race"
	db=refundd_peers_race
	freshdb "$db"
	local url="$PG/$db?sslmode=disable" key
	key=$(timeout 120 "$WORK/bin/refundd" merchant create --db "$url" --name "Peers race" |
		sed -n 's/.*"api_key": *"\([^"]*\)".*/\1/p')
	# No rate limit: the race sends 2000 requests at once on one key.
	"$WORK/bin/refundd" serve --addr "127.0.0.1:$REFUNDD_PORT" --db "$url" --rate-limit 0 >>"$OUT/refundd.log" 2>&1 &
	SERVER=$!
	PIDS+=("$SERVER")
	wait_http "http://127.0.0.1:$REFUNDD_PORT/healthz"
	timeout 900 "$WORK/bin/driver" -peer refundd -url "http://127.0.0.1:$REFUNDD_PORT" -key "$key" -mode race \
		-json >"$OUT/refundd-race.json" || true
	stop "$SERVER"
	dropdb_ "$db"
}

build
{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go: $(go version)"
	echo "postgres: $(psql_ -Atc 'SHOW server_version')"
	echo "refundd: $(git -C "$ROOT" rev-parse HEAD)"
	if [ -d "$WORK/src/blnk" ]; then echo "blnk: $BLNK_TAG $(git -C "$WORK/src/blnk" rev-parse HEAD)"; fi
	if [ -d "$WORK/src/ledger" ]; then echo "formance ledger: $LEDGER_TAG $(git -C "$WORK/src/ledger" rev-parse HEAD)"; fi
} >"$OUT/versions.txt"

for sys in $ONLY; do
	case $sys in
	refundd) run_refundd ;;
	blnk) run_peer blnk "$BLNK_PORT" start_blnk blnk_bench ;;
	# The race through 48 connections: more requests in flight than its
	# pool holds deadlock on the raced account (docs/performance.md).
	formance) run_peer formance "$LEDGER_PORT" start_formance ledger_bench 48 ;;
	*) echo "unknown system $sys" >&2; exit 2 ;;
	esac
done

"$WORK/bin/driver" table "$OUT" | tee "$OUT/table.md"
cat "$OUT/versions.txt"
log "results in $OUT"
