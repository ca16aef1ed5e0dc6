"""Finding plaintext secrets in a repository before they are committed or applied.

Why: a secret pushed to Git stays in its history for good, so the cheap
place to stop one is before the commit (``driftless scan --staged`` as a
pre-commit hook), in CI (``driftless scan``) and at the agent, which can
refuse a revision that adds one. Two kinds of finding:

* a known token format anywhere in a text file (AWS, GitHub, GitLab, Slack,
  Stripe and Google keys, private key blocks, age identities, JWTs);
* a high-entropy string where driftless expects a secret: the default of a
  variable declared ``sensitive: true``, a value for such a variable in an
  environment, overlay or values file, or in ``--var NAME=...`` /
  ``DRIFTLESS_VAR_NAME=...`` written into a script or CI file.

SOPS-encrypted values (``ENC[AES256_GCM,...]``) are never findings. A line
holding ``driftless:allow-secret`` is skipped, and so is every file matching
a glob in ``.driftless-scan-ignore`` at the scanned root.

Files come from untrusted Git: every pattern is RE2 (linear time, no
backtracking), only regular files of at most 1 MiB are read (never through
a symlink), and YAML is composed, never constructed, and walked with a node
budget, so a hostile file can neither hang nor exhaust the scan. A finding
never holds the secret, only a short preview. I/O: reads files under the
scanned root; runs ``git`` to list files and read staged contents.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from driftless.errors import ConfigError
from driftless.records import record

__all__ = [
    "ALLOW_MARK",
    "IGNORE_FILE",
    "MAX_BYTES",
    "Finding",
    "ScanReport",
    "looks_secret",
    "preview",
    "scan_staged",
    "scan_text",
    "scan_tree",
    "sensitive_names",
]

MAX_BYTES = 1 << 20  # larger files are skipped with a note: secrets live in small files
ALLOW_MARK = "driftless:allow-secret"
IGNORE_FILE = ".driftless-scan-ignore"
_YAML_SUFFIXES = (".yaml", ".yml")
_STACK_FILES = ("stack.yaml", "stack.yml")
_NODE_BUDGET = 20_000  # YAML nodes walked per file: aliases cannot multiply the walk
_GIT_TIMEOUT = 60.0



@functools.cache
def _re2_options() -> Any:
    """RE2's options, built with the first pattern: a plan that scans nothing
    (a cached render) does not load the RE2 binding."""
    import re2

    options = re2.Options()
    options.log_errors = False
    return options


def _re(pattern: str) -> Any:
    import re2

    return re2.compile(pattern, _re2_options())


_AWS_NEAR_LINES = 5  # a 40-character key counts as an AWS secret this close to a key id
HINTS = (r"AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abpr]-|AGE-SECRET-KEY-1|eyJ"
         r"|[sr]k_live_|AIza|-----BEGIN|[A-Za-z0-9/+]{40}")
"""What every match of the prefilter holds: a rule's fixed prefix or the start of
a 40-character key. A text with none skips RE2 (not even loaded); ``has_hint``
asks it without a regular expression. A test draws matches of every rule and
checks each holds one of these, and another that ``has_hint`` agrees."""


class _Patterns:
    """The scanner's compiled patterns, made on the first scan (``_patterns``):
    compiling them was most of this module's import, and ``driftless plan``
    imports it for its policy checks (only a plan with strings to check pays)."""

    def __init__(self) -> None:
        self.aws_key_id = _re(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
        # (kind, pattern, characters of the match that may be shown: the fixed prefix)
        self.tokens: tuple[tuple[str, Any, int], ...] = (
            ("aws-access-key-id", self.aws_key_id, 4),
            ("github-token", _re(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"), 4),
            ("github-token", _re(r"\bgithub_pat_[A-Za-z0-9_]{22,255}"), 11),
            ("gitlab-token", _re(r"\bglpat-[A-Za-z0-9_-]{20,255}"), 6),
            ("slack-token", _re(r"\bxox[abpr]-[A-Za-z0-9-]{10,255}"), 5),
            ("age-secret-key", _re(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b"), 16),
            ("jwt", _re(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"), 3),
            ("stripe-live-key", _re(r"\b(?:sk|rk)_live_[0-9A-Za-z]{20,255}\b"), 8),
            ("google-api-key", _re(r"\bAIza[0-9A-Za-z_-]{35}"), 4),
        )
        self.private_key = _re(r"-----BEGIN ((?:[A-Z0-9]{1,20} ){0,4})PRIVATE KEY( BLOCK)?-----")
        self.aws_secret = _re(r"[A-Za-z0-9/+]{40,}")
        self.aws_secret_words = _re(r"(?i)(?:secret_?access_?key|aws.{0,20}secret)")
        # Anything a token, private-key or AWS-secret rule could start from, in one
        # pass: most texts (a plan's 10,000 file contents) match none, and skip the
        # ~12 passes of the rules.
        self.any = _re("|".join(f"(?:{p.pattern})" for p in (
            *(pattern for _, pattern, _ in self.tokens), self.private_key, self.aws_secret)))
        self.sops = _re(r"ENC\[[A-Z0-9_]{1,20},[^\]\n]*\]")
        self.inline_var = _re(
            r"(?:--var[ =]|DRIFTLESS_VAR_)([A-Za-z_][A-Za-z0-9_]{0,100})(?:=|: )"
            r"(\"[^\"\n]{1,500}\"|'[^'\n]{1,500}'|[^\s\"'`;|&]{1,500})")


_HINT_LITERALS = (
    "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
    "xoxa-", "xoxb-", "xoxp-", "xoxr-", "AGE-SECRET-KEY-1", "eyJ", "sk_live_", "rk_live_",
    "AIza", "-----BEGIN",
)
"""``HINTS``' literals, each alternative spelled out."""
_LITERAL_GATE = "KS_-Jz"
"""Every literal holds one of these: a text with none holds no literal, which six
one-character searches (memchr) tell faster than nineteen substring searches."""
_KEY_BYTES = bytes(0x61 if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "/+") else 0x20
                   for b in range(256))
