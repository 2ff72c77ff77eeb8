#!/usr/bin/env bash
# Runs the end-to-end tests: each starts a real azlite and drives it with real
# clients (az, the Python SDKs, the JS SDKs).  Prints
# "e2e: N passed, N failed, N skipped", then each skipped test and why.
# Arguments, if given, are substrings of test file paths: `run.sh foundation`.
#
# Exit status 0 only when something passed and nothing failed: a failed,
# cancelled or timed-out test, a runner that exits non-zero, or one that prints
# no summary is a failure.  Bounds: AZLITE_TEST_TIMEOUT seconds per test
# (default 300), AZLITE_E2E_TIMEOUT seconds per runner (default 3600).
# AZLITE_BIN tests another binary (make asan: the sanitizer build).
# AZLITE_E2E_EXCLUDE: words; Python test files whose path holds one are left out.
# AZLITE_E2E_JOBS: how many Python runners share the files (default 2).
# AZLITE_E2E_DIR runs the tests of another directory (the runner's self-test).
set -u
cd "$(dirname "$0")/../.."

# Tests must reach the server they start and nothing else: drop what a shell
# that ran `eval "$(azlite env)"` (or an Azure login) would hand them.
for v in $(compgen -e); do
  case "$v" in
    AZLITE_BIN | AZLITE_E2E_EXCLUDE | AZLITE_E2E_JOBS | AZLITE_E2E_DIR | AZLITE_TEST_TIMEOUT | AZLITE_E2E_TIMEOUT | AZLITE_KEEP_DATA) ;;
    AZURE_* | AZLITE_* | AZURITE_* | IDENTITY_* | MSI_* | MSAL_* | ARM_* | \
      REQUESTS_CA_BUNDLE | SSL_CERT_FILE | CURL_CA_BUNDLE | NODE_EXTRA_CA_CERTS)
      unset "$v" ;;
  esac
done
export AZLITE_BIN="${AZLITE_BIN:-$PWD/build/azlite}"
export AZLITE_TEST_TIMEOUT="${AZLITE_TEST_TIMEOUT:-300}"
run_limit="${AZLITE_E2E_TIMEOUT:-3600}"
tests_dir="${AZLITE_E2E_DIR:-tests/e2e}"
tests_dir="$(cd "$tests_dir" && pwd)" || exit 2
export AZLITE_E2E_DIR="$tests_dir"
passed=0 failed=0 skipped=0
skips=()
picks=("$@")

# One runner's status: a runner that failed but counted no failure still failed.
runner_status() { # name rc counted-failures
  if [ "$2" -eq 124 ]; then
    echo "$1: the run passed AZLITE_E2E_TIMEOUT (${run_limit}s) and was stopped"
    failed=$((failed + 1))
  elif [ "$2" -ne 0 ] && [ "$3" -eq 0 ]; then
    echo "$1: exited with status $2 but counted no failure; counting it as one"
    failed=$((failed + 1))
  fi
}

# The Python files run in AZLITE_E2E_JOBS shards side by side (default 2: most
# of a test's time is waiting on a client or a long-running operation); each
# shard's output is printed when it ends, whole.
jobs="${AZLITE_E2E_JOBS:-2}"
py_outs=() py_pids=()
for ((k = 0; k < jobs; k++)); do
  py_outs+=("$(mktemp)")
  AZLITE_E2E_SHARD="$k/$jobs" timeout -k 30 "$run_limit" /usr/bin/python3 tests/e2e/run_py.py \
    "$@" >"${py_outs[k]}" 2>&1 &
  py_pids+=($!)
done
for ((k = 0; k < jobs; k++)); do
  wait "${py_pids[k]}"
  py_rc=$?
  py_out="${py_outs[k]}"
  echo "---- python shard $((k + 1))/$jobs ----"
  cat "$py_out"
  line=$(grep -E '^python: [0-9]+ passed' "$py_out" | tail -1)
  if [ -n "$line" ]; then
    set -- $line
    passed=$((passed + $2)); failed=$((failed + $4)); skipped=$((skipped + ${6:-0}))
    runner_status "python shard $((k + 1))" "$py_rc" "$4"
  else
    echo "python shard $((k + 1)): no summary line (exit status $py_rc)"
    runner_status python "$py_rc" 0
    [ "$py_rc" -eq 0 ] && failed=$((failed + 1))
  fi
  while IFS= read -r l; do skips+=("python ${l#skipped: }"); done \
    < <(grep -E '^skipped: ' "$py_out")
  rm -f "$py_out"
done

# The node test files; arguments select them as they select the Python ones.
node_dir="$tests_dir/node"
node_files=()
for f in "$node_dir"/*.test.mjs; do
  [ -e "$f" ] || continue
  if [ ${#picks[@]} -eq 0 ]; then
    node_files+=("${f##*/}")
  else
    for pick in "${picks[@]}"; do
      case "$f" in *"$pick"*) node_files+=("${f##*/}"); break ;; esac
    done
  fi
done

if [ ${#node_files[@]} -gt 0 ]; then
  if [ -f "$node_dir/package.json" ] && [ ! -d "$node_dir/node_modules" ]; then
    echo "node tests: $node_dir/node_modules is missing (run scripts/setup.sh)"
    failed=$((failed + 1))
  else
    node_out=$(mktemp)
    (cd "$node_dir" && timeout -k 30 "$run_limit" node --test --test-reporter=tap \
      --test-timeout=$((AZLITE_TEST_TIMEOUT * 1000)) "${node_files[@]}") 2>&1 | tee "$node_out"
    node_rc=${PIPESTATUS[0]}
    count() { grep -E "^# $1 [0-9]+$" "$node_out" | tail -1 | awk '{print $3}'; }
    np=$(count pass) nf=$(count fail) nc=$(count cancelled) ns=$(count skipped)
    if [ -z "$np" ] || [ -z "$nf" ]; then
      echo "node: no summary (exit status $node_rc)"
      nf=${nf:-1}
    fi
    # A hook that throws cancels the tests it guards: they did not pass.
    passed=$((passed + ${np:-0})); failed=$((failed + nf + ${nc:-0}))
    skipped=$((skipped + ${ns:-0}))
    runner_status node "$node_rc" $((nf + ${nc:-0}))
    # TAP: "ok N - name # SKIP reason", indented by nesting depth.
    while IFS= read -r l; do skips+=("node $l"); done < <(sed -nE \
      's/^ *ok [0-9]+ - (.*) # SKIP ?(.*)$/\1: \2/p' "$node_out")
    rm -f "$node_out"
  fi
fi

echo "e2e: $passed passed, $failed failed, $skipped skipped"
for s in "${skips[@]+"${skips[@]}"}"; do echo "skipped: $s"; done
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
