"""The small harness of the Python checks under tests/ (run by CTest): each check
prints one line, and finish() exits 1 if any failed; skip_without() exits 77
(CTest's "skipped") where a module the check needs is not installed."""
import importlib
import sys

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def finish():
    print(f"{len(failures)} of the checks failed" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


def skip_without(module, why=""):
    """Imports `module` and returns it, or exits 77 when it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        print(f"skipped: {why or e}")
        sys.exit(77)
