"""Runs every tests/e2e/**/test_*.py with unittest in one process and prints
"python: N passed, N failed[, N skipped]".  Exit status 1 on any failure.
Arguments, if given, are substrings that select test files.

Each file is imported under a name made from its path (e2e.foundation.test_cli),
so two providers may both have a test_cli.py without one hiding the other."""
import importlib.util
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))


def load(path):
    rel = os.path.relpath(path, HERE)[:-len(".py")]
    name = "e2e." + rel.replace(os.sep, ".")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    # A test file may import helpers that sit beside it.
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.pop(0)
    return mod


def main():
    picks = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for root, dirs, files in os.walk(HERE):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "__pycache__"))
        for f in sorted(files):
            if f.startswith("test_") and f.endswith(".py"):
                path = os.path.join(root, f)
                if picks and not any(p in path for p in picks):
                    continue
                try:
                    suite.addTests(loader.loadTestsFromModule(load(path)))
                except Exception as e:  # an import error is a failed test, not a crash
                    suite.addTest(unittest.FunctionTestCase(
                        lambda e=e, path=path: (_ for _ in ()).throw(
                            ImportError("%s: %r" % (path, e)))))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("python: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
