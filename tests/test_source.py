"""Rules of the C sources that keep the code readable and its data flow one-way (docs/design.md):
no function in src/ longer than 80 lines; no stage writes to the deck object (PgConfig is taken
const everywhere but in config.c, which fills it); the modules' includes form no circle. Each scanner
is first run on a small text where it must find the fault, so that a scanner that finds nothing
cannot pass by accident."""
import glob
import os
import re

import pgtest

SRC = sorted(glob.glob(os.path.join(pgtest.ROOT, "src", "*.c")))
HEADERS = sorted(glob.glob(os.path.join(pgtest.ROOT, "include", "plurigauss", "*.h")))
MAX_LINES = 80


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def functions(text):
    """(name, lines) of every function definition: from the line that starts its signature (a line
    at column 0 with a '(') to its closing brace at column 0; the code style puts both braces of a
    function alone at column 0."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i] == "{":
            j = i
            while lines[j] != "}":
                j += 1
            k = i - 1
            while not (re.match(r"^[A-Za-z]", lines[k]) and "(" in lines[k]):
                k -= 1
            name = re.search(r"(\w+)\s*\(", lines[k]).group(1)
            out.append((name, j - k + 1))
            i = j
        i += 1
    return out


def deck_writes(text):
    """Places that write to the deck: a non-const PgConfig pointer parameter, or an assignment to a
    member of cfg (cfg->a = ..., cfg->a.b[i] = ..., not ==)."""
    bad = [m.group(0) for m in re.finditer(r"(?<!const )\bPgConfig\s*\*\s*\w+", text)]
    bad += [m.group(0).strip() for m in re.finditer(r"\bcfg->[\w.\[\]>-]+\s*(?:[-+*/|&]?=)(?!=)", text)]
    return bad


def test_scanners_find_the_faults():
    long_fn = "static int F(void)\n{\n" + "  x++;\n" * MAX_LINES + "}\n"
    assert functions(long_fn) == [("F", MAX_LINES + 3)], functions(long_fn)
    assert functions("int G(int a,\n      int b)\n{\n  return a;\n}\n") == [("G", 5)]
    assert deck_writes("void f(PgConfig *cfg)") and deck_writes("  cfg->model.m = 1;") and deck_writes("cfg->n[0] += 2;")
    assert not deck_writes("void f(const PgConfig *cfg) { if (cfg->m == 1) return; }")


def test_no_function_longer_than_80_lines():
    long = [f"{os.path.basename(p)}: {name} ({n} lines)" for p in SRC for name, n in functions(read(p)) if n > MAX_LINES]
    count = sum(len(functions(read(p))) for p in SRC)
    assert count > 500, f"found only {count} functions in src/: the scanner is broken"
    assert not long, "functions over %d lines:\n%s" % (MAX_LINES, "\n".join(long))


def test_no_stage_writes_the_deck():
    """Only config.c (PgConfigLoad and its loaders) fills a PgConfig; every other file takes it const."""
    bad = [f"{os.path.relpath(p, pgtest.ROOT)}: {w}" for p in SRC + HEADERS if not p.endswith(("config.c", "config.h"))
           for w in deck_writes(read(p))]
    assert not bad, "the deck is written outside config.c:\n" + "\n".join(bad)


def includes_graph():
    """module -> the modules whose headers its .c and .h include (module = file stem)."""
    graph = {}
    for p in SRC + HEADERS:
        mod = os.path.splitext(os.path.basename(p))[0]
        inc = set(re.findall(r'#include\s+<plurigauss/(\w+)\.h>', read(p))) - {mod}
        graph.setdefault(mod, set()).update(inc)
    return graph


def cycle(graph):
    """One circle of the graph as a list of modules, or None."""
    state, stack = {}, []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if not state.get(w):
                c = visit(w)
                if c:
                    return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if not state.get(v):
            c = visit(v)
            if c:
                return c
    return None


def test_no_include_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    graph = includes_graph()
    assert len(graph) > 25 and "config" in graph["main"], sorted(graph)
    c = cycle(graph)
    assert c is None, "the modules include each other in a circle: " + " -> ".join(c)


ISSUE = re.compile(r"\b[Ii]ssue\s*#?\d+")


def test_no_issue_numbers_in_docs_or_comments():
    """The docs and the code say what the program does and why, not which request brought it."""
    assert ISSUE.search("see issue 16") and ISSUE.search("(Issue #3)") and not ISSUE.search("an issue of time")
    files = [p for pat in ("src/*.c", "include/plurigauss/*.h", "tests/*.py", "tests/c/*.c", "benchmarks/*", "postprocess/*.py",
                           "tools/*", "jobs/*", "docs/*.md", "inputs/*.yaml", "*.md", "Makefile", ".ci/run")
             for p in glob.glob(os.path.join(pgtest.ROOT, pat)) if os.path.isfile(p) and not p.endswith((".png", ".h5", ".csv"))]
    assert len(files) > 80, len(files)
    me = os.path.abspath(__file__)
    bad = [f"{os.path.relpath(p, pgtest.ROOT)}: {m.group(0)}" for p in files if os.path.abspath(p) != me
           for m in ISSUE.finditer(open(p, encoding="utf-8", errors="replace").read())]
    assert not bad, "issue numbers in the repository:\n" + "\n".join(bad)
