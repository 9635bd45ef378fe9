#!/usr/bin/env bash
# Installs the Debian packages Postern needs to build, run and test.
# As root: apt-get installs what is missing. Otherwise: prints the exact
# apt-get line and fails, so nothing is half set up.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libasio-dev libssl-dev libgsasl-dev
  libsqlite3-dev libhiredis-dev libtomlplusplus-dev libcli11-dev libfmt-dev
  libc-ares-dev libcrypt-dev zlib1g-dev libgmime-3.0-dev libxml2-dev libcpp-httplib-dev nlohmann-json3-dev
  libsystemd-dev libcurl4-openssl-dev openssl ca-certificates libpsl-dev publicsuffix)
test_pkgs=(libgtest-dev libgmock-dev python3 python3-aiosmtpd swaks curl msmtp gsasl postfix
  redis-server dnsmasq-base sqlite3 clang libclang-rt-14-dev
  libnet-ssleay-perl chromium python3-dkim python3-nacl git git-email libmailtools-perl systemd strace bindfs
  python3-fusepy fuse3 python3-jsonschema fetchmail python3-yaml libmail-dkim-perl
  rspamd opendkim opendkim-tools opendmarc  # test_milter_*: private instances as milters
  dovecot-core dovecot-submissiond dovecot-lmtpd dovecot-sieve)  # tests run private instances (support/dovecot.py); the packaged service is not used

want=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
# Test-only JavaScript clients (nodemailer), from the npm registry into tests/js.
js_clients() {
  [ "${1:-}" = "--test" ] || return 0
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
  # Installed when any package tests/js/package.json lists is missing.
  local name missing_js=0
  for name in $(sed -n '/"dependencies"/,/}/s/^ *"\([^"]*\)": *".*/\1/p' "$dir/package.json"); do
    [ -d "$dir/node_modules/$name" ] || missing_js=1
  done
  [ "$missing_js" -eq 0 ] && return 0
  if ! command -v npm >/dev/null && [ "$(id -u)" -eq 0 ]; then
    # Debian's npm, unless a Node.js from elsewhere (which brings its own) is there.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 || true
  fi
  if ! command -v npm >/dev/null; then
    echo "postern: npm not found; the tests with JavaScript clients (nodemailer, mailpit-api) will be skipped" >&2
    return 0
  fi
  echo "postern: installing test-only JavaScript clients (npm ci in tests/js)" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ ${#missing[@]} -eq 0 ]; then
  js_clients "${1:-}"
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "postern: missing packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "postern: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null
js_clients "${1:-}"
