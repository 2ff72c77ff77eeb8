#!/usr/bin/env bash
# scripts/setup.sh: installs what azlite needs on Debian 12 and builds it.
#
# Idempotent: packages already installed are not touched (apt-get runs only
# when one is missing), node modules are installed only when their lock file
# changed, and `make` rebuilds only what changed.  Runs as root, or through
# sudo when it needs to install.  No prompts (CI=true, no stdin are fine).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler and the C libraries azlite builds on (libcurl and libyaml are the
# chosen client-side HTTP and YAML libraries; nothing links them yet).
BUILD_PACKAGES=(build-essential gcc make pkg-config libmicrohttpd-dev libjansson-dev
                libexpat1-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev libyaml-dev)
# The sanitizer and fuzzing builds (make asan, make fuzz): clang with its libFuzzer
# and sanitizer runtimes (gcc's libasan/libubsan come with build-essential).
FUZZ_PACKAGES=(clang libclang-rt-14-dev)
# The clients the end-to-end tests drive, and the tools they use.
CLIENT_PACKAGES=(azure-cli python3-azure python3-azure-storage python3-cryptography
                 python3-requests nodejs npm)
# What the seed's function app imports (torch, for the Azure Functions e2e test).
FUNCTION_PACKAGES=(python3-torch)
# Inside VM sandboxes: sshd (the host's binary runs in each VM; the host's own
# ssh service is not started by this install, see policy-rc.d below).
SANDBOX_PACKAGES=(openssh-server openssh-client)
# What the ML tests' training script imports, on the host's Python (which ML
# cluster nodes run jobs on when an environment cannot be built offline), and
# venv + pip, which build an environment's pip dependencies on a node.
ML_PACKAGES=(python3-torch python3-numpy python3-venv python3-pip)
# Benchmarks and the tests' helpers.
TOOL_PACKAGES=(wrk curl openssl ca-certificates)
# bench/endpoint.py: the same score.py behind Flask + gunicorn, beside azlite's endpoint.
BENCH_PACKAGES=(python3-flask gunicorn)

log() { printf 'setup: %s\n' "$*"; }

# Installed as that Debian package, or, for the tools, present as a command from
# elsewhere: NodeSource's nodejs carries npm and conflicts with Debian's npm.
present() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
  case "$1" in
    nodejs) command -v node >/dev/null 2>&1 ;;
    npm | wrk | curl | openssl) command -v "$1" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

missing=()
for p in "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}" "${CLIENT_PACKAGES[@]}" "${TOOL_PACKAGES[@]}" \
         "${SANDBOX_PACKAGES[@]}" "${ML_PACKAGES[@]}" "${FUNCTION_PACKAGES[@]}" \
         "${BENCH_PACKAGES[@]}"; do
  present "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      log "these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
      exit 1
    fi
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # A host sshd on 0.0.0.0:22 would take the port each VM's public address
  # forwards: the package's service is not started (Debian's policy-rc.d).
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
  fi
  rc=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null || rc=$?
  [ -z "$policy" ] || "${sudo[@]}" rm -f "$policy"
  [ "$rc" -eq 0 ] || exit "$rc"
else
  log "Debian packages: all present"
fi

# The JavaScript SDK tests' modules (@azure/*), when there are any.
node_dir=tests/e2e/node
if [ -f "$node_dir/package.json" ]; then
  stamp="$node_dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$node_dir/package.json" ] &&
     { [ ! -f "$node_dir/package-lock.json" ] || [ "$stamp" -nt "$node_dir/package-lock.json" ]; }; then
    log "node modules in $node_dir: up to date"
  elif [ -f "$node_dir/package-lock.json" ]; then
    log "npm ci in $node_dir"
    (cd "$node_dir" && npm ci --no-audit --no-fund </dev/null)
  else
    log "npm install in $node_dir"
    (cd "$node_dir" && npm install --no-audit --no-fund </dev/null)
  fi
fi

log "building"
make -j"$(nproc)"
log "done: start azlite with build/azlite serve; run the tests with make test"