"""``[A-Za-z0-9/+]`` as bytes: each becomes ``a``, every other byte (a UTF-8 byte of a
non-ASCII character included) a space."""
_KEY_RUN = b"a" * 40


def has_hint(text: str) -> bool:
    """Whether ``re.search(HINTS, text)`` finds anything, in a few C passes: Python's
    ``re`` tries its class run at every position (~20 us a kilobyte, most of a
    10,000-file plan's policy checks); here each literal is a substring search and
    the run one byte translation (the class is ASCII, so a run of 40 characters is
    a run of 40 bytes of the UTF-8 text)."""
    if _KEY_RUN in text.encode("utf-8", "surrogatepass").translate(_KEY_BYTES):
        return True
    for char in _LITERAL_GATE:
        if char in text:
            return any(literal in text for literal in _HINT_LITERALS)
    return False


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


@record
class Finding:
    """One plaintext secret: where it is, what it looks like, never the secret itself."""

    path: str
    line: int
    column: int
    kind: str
    preview: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.kind} ({self.preview})"

    def to_json(self) -> dict[str, Any]:
        """The finding for ``--json``."""
        return {"path": self.path, "line": self.line, "column": self.column,
                "kind": self.kind, "preview": self.preview}


@record
class ScanReport:
    """Everything one scan found, the files it read and what it skipped (notes)."""

    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    files: int

    def to_json(self) -> dict[str, Any]:
        """The report for ``--json``."""
        return {"findings": [f.to_json() for f in self.findings], "notes": list(self.notes),
                "files": self.files, "clean": not self.findings}


# -- previews and entropy -----------------------------------------------------


def preview(secret: str, shown: int = 0) -> str:
    """A hint of ``secret`` that identifies it without giving it away.

    The fixed prefix of a known format (``AKIA``, ``ghp_``) says nothing
    secret; two trailing characters let a person match the finding to the
    key they rotate, and only when the secret is long enough to spare them.
    """
    head = secret[:shown]
    tail = secret[-2:] if len(secret) - shown >= 12 else ""
    return f"{head}…{tail}"


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character: random keys score high, words low."""
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_secret(text: str) -> bool:
    """Whether a string in a sensitive position looks like a real secret.

    Empty values, placeholders (``changeme``, ``<token>``), references and
    templates (``${var.x}``, ``$TOKEN``, ``{{ secrets.T }}``, ``{name}``) and
    SOPS ciphertext are not; a value of 8 characters or more with at least 3
    bits of entropy per character is.
    """
    value = text.strip()
    if len(value) < 8 or len(value) > 10_000 or value.startswith(("ENC[", "<", "$")):
        return False
    if "{" in value:
        return False
    return _entropy(value) >= 3.0


# -- one file's text ----------------------------------------------------------


class _Lines:
    """Offsets of line starts, so a match offset becomes line:column cheaply."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def at(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of ``offset``."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1

    def line(self, number: int) -> str:
        """The text of line ``number`` (1-based)."""
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end]


