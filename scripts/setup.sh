#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine; cheap to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv python3-dev build-essential
  postgresql mariadb-server mariadb-client libmariadb-dev pkg-config
  unixodbc unixodbc-dev tdsodbc
  openssh-server openssh-client
  krb5-kdc krb5-admin-server krb5-user libkrb5-dev
  openssl chromium fonts-liberation nodejs npm curl
  redis-server
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js may come from elsewhere than Debian (then npm is there too).
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
# The lock, exactly (every line pinned with its hash), then the project itself without its
# dependencies: pip refuses editable installs under --require-hashes, and the lock already holds them.
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: installing Python requirements (requirements-dev.txt, hashes required)"
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

# npm packages exactly as package-lock.json has them (npm ci never rewrites the lock).
npm_stamp=node_modules/.package-lock.sha
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $npm_stamp || $(cat "$npm_stamp") != "$npm_want" ]]; then
  echo "setup: installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --silent
  echo "$npm_want" > "$npm_stamp"
fi
