#!/usr/bin/env bash
# Installs the Debian packages gpumem builds and tests with, if missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libjansson-dev libcmocka-dev libcurl4-openssl-dev nginx python3 python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
