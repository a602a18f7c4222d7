#!/usr/bin/env python3
"""Writes the deck-key table of README.md from the program itself.

The table between the lines `<!-- keytable:begin -->` and `<!-- keytable:end -->` of README.md is
replaced by the output of `bin/plurigauss -help_markdown`, which prints the key table of
src/config.c (the one that drives parsing, range checks and `-help`) as Markdown. Run it after
adding or changing a deck key:

    /usr/bin/python3 tools/keytable.py            # rewrite README.md's table
    /usr/bin/python3 tools/keytable.py --check    # exit 1 if README.md's table is out of date

The binary is bin/plurigauss of this repository unless PLURIGAUSS_BIN or --bin names another. It
runs as an MPI singleton (no mpirun). tests/test_deck.py::test_readme_key_table checks the same.
Plain python3 (no third-party module).
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- keytable:begin -->"
END = "<!-- keytable:end -->"


def program_table(binary):
    """The Markdown table printed by `binary -help_markdown`, as a list of lines."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run([binary, "-help_markdown"], env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"keytable: {binary} -help_markdown exited {p.returncode}:\n{p.stderr[-2000:]}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("|")]
    if len(lines) < 3:
        raise SystemExit(f"keytable: {binary} -help_markdown printed no table:\n{p.stdout[-2000:]}")
    return lines


def split_readme(text):
    """(before, table lines, after) of README.md's text around the markers."""
    lines = text.split("\n")
    try:
        b = lines.index(BEGIN)
        e = lines.index(END)
    except ValueError:
        raise SystemExit(f"keytable: README.md lacks the lines {BEGIN} and {END}")
    if e < b:
        raise SystemExit(f"keytable: {END} comes before {BEGIN} in README.md")
    return lines[:b + 1], lines[b + 1:e], lines[e:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    ap.add_argument("--bin", default=os.environ.get("PLURIGAUSS_BIN", os.path.join(ROOT, "bin", "plurigauss")))
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if the table differs")
    a = ap.parse_args()
    with open(a.readme, encoding="utf-8") as f:
        text = f.read()
    before, old, after = split_readme(text)
    new = program_table(a.bin)
    if old == new:
        print(f"keytable: {a.readme}: {len(new) - 2} keys, up to date")
        return 0
    if a.check:
        print(f"keytable: {a.readme}: the key table differs from {a.bin} -help_markdown; run tools/keytable.py", file=sys.stderr)
        return 1
    tmp = a.readme + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(before + new + after))
    os.replace(tmp, a.readme)
    print(f"keytable: {a.readme}: {len(new) - 2} keys written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
