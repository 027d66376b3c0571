#!/usr/bin/env bash
# Debian packages the tests use, installed when missing: prometheus (for promtool), tmux (the walk screen), chromium and
# chromium-driver (the account view's browser tests). Needs root and
# apt-get; elsewhere it says what is missing and the tests that need it are skipped (failed in CI).
set -uo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/debian-packages.sh: missing ${missing[*]} (install as root: apt-get install ${missing[*]})" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || echo "scripts/debian-packages.sh: could not install ${missing[*]}" >&2
