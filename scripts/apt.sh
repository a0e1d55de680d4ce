# Sourced by scripts/install-*.sh after their "already installed" check: root or sudo, and
# non-interactive apt-get from Debian's own packages (the only package source reachable here).
# Defines $SUDO for a script's own steps between the two calls.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

apt_update() { $SUDO apt-get update -qq; }

# apt_install PACKAGE...: without recommends, quiet unless it fails
apt_install() { $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
