#!/usr/bin/env bash
# Installs the Debian packages eddy needs to build, test and run, when missing.
# Idempotent and quiet when everything is there. Needs root (or sudo) to install.
set -euo pipefail
packages=(build-essential cmake pkg-config
          librdkafka-dev librocksdb-dev libjansson-dev liblz4-dev libyaml-dev zlib1g-dev libjemalloc-dev
          libcriterion-dev clang libclang-rt-14-dev kcat maven default-jre-headless
          python3 python3-venv python3-yaml python3-matplotlib time bc jq libmicrohttpd-dev libcurl4-openssl-dev
          chromium curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A JDK 17+ already on PATH (e.g. a Temurin install) serves as well as Debian's.
if [[ " ${missing[*]} " == *" default-jre-headless "* ]] && command -v java >/dev/null; then
  missing=("${missing[@]/default-jre-headless}")
fi
if [[ " ${missing[*]} " == *" maven "* ]] && command -v mvn >/dev/null; then
  missing=("${missing[@]/maven}")
fi
read -r -a missing <<< "${missing[*]}"
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
