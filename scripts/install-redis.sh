#!/usr/bin/env bash
# Install Debian's redis-server, the Celery broker of `make run-distributed`
# (tests/test_distributed.py).
#
# Why a script: the test runs in CI (CI=true), where nothing installed by hand survives a new
# machine. The binary comes from Debian's own package; the project starts its own redis with its
# own configuration (transforms/operations/redis_broker.py: loopback, no persistence), so the
# package's system service is neither needed nor started here. Idempotent: does nothing when
# redis-server is already there.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server already installed: $(command -v redis-server)"
    exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_update
# policy-rc.d 101: the package's post-install must not start the system-wide service
# (it would listen on 6379 with Debian's config, beside ours)
NO_START=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    NO_START=1
fi
trap 'if [ -n "$NO_START" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt_install redis-server
echo "installed: $(command -v redis-server)"
