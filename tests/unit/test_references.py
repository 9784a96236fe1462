"""Every file, folder and module the repository cites exists in it.

The tracked text files (code, comments, docstrings, docs, Makefiles, shell scripts, YAML and TOML)
are scanned for three kinds of reference:

* markdown links to a relative target, `[text](lifecycle.md#anchor)`, resolved from the citing file;
* path-like words: anything under one of the repository's top-level folders (`docs/...`,
  `layers/...`, `tests/...`) or a dot-folder, which must be exactly there; any other word with a
  slash that ends in a file extension (`usecases/token_access.py`), and bare document names
  (`lifecycle.md`), which resolve from the repository root, from the citing file's folder, or as
  the tail of a tracked path (`provider/signing.py` is `layers/core/cartconnect/provider/signing.py`);
* dotted names of the project's own modules (`cartconnect.provider.urls`, `cartconnect_dev.stack`,
  `bench.cost_model`), which resolve to a module, or to a name that module defines or imports.

Not references: URLs (the provider's docs are cited by theirs), patterns and templates
(`events/<file>.json`, `functions/*/app.py`, `{name}`), words with a colon (`host:port`, a
third-party `file.py:123`), absolute paths such as the store's `/api/v1/stores` or `/etc/ssl`
(except one into the folder the checkout sits in: a path on the machine it was written on never
belongs in the repository), and paths git ignores (`.venv/bin/pytest`, `.tools/`: the Makefile
makes them). ALLOWED names the few cited on purpose, each with its reason.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCANNED_SUFFIXES = (".py", ".md", ".sh", ".yaml", ".yml", ".toml")
SCANNED_NAMES = ("Makefile",)
TOP_LEVEL = ("docs", "layers", "functions", "scripts", "tests", "dev", "bench", "events")
EXTENSIONS = ("md", "py", "sh", "yaml", "yml", "toml", "json", "txt", "html", "cfg", "ini")
PACKAGES = {
    "cartconnect": "layers/core/cartconnect",
    "cartconnect_dev": "dev/cartconnect_dev",
    "bench": "bench",
}

# Cited on purpose though no tracked file is there, each with its reason.
ALLOWED = {
    "events/FILE.json": "README's placeholder for any sample event",
    "functions/fn": "a CodeUri in a test's own template",
    "functions/broken": "a CodeUri in a test's own template",
    "httpcore2/_sync/connection.py": "a file of the httpcore2 distribution, not of this repository",
    "cartconnect.base": "a Docker image label",
}

# Written by a tool, not by hand: the module names in `make bench`'s report are what that run imported.
RECORDS = {"docs/benchmarks.md"}

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\bmailto:\S+|\bwww\.\S+", re.IGNORECASE)
_MD_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A word of path characters, wildcards and template brackets included, so `events/<file>.json`
# is seen whole (and skipped as a pattern) rather than as `events/`.
_WORD = re.compile(r"[\w./*<>{}\[\]$~%:@+-]+")
_PATTERN_CHARS = set("*<>{}[]$~%@+")
_FILE = re.compile(r"(?:[\w.-]+/)*[\w-][\w.-]*\.(?:" + "|".join(EXTENSIONS) + r")")
# Not followed by `-` or `/`: `cartconnect.refresh-schedule` is an event source, `cartconnect.dev/` a host.
_DOTTED = re.compile(r"(?<![\w.])(?:" + "|".join(PACKAGES) + r")(?:\.[A-Za-z_]\w*)+(?![\w./-])")
# A decision cited by its number: `docs/decisions/0009`.
_DECISION = re.compile(r"(?:docs/)?decisions/\d{4}")


@cache
def tracked() -> tuple[str, ...]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return tuple(name for name in listing.split("\0") if name)


@cache
def tracked_paths() -> frozenset[str]:
    """Every tracked file and every folder above one."""
    paths: set[str] = set()
    for name in tracked():
        paths.add(name)
        paths.update(str(parent) for parent in PurePosixPath(name).parents if str(parent) != ".")
    return frozenset(paths)


def scanned_files() -> list[str]:
    this_file = Path(__file__).resolve().relative_to(ROOT).as_posix()  # its examples cite nothing
    return [
        name
        for name in tracked()
        if (name.endswith(SCANNED_SUFFIXES) or PurePosixPath(name).name in SCANNED_NAMES)
        and name != this_file
    ]


def _normalize(path: str) -> str | None:
    """`path` relative to the root without `.` and `..` parts, or None when it leaves the root."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def ignored(path: str) -> bool:
    """Whether git ignores `path` (something a target makes: `.venv/`, `.tools/`, build output)."""
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, capture_output=True, check=False
    )
    return result.returncode == 0


