#!/usr/bin/env python3
"""The plurigauss test suite: runs every test_* function of the tests/test_*.py modules (or those
named on the command line: module or module::function), prints PASS/FAIL with the time of each
(SKIP for a test marked pgtest.long_test, unless PLURIGAUSS_LONG=1 or it is named with ::),
and ends with the line `N passed, N failed`. Exit status 1 if any failed."""
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.chdir(os.path.dirname(HERE))


def collect(selection):
    mods = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    tests = []
    for m in mods:
        wanted = [s for s in selection if s.split("::")[0] in (m, m + ".py")]
        if selection and not wanted:
            continue
        mod = importlib.import_module(m)
        for name in sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))):
            if wanted and not any("::" not in s or s.split("::")[1] == name for s in wanted):
                continue
            tests.append((f"{m}::{name}", getattr(mod, name)))
    return tests


def main():
    tests = collect(sys.argv[1:])
    passed = failed = skipped = 0
    t_all = time.time()
    named = {s for s in sys.argv[1:] if "::" in s}
    run_long = bool(os.environ.get("PLURIGAUSS_LONG"))
    for name, fn in tests:
        if getattr(fn, "long", False) and not run_long and name not in named:
            skipped += 1
            print(f"SKIP {name} (long: make check LONG=1 runs it)")
            continue
        t0 = time.time()
        try:
            fn()
        except Exception as e:  # a failing or crashing test is reported, the suite goes on
            failed += 1
            print(f"FAIL {name} ({time.time() - t0:.1f} s)")
            msg = str(e) if isinstance(e, AssertionError) and str(e) else traceback.format_exc()
            print("     " + msg.strip().replace("\n", "\n     "))
        else:
            passed += 1
            print(f"PASS {name} ({time.time() - t0:.1f} s)")
        sys.stdout.flush()
    print(f"suite time {time.time() - t_all:.0f} s")
    import shutil
    import pgtest
    if not failed:  # keep the outputs of a failing suite for inspection
        shutil.rmtree(pgtest.WORK, ignore_errors=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} long skipped" if skipped else ""))
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
