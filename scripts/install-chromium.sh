#!/usr/bin/env bash
# Install Debian's Chromium for the privacy-report browser test (tests/test_privacy_report.py).
#
# Why a script: the test must run in CI (CI=true), where nothing installed by hand survives a new
# machine. Chromium comes from Debian's own packages (the only browser source reachable here);
# no downloaded browser builds. Idempotent: does nothing when chromium is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_update
apt_install chromium fonts-dejavu-core
echo "installed: $(chromium --version 2>/dev/null || echo chromium)"
