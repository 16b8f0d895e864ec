"""The repository is self-contained: every citation of docs/ resolves to a section or anchor that exists, and no
file cites notes outside the repository (../shared, DESIGN.md, the old spec notes) or a work-item number."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.source_tree   # the repository's docs and sources, not the installed product

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SOURCE_DIRS = ("protocols", "firmware_sim", "hardware", "host", "tests", "examples", "scripts", "benchmarks")
SUFFIXES = {".py", ".sh", ".html", ".toml", ".md"}
CITATION = re.compile(r"docs/(\w+)\.md(?: ?§(\d+(?:\.\d+)*)|#([\w-]+))")
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|DESIGN\s§|spec-notes|(?<![\w/.-])notes\s§|reference/|peer-projects"
                     r"|iso7816-3-and-serial|\b[Ii]ssues?\s#?\d")

#: Files still citing notes outside the repository. They are being rewritten elsewhere; each entry leaves this
#: list with its fix (test_known_outside_citations_are_still_there fails once a file is clean).
KNOWN_OUTSIDE: set[str] = set()


def _files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for d in SOURCE_DIRS:
        found += [p for p in sorted((ROOT / d).rglob("*")) if p.suffix in SUFFIXES and p.is_file()]
    return [p for p in found if p.exists() and p != Path(__file__).resolve()]


FILES = _files()


def _headings(page: Path) -> tuple[set[str], set[str]]:
    """Section numbers (``2``, ``4.6``, ``1.7.6``) and anchors (``pin``) of a docs page."""
    text = page.read_text(encoding="utf-8")
    numbers = set(re.findall(r"^#+ (\d+[a-z]?(?:\.\d+)*)\.? ", text, re.M))
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    return numbers, anchors


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_docs_pages_exist_and_are_indexed() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in ("design", "sources", "serial", "peers"):
        assert (DOCS / f"{page}.md").exists()
        assert f"({page}.md)" in index, f"docs/README.md does not link {page}.md"


def test_every_citation_of_docs_resolves() -> None:
    pages = {p.stem: _headings(p) for p in DOCS.glob("*.md")}
    bad = []
    for path in FILES + sorted(DOCS.glob("*.md")):
        for m in CITATION.finditer(path.read_text(encoding="utf-8")):
            page, number, anchor = m.groups()
            if page not in pages:
                bad.append(f"{_rel(path)}: {m.group(0)} (no such page)")
            elif number and number not in pages[page][0]:
                bad.append(f"{_rel(path)}: {m.group(0)} (no section {number})")
            elif anchor and anchor not in pages[page][1]:
                bad.append(f"{_rel(path)}: {m.group(0)} (no anchor {anchor})")
    assert not bad, "\n".join(bad)


def test_relative_links_between_docs_pages_resolve() -> None:
    pages = {p.name: _headings(p)[1] for p in DOCS.glob("*.md")}
    bad = []
    for page in DOCS.glob("*.md"):
        for target, anchor in re.findall(r"\]\((\w+\.md)(?:#([\w-]+))?\)", page.read_text(encoding="utf-8")):
            if target not in pages or (anchor and anchor not in pages[target]):
                bad.append(f"{page.name}: {target}#{anchor}")
    assert not bad, bad


def test_no_citation_outside_the_repository() -> None:
    bad = []
    for path in FILES:
        if _rel(path) in KNOWN_OUTSIDE:
            continue
        text = path.read_text(encoding="utf-8")
        for m in OUTSIDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"{_rel(path)}:{line}: {text.splitlines()[line - 1].strip()[:100]}")
    assert not bad, "cite docs/ instead, or describe the behaviour:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", sorted(KNOWN_OUTSIDE))
def test_known_outside_citations_are_still_there(name: str) -> None:
    path = ROOT / name
    assert path.exists() and OUTSIDE.search(path.read_text(encoding="utf-8")), \
        f"{name} no longer cites anything outside the repository: remove it from KNOWN_OUTSIDE"
