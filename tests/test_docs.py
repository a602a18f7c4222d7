"""The documentation's links: every relative link and image in README.md, docs/*.md,
benchmarks/README.md and jobs/README.md names a file or folder of the repository, and a link with
a #fragment to a Markdown page names one of its headings (GitHub's anchors: the heading's text in
lower case, punctuation other than '-' and '_' removed, spaces as '-', repeated headings with -1,
-2, ...). Links inside code (fenced blocks, `inline`) are not links. Web links are not fetched."""
import glob
import os
import re
import unicodedata

import pgtest

PAGES = ["README.md", "benchmarks/README.md", "jobs/README.md"] + sorted(os.path.relpath(p, pgtest.ROOT) for p in glob.glob(os.path.join(pgtest.ROOT, "docs", "*.md")))
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def strip_code(text):
    """The text with fenced code blocks and inline code spans blanked out."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text)


def slug(heading):
    """GitHub's anchor of a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    keep = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc")
    return keep.replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(page):
    with open(os.path.join(pgtest.ROOT, page), encoding="utf-8") as f:
        return [m.group(1) for m in LINK.finditer(strip_code(f.read()))]


def test_links_and_images_exist():
    bad, checked = [], 0
    for page in PAGES:
        base = os.path.dirname(os.path.join(pgtest.ROOT, page))
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(base, path)) if path else os.path.join(pgtest.ROOT, page)
            checked += 1
            if not full.startswith(pgtest.ROOT + os.sep) and full != pgtest.ROOT:
                bad.append(f"{page}: {target} points outside the repository")
            elif not os.path.exists(full):
                bad.append(f"{page}: {target}: {os.path.relpath(full, pgtest.ROOT)} does not exist")
            elif frag and full.endswith(".md") and frag not in anchors(full):
                bad.append(f"{page}: {target}: no heading with the anchor #{frag} in {os.path.relpath(full, pgtest.ROOT)}")
    assert checked > 50, f"only {checked} links found: is the link pattern broken?"
    assert not bad, f"{len(bad)} broken links of {checked}:\n" + "\n".join(bad)


def test_slug_rules():
    """The anchor rule on headings of these pages (GitHub's renderer is the reference)."""
    assert slug("Generation (`bench_generate.py`, `bench_generate.csv`)") == "generation-bench_generatepy-bench_generatecsv"
    assert slug("Choosing ranks × threads on a cluster") == "choosing-ranks--threads-on-a-cluster"
    assert slug("Comparison with the paper's sweep (Figure 6)") == "comparison-with-the-papers-sweep-figure-6"
    assert slug("Calibration (Section 3.2)") == "calibration-section-32"