def scan_text(path: str, text: str, sensitive: frozenset[str] = frozenset()) -> list[Finding]:
    """Every finding in one file's ``text``; ``sensitive`` names the secret variables."""
    if not sensitive and not has_hint(text):
        return []
    rules = _patterns()
    if not sensitive and rules.any.search(text) is None:
        return []  # no rule below can find anything without one of these matches
    lines = _Lines(text)
    sops = [(m.start(), m.end()) for m in rules.sops.finditer(text)]
    raw = [*_tokens(path, text, lines), *_aws_secrets(path, text, lines),
           *_inline_vars(path, text, lines, sensitive)]
    if path.endswith(_YAML_SUFFIXES) and sensitive:
        raw += _yaml_positions(path, text, sensitive)
    kept = [f for off, f in raw if not _inside(off, sops)
            and ALLOW_MARK not in lines.line(f.line)]
    return _dedupe(kept)


def _inside(offset: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= offset < end for start, end in spans)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per line: a token in a sensitive position is reported once, as the token."""
    by_line: dict[int, Finding] = {}
    for f in sorted(findings, key=lambda f: (f.line, f.kind.startswith("sensitive"), f.column)):
        by_line.setdefault(f.line, f)
    return sorted(by_line.values(), key=lambda f: (f.line, f.column))


def _finding(path: str, lines: _Lines, offset: int, kind: str,
             shown: str) -> tuple[int, Finding]:
    line, col = lines.at(offset)
    return offset, Finding(path, line, col, kind, shown)


def _tokens(path: str, text: str, lines: _Lines) -> Iterator[tuple[int, Finding]]:
    rules = _patterns()
    for kind, pattern, prefix in rules.tokens:
        for m in pattern.finditer(text):
            yield _finding(path, lines, m.start(), kind, preview(m.group(), prefix))
    for m in rules.private_key.finditer(text):
        label = f"BEGIN {m.group(1) or ''}PRIVATE KEY{m.group(2) or ''}"
        yield _finding(path, lines, m.start(), "private-key", label)


def _aws_secrets(path: str, text: str, lines: _Lines) -> Iterator[tuple[int, Finding]]:
    """40-character keys near an AWS key id or an ``aws_secret_access_key`` word.

    Why the context: 40 characters of base64 alone are too common (hashes,
    encoded data) to call a secret without it.
    """
    rules = _patterns()
    key_lines = [lines.at(m.start())[0] for m in rules.aws_key_id.finditer(text)]
    for m in rules.aws_secret.finditer(text):
        word = m.group()
        if len(word) != 40 or text[m.end():m.end() + 1] == "=" or not _mixed(word):
            continue
        line = lines.at(m.start())[0]
        near = any(abs(line - k) <= _AWS_NEAR_LINES for k in key_lines)
        if near or rules.aws_secret_words.search(lines.line(line)):
            yield _finding(path, lines, m.start(), "aws-secret-access-key", preview(word))


def _mixed(word: str) -> bool:
    """Upper, lower and a digit or symbol: a hex digest or a plain word is not a key."""
    return (any(c.isupper() for c in word) and any(c.islower() for c in word)
            and any(c.isdigit() or c in "/+" for c in word))


def _inline_vars(path: str, text: str, lines: _Lines,
                 sensitive: frozenset[str]) -> Iterator[tuple[int, Finding]]:
    """``--var token=...`` or ``DRIFTLESS_VAR_token=...`` with a literal secret."""
    if not sensitive:
        return
    for m in _patterns().inline_var.finditer(text):
        name, value = m.group(1), m.group(2).strip("\"'")
        if name in sensitive and looks_secret(value):
            yield _finding(path, lines, m.start(2), f"sensitive-value '{name}'", preview(value))


# -- sensitive positions in YAML ------------------------------------------------


def _compose(text: str) -> list[Any]:
    """The YAML documents as nodes (nothing constructed); none when it does not parse."""
    import yaml

    try:
        return list(yaml.compose_all(text, Loader=yaml.CSafeLoader))[:100]
    except (yaml.YAMLError, RecursionError, ValueError):
        return []


def _get(node: Any, key: str) -> Any:
    """The value node of ``key`` in a mapping node, or None."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _pairs(node: Any) -> list[tuple[str, Any]]:
    """(key, value node) of a mapping node with scalar keys."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return []
    return [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _is_true(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.value in ("true", "True", "TRUE", "yes")


def _declared(doc: Any) -> Iterator[tuple[str, Any]]:
    """(name, declaration node) of every ``sensitive: true`` variable in a document."""
    for name, decl in _pairs(_get(doc, "variables")):
        if _is_true(_get(decl, "sensitive")):
            yield name, decl


def sensitive_names(texts: Iterable[str]) -> frozenset[str]:
    """Names of the variables declared ``sensitive: true`` in these YAML texts."""
    names: set[str] = set()
    for text in texts:
        if "sensitive" in text:
            for doc in _compose(text):
                names.update(name for name, _ in _declared(doc))
    return frozenset(names)


def _positions(doc: Any, sensitive: frozenset[str]) -> Iterator[tuple[str, str, Any]]:
    """(kind, variable, node) of every place in a document that should hold no plaintext."""
    import yaml

    for name, decl in _declared(doc):
        default = _get(decl, "default")
        if default is not None:
            yield "sensitive-default", name, default
    blocks = [doc, _get(doc, "variables")]
    blocks += [_get(body, "variables") for _, body in _pairs(_get(doc, "stacks"))]
    for block in blocks:
        for name, value in _pairs(block):
            if name in sensitive and not isinstance(value, yaml.MappingNode):
                yield "sensitive-value", name, value


def _yaml_positions(path: str, text: str,
                    sensitive: frozenset[str]) -> Iterator[tuple[int, Finding]]:
    for doc in _compose(text):
        budget = [_NODE_BUDGET]
        for kind, name, node in _positions(doc, sensitive):
            for scalar in _scalars(node, budget, set()):
                if looks_secret(str(scalar.value)):
                    mark = scalar.start_mark
                    finding = Finding(path, mark.line + 1, mark.column + 1, f"{kind} '{name}'",
                                      preview(str(scalar.value)))
                    yield mark.index, finding


def _scalars(node: Any, budget: list[int], seen: set[int]) -> Iterator[Any]:
    """String scalars under ``node``, each node once, at most ``budget`` nodes in all."""
    import yaml

    if id(node) in seen or budget[0] <= 0:
        return
    seen.add(id(node))
    budget[0] -= 1
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:str":
            yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item, budget, seen)
    elif isinstance(node, yaml.MappingNode):
        for _, item in node.value:
            yield from _scalars(item, budget, seen)


# -- trees of files: a directory, or git's index ------------------------------

Reader = Callable[[str], "bytes | str | None"]  # bytes, a note why skipped, None: gone


@record
class _Tree:
    """Files to scan: their relative paths, how to read one, how to show one."""

    root: Path
    paths: tuple[str, ...]
    read: Reader
    show: Callable[[str], str]


def scan_tree(root: Path, *, only: Sequence[str] | None = None, use_git: bool = True,
              show: Callable[[Path], str] | None = None) -> ScanReport:
    """Scan the files under ``root`` (or just ``only``, paths relative to it).

    ``use_git`` lists a git work tree's files as git sees them (tracked and
    untracked, not ignored: a git-ignored secrets file is where secrets
    belong). The agent passes ``use_git=False`` and the changed paths.
    ``show`` spells a file's absolute path in findings (default: relative to
    ``root``).
    """
    root = root.resolve()
    listed = _git_files(root) if use_git else None
    every = listed if listed is not None else _walk(root)
    paths = tuple(only) if only is not None else tuple(every)
    decl_paths = [p for p in every if p.rsplit("/", 1)[-1] in _STACK_FILES]
    tree = _Tree(root, paths, lambda rel: _read_file(root, rel), _shower(root, show))
    return _scan(tree, decl_paths)


def scan_staged(repo: Path, *, show: Callable[[Path], str] | None = None) -> ScanReport:
    """Scan what is staged for the next commit (``git show :path``), not the work tree."""
    try:
        top = Path(_git(repo, "rev-parse", "--show-toplevel").decode().strip())
    except _GitFailed:
        raise ConfigError(f"{repo}: not inside a git repository",
                          hint="--staged scans git's index; run it inside a repository") from None
    staged = _git(top, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    paths = tuple(p for p in staged.decode("utf-8", "replace").split("\0") if p)
    indexed = _git(top, "ls-files", "-z", "--cached").decode("utf-8", "replace").split("\0")
    decl_paths = [p for p in indexed if p.rsplit("/", 1)[-1] in _STACK_FILES]
    tree = _Tree(top, paths, lambda rel: _read_staged(top, rel), _shower(top, show))
    return _scan(tree, decl_paths)


def _shower(root: Path, show: Callable[[Path], str] | None) -> Callable[[str], str]:
    if show is None:
        return lambda rel: rel
    return lambda rel: show(root / rel)


def _scan(tree: _Tree, decl_paths: Sequence[str]) -> ScanReport:
    """Read each file once, learn the sensitive names, then scan every file."""
    ignore = _ignore_globs(tree)
    notes: list[str] = []
    texts = {p: t for p in tree.paths if not _ignored(p, ignore)
             and (t := _text(tree, p, notes)) is not None}
    decl_texts = [t for p in decl_paths if p not in texts
                  and isinstance(t := _text(tree, p, []), str)]
    yaml_texts = [t for p, t in texts.items() if p.endswith(_YAML_SUFFIXES)]
    names = sensitive_names([*decl_texts, *yaml_texts])
    findings = [f for p, t in texts.items() for f in scan_text(tree.show(p), t, names)]
    return ScanReport(tuple(findings), tuple(notes), len(texts))


def _text(tree: _Tree, rel: str, notes: list[str]) -> str | None:
    """A file's text; binary, oversized and unreadable files become notes."""
    data = tree.read(rel)
    if data is None:
        return None
    if isinstance(data, str):
        notes.append(f"{tree.show(rel)}: skipped ({data})")
        return None
    if b"\0" in data[:8192]:
        return None  # binary: no note, a repository has many
    return data.decode("utf-8", "replace")


