#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when they are missing. `make test` and .ci/run call
# this one script, so the list lives here only. The demo needs none of them (the CJK font comes from
# `edge-agent models fetch`), only `python3 -m venv` working: `--venv`, which the Makefile calls when needed.
#
#   deploy/dev-deps.sh                  # install what is missing: apt-get as root, else through sudo
#   deploy/dev-deps.sh --check          # only say what is missing (exit 1 if anything is)
#   deploy/dev-deps.sh --extras paddle  # also what `make test-paddle` needs
#   deploy/dev-deps.sh --venv           # only python3-venv (Debian splits ensurepip out of python3)
#   deploy/dev-deps.sh --with-venv      # the test packages and python3-venv, in one apt-get (`make test`)
#
# Without root and without sudo (or with a sudo that wants a password, and no terminal) it prints one line
# naming the exact packages and exits 1, before any test runs. Not a Debian system (no dpkg-query): it
# says so, lists the packages, and exits 0.
set -euo pipefail

# mosquitto (+ mosquitto_passwd): the real broker of the MQTT tests; chromium: the review page's browser
# tests; shellcheck + systemd (systemd-analyze): the deploy/ checks; openssl: the tests' CA; postgresql:
# the reference consumer's database; nodejs + npm: the AsyncAPI parser that checks docs/asyncapi.yaml;
# libatomic1: the node binary inside the playwright wheel, which drives chromium, links it (without it
# every browser test errors); strace: test_as_installed's check of where the agent writes (skipped without).
PACKAGES=(mosquitto chromium shellcheck systemd openssl postgresql nodejs npm libatomic1 strace)
# A package whose command is already on PATH counts as present whatever installed it (NodeSource's nodejs
# ships npm, and Debian's npm package would fight it).
declare -A PROVIDES=([nodejs]=node [npm]=npm)
# The paddle extra pulls a non-headless OpenCV build.
PADDLE_PACKAGES=(libgl1 libglib2.0-0)

CHECK=0
# Whom the packages are for, in the line that names them where nothing can install them.
NEEDED_BY="the tests need"
usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --check) CHECK=1 ;;
    --extras)
      [[ $# -ge 2 ]] || { echo "dev-deps: --extras needs a name (paddle)" >&2; exit 2; }
      case "$2" in
        paddle) PACKAGES+=("${PADDLE_PACKAGES[@]}") ;;
        *) echo "dev-deps: unknown extra '$2' (known: paddle)" >&2; exit 2 ;;
      esac
      shift ;;
    --venv) PACKAGES=(python3-venv); NEEDED_BY="python3 -m venv (the project's .venv) needs" ;;  # the Makefile's venv step
    # `make test` on a Debian whose python3 lacks ensurepip: one apt-get (and one line without root) for both, where
    # the venv's own --venv came after and a user without root was sent back a second time for python3-venv.
    --with-venv) PACKAGES+=(python3-venv) ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; echo "dev-deps: unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "dev-deps: not a Debian system, cannot check; the tests need (Debian names): ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ -n "${PROVIDES[$p]:-}" ]] && command -v "${PROVIDES[$p]}" >/dev/null 2>&1; then
    continue
  fi
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if ((CHECK)); then
  echo "dev-deps: missing: ${missing[*]}" >&2
  exit 1
fi

if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && { [[ -t 0 ]] || sudo -n true 2>/dev/null; }; then
  as_root=(sudo)
  [[ -t 0 ]] || as_root=(sudo -n)  # no terminal to ask for a password on: fail instead of hanging
else
  # (Also a sudo that wants a password with no terminal to type it on: it said only "sudo: a password is required".)
  # What root's run below does: a bare Debian image has no package lists until `apt-get update` (the line was a bare
  # `apt-get install`: "Unable to locate package"), and recommends would add a desktop's worth to chromium.
  echo "dev-deps: ${NEEDED_BY} these Debian packages; as root run:" \
    "apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "dev-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
