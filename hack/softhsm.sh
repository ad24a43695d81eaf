#!/usr/bin/env bash
# Makes sure SoftHSM2 (softhsm2-util and its PKCS#11 module) is installed, for
# the tests of pkg/signer/pkcs11. Idempotent: nothing is installed when both
# are already there. When something is missing, the Debian package softhsm2 is
# installed with apt-get (through sudo when not root; apt-get update is run
# only if the first install attempt fails). Prints the module path on stdout.
#
# Usage: hack/softhsm.sh [--print-module]
#   --print-module  print the path of the SoftHSM2 PKCS#11 module and exit
#                   (installs nothing; fails when SoftHSM2 is missing)
#
# Environment:
#   SOFTHSM2_MODULE  path of the module, when it is not in a standard place;
#                    when set, it is the only path looked at.
set -euo pipefail

# find_module prints the first SoftHSM2 module found, or fails.
find_module() {
  if [[ -n "${SOFTHSM2_MODULE:-}" ]]; then
    # An explicit path is the only candidate: a wrong one must not be hidden.
    [[ -f "$SOFTHSM2_MODULE" ]] && echo "$SOFTHSM2_MODULE"
    return
  fi
  local candidates=()
  local multiarch=""
  if command -v dpkg-architecture >/dev/null 2>&1; then
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
  elif command -v gcc >/dev/null 2>&1; then
    multiarch=$(gcc -print-multiarch 2>/dev/null || true)
  fi
  candidates+=(/usr/lib/softhsm/libsofthsm2.so)
  if [[ -n "$multiarch" ]]; then
    candidates+=("/usr/lib/$multiarch/softhsm/libsofthsm2.so")
  fi
  candidates+=(
    /usr/lib64/pkcs11/libsofthsm2.so
    /usr/lib64/softhsm/libsofthsm2.so
    /usr/lib/pkcs11/libsofthsm2.so
    /usr/local/lib/softhsm/libsofthsm2.so
    /opt/homebrew/lib/softhsm/libsofthsm2.so
  )
  local c
  for c in "${candidates[@]}"; do
    if [[ -f "$c" ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

installed() {
  command -v softhsm2-util >/dev/null 2>&1 && find_module >/dev/null
}

# missing explains on stderr what installed found missing.
missing() {
  if ! command -v softhsm2-util >/dev/null 2>&1; then
    echo "softhsm: softhsm2-util is not on PATH" >&2
  fi
  if [[ -n "${SOFTHSM2_MODULE:-}" && ! -f "$SOFTHSM2_MODULE" ]]; then
    echo "softhsm: SOFTHSM2_MODULE=$SOFTHSM2_MODULE does not exist" >&2
  elif ! find_module >/dev/null; then
    echo "softhsm: libsofthsm2.so is not in any standard place (set SOFTHSM2_MODULE to its path)" >&2
  fi
}

if [[ "${1:-}" == "--print-module" ]]; then
  if ! installed; then
    missing
    echo "softhsm: SoftHSM2 is not installed; run hack/softhsm.sh" >&2
    exit 1
  fi
  find_module
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: hack/softhsm.sh [--print-module]" >&2
  exit 2
fi

if ! installed; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "softhsm: SoftHSM2 is missing and apt-get is not available; install SoftHSM2 with your package manager (or set SOFTHSM2_MODULE)" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "softhsm: SoftHSM2 is missing; installing it needs root, and sudo is not available" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  apt_install() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends softhsm2
  }
  echo "softhsm: installing the Debian package softhsm2" >&2
  if ! apt_install; then
    echo "softhsm: install failed; updating the package lists and retrying" >&2
    if ! "${sudo[@]}" apt-get update || ! apt_install; then
      echo "softhsm: could not install the Debian package softhsm2" >&2
      exit 1
    fi
  fi
  if ! installed; then
    missing
    echo "softhsm: the Debian package softhsm2 is installed but SoftHSM2 is still not usable" >&2
    exit 1
  fi
fi
find_module
