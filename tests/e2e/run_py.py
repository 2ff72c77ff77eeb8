"""Runs every tests/e2e/**/test_*.py with unittest in one process and prints
"python: N passed, N failed, N skipped", then each skip's test and reason.
Exit status 1 on any failure.  Arguments, if given, are substrings that select
test files.  AZLITE_E2E_DIR names another directory of tests (the runner's
self-test uses it).

Every test, and every module or class fixture, is bounded in time
(AZLITE_TEST_TIMEOUT seconds, default 300): past it SIGALRM fails that test
with a traceback of where it hung and the run moves on.  If even that cannot
interrupt it, faulthandler dumps every thread and ends the process (exit 70).

Each file is imported under a name made from its path (e2e.foundation.test_cli),
so two providers may both have a test_cli.py without one hiding the other."""
import faulthandler
import functools
import importlib.util
import os
import signal
import sys
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
TESTS = os.path.abspath(os.environ.get("AZLITE_E2E_DIR") or HERE)
TIMEOUT = int(os.environ.get("AZLITE_TEST_TIMEOUT", "300"))
GRACE = 30  # after the alarm, how long the hard backstop waits before ending the run


class TestTimeout(BaseException):
    """A BaseException, so that a test's own `except Exception` cannot swallow it."""


def on_alarm(signum, frame):
    where = "".join(traceback.format_stack(frame)[-6:])
    raise TestTimeout("still running after %d s (AZLITE_TEST_TIMEOUT); it was at:\n%s"
                      % (TIMEOUT, where))


def arm():
    signal.alarm(TIMEOUT)
    faulthandler.dump_traceback_later(TIMEOUT + GRACE, exit=True)


def disarm():
    signal.alarm(0)
    faulthandler.cancel_dump_traceback_later()


def bounded(fn):
    """fn run under the alarm: module and class fixtures are bounded too."""
    @functools.wraps(fn)
    def run(*a, **kw):
        arm()
        try:
            return fn(*a, **kw)
        except TestTimeout as e:  # unittest reports fixtures' Exceptions, not BaseExceptions
            raise RuntimeError(str(e)) from None
        finally:
            disarm()
    return run


def bound_fixtures(mod):
    for name in ("setUpModule", "tearDownModule"):
        if callable(getattr(mod, name, None)):
            setattr(mod, name, bounded(getattr(mod, name)))
    for obj in list(vars(mod).values()):
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase):
            for name in ("setUpClass", "tearDownClass"):
                if name in vars(obj):
                    fn = vars(obj)[name].__func__
                    setattr(obj, name, classmethod(bounded(fn)))


class BoundedResult(unittest.TextTestResult):
    """Arms the alarm around each test: setUp, the test and tearDown."""

    def startTest(self, test):
        super().startTest(test)
        arm()

    def stopTest(self, test):
        disarm()
        super().stopTest(test)


def load(path):
    rel = os.path.relpath(path, TESTS)[:-len(".py")]
    name = "e2e." + rel.replace(os.sep, ".")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    # A test file may import helpers that sit beside it.
    sys.path.insert(0, os.path.dirname(path))
    try:
        bounded(spec.loader.exec_module)(mod)
    finally:
        sys.path.pop(0)
    bound_fixtures(mod)
    return mod


# AZLITE_E2E_EXCLUDE: substrings of test paths to leave out (CI's sanitizer run).
EXCLUDE = os.environ.get("AZLITE_E2E_EXCLUDE", "").split()
# AZLITE_E2E_SHARD "k/n": only the selected files whose place in the sorted
# list is k modulo n (run.sh runs n shards side by side).
SHARD = tuple(int(x) for x in os.environ.get("AZLITE_E2E_SHARD", "0/1").split("/"))


def main():
    picks = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    signal.signal(signal.SIGALRM, on_alarm)
    selected = 0
    for root, dirs, files in os.walk(TESTS):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "__pycache__"))
        for f in sorted(files):
            if f.startswith("test_") and f.endswith(".py"):
                path = os.path.join(root, f)
                # Matched against the path below tests/e2e, not the checkout's location.
                rel = os.path.relpath(path, TESTS)
                if picks and not any(p in rel for p in picks):
                    continue
                if any(x in rel for x in EXCLUDE):
                    continue
                selected += 1
                if (selected - 1) % SHARD[1] != SHARD[0]:
                    continue
                try:
                    suite.addTests(loader.loadTestsFromModule(load(path)))
                except Exception as e:  # an import error is a failed test, not a crash
                    suite.addTest(unittest.FunctionTestCase(
                        lambda e=e, path=path: (_ for _ in ()).throw(
                            ImportError("%s: %r" % (path, e))),
                        description="import " + os.path.relpath(path, TESTS)))
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=BoundedResult)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    if passed < 0:  # errors in module fixtures are not counted in testsRun
        passed = 0
    print("python: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    for test, reason in result.skipped:
        print("skipped: %s: %s" % (test.id(), reason))
    # run.sh fails a run in which nothing passed at all, Python and node together.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main())
