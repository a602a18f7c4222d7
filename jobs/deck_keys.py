#!/usr/bin/env python3
"""Print deck keys as plurigauss will see them: the deck's value, overridden by -section_key
options given after it (as on the plurigauss command line). For the job scripts, which need the
sweep list and the output file before they start the program.

Usage: python3 jobs/deck_keys.py DECK.yaml [-section_key value ...] --get KEY [--get KEY ...]
  KEY as on the command line without the dash (sweep_carbon_fraction, output_file) or as in the
  deck (sweep.carbon_fraction). Prints one line per --get: the value, lists comma-separated, an
  empty line when the key is unset. Exit status 1 with a one-line message if the deck cannot be
  read.

Reads the YAML subset plurigauss decks use (no PyYAML needed, any python3): top-level sections
holding `key: value` lines, top-level scalars (`threads: 2`), flow lists `[a, b]`, block lists
(`- a` lines), quoted strings and `#` comments. The program itself reads the deck with PETSc's
full YAML reader and remains the judge of what is valid.
"""
import re
import sys


def strip_comment(line):
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


def unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def scalar(text):
    """A YAML value as plurigauss' command line writes it: lists comma-separated."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return ",".join(unquote(x) for x in text[1:-1].split(",") if x.strip())
    return unquote(text)


def read_deck(path):
    """{option_name: value text} for every key in the deck (option_name = section_key)."""
    keys = {}
    section, block = None, None  # block: the key that collects `- item` lines
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = strip_comment(raw.rstrip("\n"))
            body = line.strip()
            if not body or body == "---":
                continue
            indent = len(line) - len(line.lstrip(" "))
            if body.startswith("-") and (body == "-" or body[1] == " "):
                if block is None:
                    raise ValueError(f"{path}:{n}: list item outside a key")
                keys[block] = (keys[block] + "," if keys.get(block) else "") + unquote(body[1:])
                continue
            m = re.match(r"^([A-Za-z0-9_]+)\s*:\s*(.*)$", body)
            if not m:
                raise ValueError(f"{path}:{n}: cannot read {body!r}")
            k, v = m.group(1), m.group(2)
            if indent == 0:
                section, block = (k, k) if v == "" else (None, None)  # a section (or a top-level block list)
                if v != "":
                    keys[k] = scalar(v)
            else:
                if section is None:
                    raise ValueError(f"{path}:{n}: indented key outside a section")
                name = f"{section}_{k}"
                if v != "":
                    keys[name] = scalar(v)
                block = name if v == "" else None
    return keys


def is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def apply_overrides(keys, args):
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and not is_number(a):
            name = a.lstrip("-")
            if i + 1 < len(args) and (not args[i + 1].startswith("-") or is_number(args[i + 1])):
                keys[name] = args[i + 1]
                i += 2
                continue
            keys[name] = "true"  # a flag without a value (-output_overwrite)
        i += 1
    return keys


def main(argv):
    gets, rest = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--get" and i + 1 < len(argv):
            gets.append(argv[i + 1].replace(".", "_"))
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    if not rest or rest[0].startswith("-") or not gets:
        sys.exit(__doc__.split("\n\n")[1])
    try:
        keys = read_deck(rest[0])
    except (OSError, ValueError) as e:
        print(f"deck_keys: error: {e}", file=sys.stderr)
        return 1
    keys = apply_overrides(keys, rest[1:])
    for g in gets:
        print(keys.get(g, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