def resolves(target: str, citing: str, *, tail: bool) -> bool:
    """Whether `target` names a tracked file or folder, from the root or from `citing`'s folder;
    with `tail`, also as the last parts of a tracked path."""
    target = target.rstrip("/")
    here = str(PurePosixPath(citing).parent)
    candidates = {_normalize(target), _normalize(f"{here}/{target}")}
    if any(candidate is not None and candidate in tracked_paths() for candidate in candidates):
        return True
    if _DECISION.fullmatch(target):
        number = target.removeprefix("docs/")
        return any(path.startswith(f"docs/{number}-") for path in tracked_paths())
    if tail and not target.startswith("."):
        return any(path.endswith("/" + target) for path in tracked_paths())
    return False


def _strip_word(word: str) -> str:
    word = word.rstrip(".:,")
    while word.startswith("./"):
        word = word[2:]
    return word


def path_references(text: str) -> Iterator[tuple[str, bool]]:
    """(path, whether it may resolve as the tail of a tracked path) for every path-like word."""
    for raw in _WORD.findall(_URL.sub(" ", text)):
        word = _strip_word(raw.split("::")[0])  # a pytest node id names its file
        if not word or set(word) & _PATTERN_CHARS or ":" in word or word.startswith("..."):
            continue  # a pattern, a template, a host:port or an elision (`.../token`)
        if word.startswith("/"):
            continue  # an absolute path (the store's API, the OS); one outside the checkout is checked apart
        first = word.split("/")[0]
        if "/" in word and (first in TOP_LEVEL or first.startswith(".")):
            yield word, False  # under a top-level folder, `../` or a dot-folder: exactly there
        elif _FILE.fullmatch(word) and ("/" in word or word.endswith(".md")):
            yield word, True


def markdown_links(text: str) -> Iterator[str]:
    for link in _MD_LINK.findall(text):
        target = link.split("#")[0]
        if target and not _URL.match(target) and not target.startswith(("mailto:", "/")):
            yield target


@cache
def module_source(module: str) -> str | None:
    """The source of the project's own `module` (dotted), or None when there is no such module."""
    package, *rest = module.split(".")
    base = PACKAGES[package] + "".join("/" + part for part in rest)
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in tracked_paths():
            return (ROOT / candidate).read_text()
    return None


def module_resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        source = module_source(".".join(parts[:cut]))
        if source is None:
            continue
        if cut == len(parts):
            return True
        # A name the module defines, assigns or imports: `cartconnect.aws.client`.
        return re.search(rf"\b{re.escape(parts[cut])}\b", source) is not None
    return False


def broken_references() -> list[str]:
    broken = []
    outside = f"{ROOT.parent}/" if ROOT.parent != ROOT.parent.parent else ""
    for name in scanned_files():
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{name}:{number}"
            if outside and outside in line:
                broken.append(f"{where}: a path on the machine it was written on")
            links = set(markdown_links(line)) if name.endswith(".md") else set()
            for target in sorted(links):
                if target not in ALLOWED and not resolves(target, name, tail=False):
                    broken.append(f"{where}: link to {target}")
            for target, tail in path_references(line):
                if (
                    target in links
                    or target in ALLOWED
                    or resolves(target, name, tail=tail)
                    or ignored(target)
                ):
                    continue
                broken.append(f"{where}: {target}")
            for dotted in [] if name in RECORDS else _DOTTED.findall(line):
                if dotted not in ALLOWED and not module_resolves(dotted):
                    broken.append(f"{where}: module {dotted}")
    return broken


def test_every_cited_file_folder_and_module_exists():
    broken = broken_references()
    assert not broken, "cited but not in the repository:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "text, found",
    [
        ("see docs/data-model.md.", [("docs/data-model.md", False)]),
        ("`usecases/token_access.py`", [("usecases/token_access.py", True)]),
        ("(AMERICOMMERCE.md section 8)", [("AMERICOMMERCE.md", True)]),
        ("../shared/notes.txt", [("../shared/notes.txt", False)]),
        ("events/<file>.json and functions/*/app.py", []),
        ("https://github.com/AmeriCommerce/rest-api/blob/cfc1e86/docs/authentication.md", []),
        ("GET /api/v1/stores, application/json, read/write", []),
        ("`.venv/bin/pytest`", [(".venv/bin/pytest", False)]),
        ("tests/unit/test_scopes.py::test_x", [("tests/unit/test_scopes.py", False)]),
        ("authlib's oauth2/client.py:529, host:8765/x.py", []),
    ],
)
def test_what_counts_as_a_path(text, found):
    assert list(path_references(text)) == found


def test_the_checks_catch_what_does_not_exist():
    assert not resolves("docs/no-such-doc.md", "README.md", tail=False)
    assert not resolves("usecases/no_such_module.py", "README.md", tail=True)
    assert resolves("provider/signing.py", "README.md", tail=True)
    assert resolves("lifecycle.md", "docs/operations.md", tail=False)
    assert ignored(".venv/bin/pytest")
    assert module_resolves("cartconnect.provider.signing.exchange_signature")
    assert not module_resolves("cartconnect.provider.no_such_module")
    assert list(markdown_links("[a](decisions/0002-provider-client.md#context) [b](https://x.y/z.md)")) == [
        "decisions/0002-provider-client.md"
    ]
