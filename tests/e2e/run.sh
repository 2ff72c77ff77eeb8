#!/usr/bin/env bash
# Runs the end-to-end tests: each starts a real azlite and drives it with real
# clients (az, the Python SDKs, the JS SDKs).  Prints "e2e: N passed, N failed".
# Arguments, if given, are substrings of test file paths: `run.sh foundation`.
set -u
cd "$(dirname "$0")/../.."
export AZLITE_BIN="$PWD/build/azlite"
passed=0 failed=0 skipped=0
picks=("$@")

py_out=$(mktemp)
/usr/bin/python3 tests/e2e/run_py.py "$@" 2>&1 | tee "$py_out"
line=$(grep -E '^python: [0-9]+ passed' "$py_out" | tail -1)
if [ -n "$line" ]; then
  set -- $line
  passed=$((passed + $2)); failed=$((failed + $4)); skipped=$((skipped + ${6:-0}))
else
  failed=$((failed + 1))
fi
rm -f "$py_out"

# The node test files; arguments select them as they select the Python ones.
node_files=()
for f in tests/e2e/node/*.test.mjs; do
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
  if [ ! -d tests/e2e/node/node_modules ]; then
    echo "node tests: tests/e2e/node/node_modules is missing (run scripts/setup.sh)"
    failed=$((failed + 1))
  else
    node_out=$(mktemp)
    (cd tests/e2e/node && node --test --test-reporter=tap "${node_files[@]}") 2>&1 | tee "$node_out"
    np=$(grep -E '^# pass ' "$node_out" | awk '{print $3}')
    nf=$(grep -E '^# fail ' "$node_out" | awk '{print $3}')
    passed=$((passed + ${np:-0})); failed=$((failed + ${nf:-1}))
    rm -f "$node_out"
  fi
fi

echo "e2e: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
