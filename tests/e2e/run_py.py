"""Runs every tests/e2e/**/test_*.py with unittest in one process and prints
"python: N passed, N failed[, N skipped]".  Exit status 1 on any failure.
Arguments, if given, are substrings that select test files."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))


def main():
    picks = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for root, _, files in sorted(os.walk(HERE)):
        if "node_modules" in root:
            continue
        for f in sorted(files):
            if f.startswith("test_") and f.endswith(".py"):
                path = os.path.join(root, f)
                if picks and not any(p in path for p in picks):
                    continue
                sys.path.insert(0, root)
                suite.addTests(loader.discover(root, pattern=f, top_level_dir=root))
                sys.path.pop(0)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("python: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
