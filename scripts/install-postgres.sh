#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the Postgres source path (make run SOURCE=postgres,
# tests/test_policy_admin_postgres.py).
#
# Why a script: the test must run in CI (CI=true), where nothing installed by hand survives a new
# machine. The server comes from Debian's own packages; the project starts its own cluster
# (transforms/sources/postgres_server.py), so the package's default cluster is not needed and is
# not started here. Idempotent: does nothing when initdb and pg_ctl are already there.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
   && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    echo "postgresql server already installed: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
    exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_update
# postgresql-common would create and start a default cluster on install: not wanted here
$SUDO mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
apt_install postgresql
echo "installed: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