def _ignore_globs(tree: _Tree) -> list[str]:
    data = tree.read(IGNORE_FILE)
    if not isinstance(data, bytes):
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return [g.strip() for g in lines if g.strip() and not g.strip().startswith("#")]


def _ignored(rel: str, globs: list[str]) -> bool:
    """Whether ``rel`` matches a glob: by its path, its name, or a directory it is in."""
    name = rel.rsplit("/", 1)[-1]
    for glob in globs:
        pattern = glob.strip("/") if glob.endswith("/") else glob
        if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
        if fnmatch.fnmatchcase(rel, pattern.rstrip("*").rstrip("/") + "/*"):
            return True
    return False


def _read_file(root: Path, rel: str) -> bytes | str | None:
    """A regular file's bytes (never through a symlink, never a FIFO that would block)."""
    path = root / rel
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    if info.st_size > MAX_BYTES:
        return f"over {MAX_BYTES // (1 << 20)} MiB"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"cannot read: {(exc.strerror or 'error').lower()}"
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return data if len(data) <= MAX_BYTES else f"over {MAX_BYTES // (1 << 20)} MiB"


def _read_staged(top: Path, rel: str) -> bytes | str | None:
    """The staged blob of ``rel``: size first, so a huge blob is never read."""
    try:
        size = int(_git(top, "cat-file", "-s", f":{rel}"))
    except (ValueError, _GitFailed):
        return None
    if size > MAX_BYTES:
        return f"over {MAX_BYTES // (1 << 20)} MiB"
    try:
        return _git(top, "cat-file", "blob", f":{rel}")
    except _GitFailed:
        return None


def _walk(root: Path) -> list[str]:
    """Every file under ``root``, without following symlinks or entering ``.git``."""
    out: list[str] = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        rel = os.path.relpath(base, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        out.extend(prefix + f for f in sorted(files))
    return out


class _GitFailed(Exception):
    """git exited non-zero (not a repository, no such blob)."""


def _git(cwd: Path, *args: str) -> bytes:
    import subprocess  # only the history scan runs git

    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True,
                              timeout=_GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _GitFailed(str(exc)) from None
    if done.returncode != 0:
        raise _GitFailed(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout


def _git_files(root: Path) -> list[str] | None:
    """Files git lists under ``root`` (tracked, and untracked unless ignored), or None."""
    try:
        out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except _GitFailed:
        return None
    return sorted({p for p in out.decode("utf-8", "replace").split("\0") if p})
