"""A corpus of hostile driftless repositories (generated, never checked in).

``CASES`` lists every repository as a ``Case``: a readable id, the files of
the project (text with placeholders, or raw bytes), the ``--var``s and
``--env`` to run with, and optional ``setup`` (symlinks, FIFOs, huge files,
SQLite databases) and case-specific ``checks``. ``build(case, base)`` writes
one into ``base`` (a pytest temporary directory, outside the project)::

    base/repo/        the project (driftless.yaml, stacks/app/stack.yaml, ...)
    base/sandbox/     every writable target (``path:``) lives here; target.txt exists
    base/outside/     files a repository must never read: secret.txt, evil.yaml,
                      evilstack/stack.yaml, fifo, app.db
    base/secret       another outside file (``../../../secret`` from a stack dir)
    base/work/        command outputs, HOME and TMPDIR of the commands

Placeholders in text files: ``@SANDBOX@``, ``@OUTSIDE@``, ``@CASE@``, ``@REPO@``,
``@CANARY@`` (the case's random secret, passed only as a sensitive variable)
and ``@MARKER@`` (the random text of the outside files; it must never show up
in any output).

Run ``python tests/hostile/corpus.py OUTDIR [ID...]`` to write repositories
for a look by hand.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CASES", "Case", "Dirs", "build"]

UP = "../" * 24  # from any temporary directory up to /


@dataclass(frozen=True)
class Dirs:
    """Where one built case lives, and its random texts."""

    case: Path
    repo: Path
    sandbox: Path
    outside: Path
    work: Path
    canary: str
    marker: str


@dataclass(frozen=True)
class Case:
    """One hostile repository."""

    id: str
    files: Mapping[str, str | bytes]
    vars: tuple[str, ...] = ()
    env: str | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    canary: bool = False  # pass --var secret=<canary>
    setup: Callable[[Dirs], None] | None = None
    checks: tuple[Callable[[Dirs], list[str]], ...] = ()
    # command -> program it may legitimately start (a valid git_checkout runs git)
    may_exec: Mapping[str, str] = field(default_factory=dict)

    def variables(self, dirs: Dirs) -> list[str]:
        out = [_fill(v, dirs) for v in self.vars]
        return [f"secret={dirs.canary}", *out] if self.canary else out

    def environment_name(self, dirs: Dirs) -> str | None:
        return None if self.env is None else _fill(self.env, dirs)

    def environment(self, dirs: Dirs) -> dict[str, str]:
        return {k: _fill(v, dirs) for k, v in self.environ.items()}


def _fill(text: str, d: Dirs) -> str:
    for key, value in (("@SANDBOX@", d.sandbox), ("@OUTSIDE@", d.outside), ("@CASE@", d.case),
                       ("@REPO@", d.repo), ("@CANARY@", d.canary), ("@MARKER@", d.marker)):
        text = text.replace(key, str(value))
    return text


def build(case: Case, base: Path) -> Dirs:
    """Write ``case`` under ``base``; returns its directories."""
    base = base.resolve()
    d = Dirs(base, base / "repo", base / "sandbox", base / "outside", base / "work",
             "CANARY-" + secrets.token_hex(12), "OUTSIDE-" + secrets.token_hex(12))
    for p in (d.repo, d.sandbox, d.outside, d.work, d.outside / "evilstack"):
        p.mkdir(parents=True, exist_ok=True)
    (d.sandbox / "target.txt").write_text("old content\n")
    (d.outside / "secret.txt").write_text(f"{d.marker}\n")
    (base / "secret").write_text(f"{d.marker}\n")
    (base / "x.yaml").write_text(f"variables: {{greeting: {d.marker}}}\n")
    (d.outside / "evil.yaml").write_text(
        f"variables: {{greeting: {d.marker}}}\nresources:\n  evil:\n    type: local:file\n"
        f"    properties: {{path: \"{d.sandbox}/evil.txt\", content: \"{d.marker}\"}}\n")
    (d.outside / "evilstack" / "stack.yaml").write_text(
        f"resources:\n  evil:\n    type: local:file\n"
        f"    properties: {{path: \"{d.sandbox}/evil.txt\", content: \"{d.marker}\"}}\n")
    (d.outside / "driftless.yaml").write_text("project: outside\nstacks: [stacks/app]\n")
    (d.outside / "secret.yaml").write_text(f"variables: {{greeting: {d.marker}}}\n")
    for rel, content in case.files.items():
        path = d.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes)
                         else _fill(content, d).encode("utf-8", "surrogateescape"))
    if case.setup is not None:
        case.setup(d)
    return d


# --------------------------------------------------------------------------- helpers

PROJECT = "project: hostile\nenvironments: [prod]\nstacks: [stacks/app]\n"
SECRET = "  secret: {type: string, sensitive: true}\n"
FILE_RES = ('  f:\n    type: local:file\n'
            '    properties: {path: "@SANDBOX@/f.txt", content: "hello"}\n')


def stack(resources: str = FILE_RES, variables: str = "", outputs: str = "",
          extra: str = "") -> str:
    text = ""
    if variables:
        text += "variables:\n" + variables
    text += "resources:\n" + resources
    if outputs:
        text += "outputs:\n" + outputs
    return text + extra


def repo(stack_text: str | bytes | None = None, project: str | bytes = PROJECT,
         **more: str | bytes) -> dict[str, str | bytes]:
    main = stack() if stack_text is None else stack_text
    files: dict[str, str | bytes] = {"driftless.yaml": project, "stacks/app/stack.yaml": main}
    files.update({k.replace("__", "/").replace("_DOT_", "."): v for k, v in more.items()})
    return files


def content(expr: str, variables: str = "", name: str = "f") -> str:
    """A stack with one local:file whose content is ``expr`` (a YAML scalar)."""
    return stack(f"  {name}:\n    type: local:file\n    properties:\n"
                 f"      path: \"@SANDBOX@/{name}.txt\"\n      content: {expr}\n", variables)


def template(text: str, vars_: str = "{}", variables: str = "") -> str:
    """A local:template over the existing sandbox/target.txt, so plan renders it."""
    return stack("  t:\n    type: local:template\n    properties:\n"
                 "      path: \"@SANDBOX@/target.txt\"\n"
                 f"      template: {_yaml_str(text)}\n      vars: {vars_}\n", variables)


def template_source(source: str) -> str:
    return stack("  t:\n    type: local:template\n    properties:\n"
                 f"      path: \"@SANDBOX@/target.txt\"\n      source: \"{source}\"\n")


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _symlink(rel: str, target: str) -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        link = d.repo / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(_fill(target, d))
    return setup


def _fifo(rel: str) -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        path = d.case / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    return setup


def _mkdir(rel: str) -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        (d.case / rel).mkdir(parents=True, exist_ok=True)
    return setup


def _big(rel: str, size: int, line: bytes = b"x" * 1023 + b"\n",
         head: bytes = b"", tail: bytes = b"") -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        path = d.case / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(head)
            written = 0
            chunk = line * max(1, (1 << 20) // len(line))
            while written < size:
                fh.write(chunk)
                written += len(chunk)
            fh.write(tail)
    return setup


def _all(*steps: Callable[[Dirs], None]) -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        for step in steps:
            step(d)
    return setup


def _foreign_db(rel: str) -> Callable[[Dirs], None]:
    def setup(d: Dirs) -> None:
        path = d.case / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
            db.executemany("INSERT INTO users (name) VALUES (?)", [("ann",), ("bob",)])
        db.close()
    return setup


def _db_intact(rel: str) -> Callable[[Dirs], list[str]]:
    def check(d: Dirs) -> list[str]:
        path = d.case / rel
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = sorted(r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"))
                rows = db.execute("SELECT name FROM users ORDER BY id").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            return [f"another application's database {rel} is damaged: {exc}"]
        problems = []
        if rows != [("ann",), ("bob",)]:
            problems.append(f"rows of users in {rel} changed: {rows}")
        if tables != ["users"]:
            problems.append(f"driftless adopted another application's database {rel}: "
                            f"tables now {tables}")
        return problems
    return check


def _unchanged(rel: str, original: str) -> Callable[[Dirs], list[str]]:
    def check(d: Dirs) -> list[str]:
        path = d.repo / rel
        text = path.read_bytes() if path.is_file() else b"<missing>"
        if text != _fill(original, d).encode():
            return [f"{rel} of the repository was overwritten ({len(text)} bytes now)"]
        return []
    return check


def _nested(open_: str, close: str, depth: int, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def _bomb(levels: int = 9, width: int = 9, anchor_value: str = '"lol"') -> str:
    lines = [f"  - &a0 {anchor_value}"]
    for i in range(1, levels + 1):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        lines.append(f"  - &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the corpus

C: list[Case] = []


def case(id_: str, files: Mapping[str, str | bytes], **kw: object) -> None:
    C.append(Case(id_, files, **kw))  # type: ignore[arg-type]


PWN = "touch @SANDBOX@/pwned"
GIT = {"plan": "git", "apply": "git"}
ZEROS = "0" * 64

# -- Jinja escapes in local:template (target exists, so plan renders the template)
JINJA = {
    "cycler-globals-os-popen": "{{ cycler.__init__.__globals__.os.popen('" + PWN + "').read() }}",
    "joiner-globals-os-system": "{{ joiner.__init__.__globals__.os.system('" + PWN + "') }}",
    "lipsum-globals-os": "{{ lipsum.__globals__['os'].popen('" + PWN + "').read() }}",
    "namespace-globals": "{{ namespace.__init__.__globals__.os.system('" + PWN + "') }}",
    "self-builtins-open": "{{ self.__init__.__globals__.__builtins__.open("
                          "'@OUTSIDE@/secret.txt').read() }}",
    "class-mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subclasses-popen": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
                        "{% if c.__name__ == 'Popen' %}{{ c(['touch', '@SANDBOX@/pwned']) }}"
                        "{% endif %}{% endfor %}",
    "attr-filter-chain": "{{ ''|attr('__class__')|attr('__mro__')|last"
                         "|attr('__subclasses__')() }}",
    "attr-builtins-import": "{{ (cycler|attr('__init__')|attr('__globals__'))['__builtins__']"
                            "['__import__']('os').system('" + PWN + "') }}",
    "attr-hex-escape": "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "format-filter-globals": "{{ '%s'|format(cycler.__init__.__globals__) }}",
    "str-format-attr": "{{ '{0.__init__.__globals__[os].environ}'.format(cycler) }}",
    "str-format-map": "{{ '{x.__class__.__mro__}'.format_map({'x': ''}) }}",
    "int-base-subclasses": "{{ (0).__class__.__base__.__subclasses__() }}",
    "getattr-via-dict": "{{ cycler.__dict__ }}{{ cycler.__init__.__code__.co_consts }}",
    "loop-huge-range": "{% for i in range(100000000) %}x{% endfor %}",
    "string-multiply": "{{ 'a' * 2000000000 }}",
    "range-list-memory": "{{ range(100000000)|list|length }}",
    "pow-cpu": "{{ 9 ** 9 ** 9 }}",
    "recursive-macro": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "deep-parens": _nested("(", ")", 5000).join(("{{ ", " }}")),
    "deep-if-blocks": "{% if 1 %}" * 3000 + "x" + "{% endif %}" * 3000,
    "include-outside": "{% include '@OUTSIDE@/secret.txt' %}",
    "import-passwd": "{% import '/etc/passwd' as p %}{{ p }}",
    "extends-relative": "{% extends '../../../secret' %}",
    "undefined-dunder": "{{ __builtins__ }}{{ __import__ }}",
    "dict-items-globals": "{% for k, v in cycler.__init__.__globals__.items() %}{{ k }}"
                          "{% endfor %}",
    "set-attr-global": "{% set x = cycler.__init__.__globals__.__setitem__('a', 1) %}ok",
}
for name, payload in JINJA.items():
    case(f"jinja-{name}", repo(template(payload)))
case("jinja-template-from-file-func",
     repo(stack("  t:\n    type: local:template\n    properties:\n"
                "      path: \"@SANDBOX@/target.txt\"\n      template: ${file(\"p.j2\")}\n"),
          stacks__app__p_DOT_j2=JINJA["cycler-globals-os-popen"]))
case("jinja-source-outside", repo(template_source("@OUTSIDE@/secret.txt")))
case("jinja-source-relative-escape", repo(template_source("../secret")))
case("jinja-source-dev-zero", repo(template_source("/dev/zero")))
case("jinja-source-fifo-outside", repo(template_source("@OUTSIDE@/fifo")),
     setup=_fifo("outside/fifo"))
case("jinja-source-fifo-in-repo", repo(template_source("@REPO@/pipe")), setup=_fifo("repo/pipe"))
case("jinja-source-symlink-outside", repo(template_source("@REPO@/link.j2")),
     setup=_symlink("link.j2", "@OUTSIDE@/secret.txt"))
case("jinja-sensitive-include", repo(template("{% include s %}", '{s: "${var.secret}"}', SECRET)),
     canary=True)
case("jinja-sensitive-missing-key", repo(template("{{ {}[s] }}", '{s: "${var.secret}"}', SECRET)),
     canary=True)
case("jinja-sensitive-extends", repo(template("{% extends s %}", '{s: "${var.secret}"}', SECRET)),
     canary=True)
case("jinja-sensitive-syntax-error",
     repo(stack("  t:\n    type: local:template\n    properties:\n"
                "      path: \"@SANDBOX@/target.txt\"\n      template: \"${var.secret}\"\n",
                SECRET)),
     vars=("secret={{ @CANARY@ {% endfor",), canary=False)
case("jinja-sensitive-int-filter",
     repo(template("{{ s|int(base=99) }}{{ s.encode('idna') }}", '{s: "${var.secret}"}', SECRET)),
     canary=True)

# -- path escapes
STACKS_ESCAPES = {
    "dotdot-etc": "[../../../../etc]",
    "deep-dotdot-etc": f"[{UP}etc]",
    "abs-etc": "[/etc]",
    "abs-root": "[/]",
    "outside-with-stack-yaml": "[../outside/evilstack]",
    "abs-outside-with-stack-yaml": "[@OUTSIDE@/evilstack]",
    "map-path-escape": "{evil: {path: ../outside/evilstack}}",
    "map-scalar-escape": "{evil: ../outside/evilstack}",
    "home-tilde": "[~/evilstack]",
    "proc-self-cwd": "[/proc/self/cwd/../outside/evilstack]",
}
for name, stacks in STACKS_ESCAPES.items():
    case(f"stacks-{name}", repo(project=f"project: hostile\nstacks: {stacks}\n"),
         setup=_symlink("../work/home/evilstack", "@OUTSIDE@/evilstack")
         if name == "home-tilde" else None)
case("stack-dir-symlink-outside", {"driftless.yaml": PROJECT},
     setup=_symlink("stacks/app", "@OUTSIDE@/evilstack"))
case("stack-yaml-symlink-passwd", {"driftless.yaml": PROJECT},
     setup=_symlink("stacks/app/stack.yaml", "/etc/passwd"))
case("stack-yaml-symlink-outside-secret", {"driftless.yaml": PROJECT},
     setup=_symlink("stacks/app/stack.yaml", "@OUTSIDE@/secret.txt"))
case("project-file-symlink-outside", {"stacks/app/stack.yaml": stack()},
     setup=_symlink("driftless.yaml", "@OUTSIDE@/driftless.yaml"))
case("env-name-dotdot", repo(project="project: hostile\nenvironments: [../../x]\n"
                                     "stacks: [stacks/app]\n",
                             stack_text=content('"${var.greeting}"', "  greeting: hi\n")),
     env="../../x")
case("env-name-absolute", repo(project="project: hostile\nenvironments: ['@OUTSIDE@/secret']\n"
                                       "stacks: [stacks/app]\n",
                               stack_text=content('"${var.greeting}"', "  greeting: hi\n")),
     env="@OUTSIDE@/secret")
case("env-file-symlink-outside", repo(stack_text=content('"${var.greeting}"', "  greeting: hi\n")),
     env="prod", setup=_symlink("environments/prod.yaml", "@OUTSIDE@/secret.yaml"))
case("env-file-symlink-passwd", repo(stack_text=content('"${var.greeting}"', "  greeting: hi\n")),
     env="prod", setup=_symlink("environments/prod.yaml", "/etc/passwd"))
case("env-file-fifo", repo(), env="prod", setup=_fifo("repo/environments/prod.yaml"))
case("env-file-dev-zero", repo(), env="prod",
     setup=_symlink("environments/prod.yaml", "/dev/zero"))
OVERLAY_EXTENDS = {
    "dotdot": "../../../../outside/evil",
    "deep-dotdot": f"{UP}etc/passwd",
    "absolute": "@OUTSIDE@/evil",
    "list-escape": "[base, ../../../../outside/evil]",
}
for name, ext in OVERLAY_EXTENDS.items():
    case(f"overlay-extends-{name}",
         repo(stacks__app__overlays__prod_DOT_yaml=f"extends: {ext}\n",
              stacks__app__overlays__base_DOT_yaml="variables: {}\n"),
         env="prod")
case("overlay-symlink-outside", repo(), env="prod",
     setup=_symlink("stacks/app/overlays/prod.yaml", "@OUTSIDE@/evil.yaml"))
case("overlay-extends-self", repo(stacks__app__overlays__prod_DOT_yaml="extends: prod\n"),
     env="prod")
case("overlay-extends-cycle",
     repo(stacks__app__overlays__prod_DOT_yaml="extends: a\n",
          stacks__app__overlays__a_DOT_yaml="extends: b\n",
          stacks__app__overlays__b_DOT_yaml="extends: a\n"), env="prod")
FILE_ESCAPES = {
    "dotdot-secret": 'file("../../secret")',
    "dotdot3-secret": 'file("../../../secret")',
    "etc-passwd": 'file("/etc/passwd")',
    "deep-dotdot-passwd": f'file("{UP}etc/passwd")',
    "proc-self-environ": 'file("/proc/self/environ")',
    "proc-self-cwd-escape": 'file("/proc/self/cwd/../secret")',
    "home-ssh-key": 'file("~/.ssh/id_rsa")',
    "dev-zero": 'file("/dev/zero")',
    "dev-stdin": 'file("/dev/stdin")',
    "directory": 'file(".")',
    "templatefile-outside": 'templatefile("../../../secret", {})',
    "templatefile-abs": 'templatefile("@OUTSIDE@/secret.txt", {})',
    "filebase64-outside": 'filebase64("@OUTSIDE@/secret.txt")',
}
for name, expr in FILE_ESCAPES.items():
    case(f"file-{name}", repo(content(f"'${{{expr}}}'")),
         environ={"DRIFTLESS_VAR_secret": "@CANARY@"} if "environ" in name else {},
         setup=_big("work/home/.ssh/id_rsa", 10, b"@MARKER@\n") if "ssh" in name else None)
case("file-symlink-outside", repo(content("'${file(\"link\")}'")),
     setup=_symlink("stacks/app/link", "@CASE@/secret"))
case("file-symlink-dir-outside", repo(content("'${file(\"d/secret.txt\")}'")),
     setup=_symlink("stacks/app/d", "@OUTSIDE@"))
case("file-symlink-dev-zero", repo(content("'${file(\"zero\")}'")),
     setup=_symlink("stacks/app/zero", "/dev/zero"))
case("file-fifo-in-repo", repo(content("'${file(\"pipe\")}'")), setup=_fifo("repo/stacks/app/pipe"))
case("templatefile-recursive", repo(content("'${templatefile(\"a.tpl\", {})}'"),
                                    stacks__app__a_DOT_tpl='${templatefile("a.tpl", {})}'))
case("templatefile-mutual-recursion",
     repo(content("'${templatefile(\"a.tpl\", {})}'"),
          stacks__app__a_DOT_tpl='${templatefile("b.tpl", {})}',
          stacks__app__b_DOT_tpl='${templatefile("a.tpl", {})}'))
case("templatefile-fanout", repo(content("'${templatefile(\"a.tpl\", {})}'"),
                                 stacks__app__a_DOT_tpl='${templatefile("b.tpl", {})}' * 30,
                                 stacks__app__b_DOT_tpl='${templatefile("c.tpl", {})}' * 30,
                                 stacks__app__c_DOT_tpl='${file("d.txt")}' * 30,
                                 stacks__app__d_DOT_txt="x" * 100_000))
for kind in ("file", "template"):
    for name, src in (("outside", "@OUTSIDE@/secret.txt"), ("etc-passwd", "/etc/passwd"),
                      ("dev-zero", "/dev/zero"), ("fifo", "@OUTSIDE@/fifo")):
        if kind == "template" and name in ("outside", "dev-zero", "fifo"):
            continue  # covered by jinja-source-* above
        case(f"{kind}-source-{name}",
             repo(stack(f"  s:\n    type: local:{kind}\n    properties:\n"
                        f"      path: \"@SANDBOX@/copy.txt\"\n      source: \"{src}\"\n")),
             setup=_fifo("outside/fifo") if name == "fifo" else None)
case("download-file-url-outside",
     repo(stack("  d:\n    type: local:download\n    properties:\n"
                "      path: \"@SANDBOX@/dl.txt\"\n      url: \"file://@OUTSIDE@/secret.txt\"\n"
                f"      sha256: \"{ZEROS}\"\n")))
case("download-file-url-passwd",
     repo(stack("  d:\n    type: local:download\n    properties:\n"
                "      path: \"@SANDBOX@/dl.txt\"\n      url: \"file:///etc/passwd\"\n"
                f"      sha256: \"{ZEROS}\"\n")))

# -- YAML alias bombs, recursion, deep nesting
case("alias-bomb-stack-list", repo(stack(extra="bomb:\n" + _bomb())))
case("alias-bomb-in-variable", repo(stack(variables="  l:\n    type: list\n    default:\n"
                                                  + _bomb().replace("  - ", "      - "))))
case("alias-bomb-project", repo(project=PROJECT + "settings:\n  bomb:\n" + _bomb()))
case("alias-bomb-env-file", repo(environments__prod_DOT_yaml="variables: {}\nbomb:\n" + _bomb()),
     env="prod")
case("alias-bomb-overlay", repo(stacks__app__overlays__prod_DOT_yaml="settings:\n  bomb:\n"
                                + _bomb()), env="prod")
case("alias-bomb-merge-keys", repo(stack(extra="m0: &m0 {a: 1, b: 2, c: 3}\n" + "".join(
    f"m{i}: &m{i}\n  <<: [{', '.join(f'*m{i - 1}' for _ in range(9))}]\n  k{i}: {{<<: *m{i - 1}}}\n"
    for i in range(1, 12)))))
case("alias-bomb-fanout2-deep", repo(stack(extra="p0: &p0 [x]\n" + "".join(
    f"p{i}: &p{i} [*p{i - 1}, *p{i - 1}]\n" for i in range(1, 70)))))
case("alias-bomb-for-each", repo(stack(
    "  w:\n    type: local:file\n    for_each: ${var.l}\n"
    "    properties: {path: \"@SANDBOX@/w\", content: x}\n",
    "  l0: &l0 [a, b, c, d, e, f, g, h, i, j]\n" + "".join(
        f"  l{i}: &l{i} [{', '.join(f'*l{i - 1}' for _ in range(10))}]\n" for i in range(1, 7))
    + "  l:\n    type: list\n    default: [*l6, *l6]\n")))
case("alias-quadratic-string", repo(content(
    "'${join(\"\", var.l)}'",
    "  big: &b \"" + "x" * 1_000_000 + "\"\n  l:\n    type: list\n    default: ["
    + ", ".join("*b" for _ in range(5000)) + "]\n")))
case("alias-as-key", repo(stack(extra="a: &a [1, 2]\nb: {? *a : 1}\n")))
case("alias-recursive-list", repo(stack(variables="  r:\n    type: list\n    default: &r [*r]\n")))
case("alias-recursive-map", repo(stack(
    "  g:\n    type: local:file\n    properties: &p {path: \"@SANDBOX@/g\", x: *p}\n")))
case("alias-undefined", repo(stack(extra="x: *nope\n")))
case("deep-nest-flow-list", repo(stack(variables="  d:\n    type: list\n    default: "
                                              + _nested("[", "]", 10_000) + "\n")))
case("deep-nest-flow-map", repo(stack(variables="  d:\n    type: map\n    default: "
                                             + _nested("{a: ", "}", 10_000) + "\n")))
case("deep-nest-block-map", repo(stack(extra="deep:\n" + "".join(
    " " * (i + 1) + f"k{i}:\n" for i in range(3000)) + " " * 3001 + "v\n")))
case("deep-nest-project-file", repo(project=PROJECT + "settings: " + _nested("[", "]", 10_000)
                                    + "\n"))
case("deep-nest-expr-parens", repo(content("'${" + _nested("(", ")", 10_000) + "}'")))
case("deep-nest-expr-list", repo(content("'${jsonencode(" + _nested("[", "]", 10_000) + ")}'")))
case("deep-nest-expr-calls", repo(content("'${" + _nested("sha256(", ")", 5_000, '"x"') + "}'")))
case("deep-nest-expr-maps", repo(content("'${jsonencode(" + _nested("{a: ", "}", 10_000) + ")}'")))
case("deep-nest-var-cli", repo(stack(variables="  d: {type: list, default: []}\n")),
     vars=("d=" + _nested("[", "]", 10_000),))
case("deep-nest-overlay-merge", repo(stacks__app__overlays__prod_DOT_yaml=(
    "patches:\n  - target: f\n    merge: " + _nested("{properties: ", "}", 10_000, "{}") + "\n")),
    env="prod")
case("deep-nest-under-limit-jsonencode", repo(content(
    "'${jsonencode(var.d)}'",
    "  d:\n    type: list\n    default: " + _nested("[", "]", 95) + "\n")))

# -- size and count
case("huge-stack-file-comment", {"driftless.yaml": PROJECT},
     setup=_big("repo/stacks/app/stack.yaml", 40 << 20, b"# " + b"x" * 1021 + b"\n",
                tail=stack().encode()))
case("huge-stack-file-one-line", {"driftless.yaml": PROJECT},
     setup=_big("repo/stacks/app/stack.yaml", 20 << 20, b"y" * 4096,
                head=b"resources: {}\nx: \"", tail=b"\"\n"))
case("huge-many-resources", repo("resources:\n" + "".join(
    f"  r{i}: {{type: local:file, properties: {{path: \"@SANDBOX@/r{i}\"}}}}\n"
    for i in range(60_000))))
case("huge-var-file-50mb-render", repo(stack_text=content('"${var.big}"', "  big: small\n")),
     env="prod", setup=_big("repo/environments/prod.yaml", 50 << 20, b"z" * 4096,
                            head=b"variables:\n  big: \"", tail=b"\"\n"))
case("huge-string-12mb-in-stack", {"driftless.yaml": PROJECT},
     setup=_big("repo/stacks/app/stack.yaml", 12 << 20, b"q" * 4096,
                head=b"variables:\n  big: \"", tail=b"\"\n" + content('"${var.big}"').encode()))
case("huge-file-func-50mb", repo(content("'${file(\"big.txt\")}'")),
     setup=_big("repo/stacks/app/big.txt", 50 << 20))
COUNTS = {"1e9": "1000000000", "huge-int": "99999999999999999999999999999",
          "negative": "-1", "float": "1.5", "string": "abc", "bool": "true", "inf": ".inf",
          "nan": ".nan", "list": "[1, 2]", "expr-pow": "${1000000 * 1000000}"}
for name, value in COUNTS.items():
    case(f"count-{name}", repo(stack("  c:\n    type: local:file\n    count: " + value + "\n"
                                     "    properties: {path: \"@SANDBOX@/c\"}\n")))
case("count-var-cli-1e9", repo(stack("  c:\n    type: local:file\n    count: ${var.n}\n"
                                     "    properties: {path: \"@SANDBOX@/c\"}\n",
                                     "  n: {type: integer, default: 1}\n")),
     vars=("n=1000000000",))
case("count-many-resources-near-limit", repo("resources:\n" + "".join(
    f"  c{i}:\n    type: local:file\n    count: 10000\n"
    f"    properties: {{path: \"@SANDBOX@/c{i}-${{count.index}}\"}}\n" for i in range(10))))
case("for-each-huge-list", repo(stack(
    "  w:\n    type: local:file\n    for_each: ${var.l}\n"
    "    properties: {path: \"@SANDBOX@/w-${each.key}\"}\n",
    "  l:\n    type: list\n    default: [" + ", ".join(f"k{i}" for i in range(200_000)) + "]\n")))
case("for-each-huge-map", repo(stack(
    "  w:\n    type: local:file\n    for_each: ${var.m}\n"
    "    properties: {path: \"@SANDBOX@/w-${each.key}\"}\n",
    "  m:\n    type: map\n    default: {" + ", ".join(f"k{i}: {i}" for i in range(100_000))
    + "}\n")))
PATTERNS = {
    "redos-nested-plus": ("(a+)+$", "a" * 60 + "!"),
    "redos-long-value": ("(a+)+$", "a" * 200_000 + "!"),
    "redos-alternation": ("(a|aa)+$", "a" * 60 + "!"),
    "redos-backref": ("(a*)\\1+$", "a" * 5000 + "!"),
    "invalid-unclosed": ("(unclosed", "x"),
    "invalid-range": ("[z-a]", "x"),
    "invalid-named-backref": ("(?P<x>a)(?P=y)", "a"),
    "huge-repeat": ("a{1000}{1000}{1000}", "a"),
    "lookbehind": ("(?<=a)b", "b"),
}
for name, (pattern, value) in PATTERNS.items():
    case(f"pattern-{name}", repo(stack(variables="  name:\n    type: string\n    default: x\n"
                                       f"    pattern: {_yaml_str(pattern)}\n")),
         vars=(f"name={value}",))
case("pattern-not-a-string", repo(stack(variables="  name: {type: string, pattern: [a, b]}\n")),
     vars=("name=x",))
FORMATS = {
    "huge-width": 'format("%200000000d", 1)',
    "huge-precision": 'format("%.200000000f", 1.5)',
    "star-width": 'format("%*d", 200000000, 1)',
    "mapping-key": 'format("%(x)s", 1)',
    "lone-percent": 'format("%", 1)',
    "type-mismatch": 'format("%d", "x")',
    "too-few-args": 'format("%s %s %s", 1)',
    "char-overflow": 'format("%c", 99999999)',
    "unknown-conversion": 'format("%q", 1)',
    "float-int": 'format("%x", 1.5)',
    "no-args": 'format()',
    "non-string-fmt": 'format(["%s"], 1)',
}
for name, expr in FORMATS.items():
    case(f"format-{name}", repo(content(f"'${{{expr}}}'")))
_grow = "var.x"
for _ in range(32):
    _grow = f'format("%s%s", {_grow}, {_grow})' if len(_grow) < 20_000 else _grow
case("format-exponential-growth", repo(content("'${" + _grow + "}'", "  x: " + "a" * 1000 + "\n")))
_b64 = "var.x"
for _ in range(40):
    _b64 = f"base64encode({_b64})"
case("base64-growth", repo(content("'${" + _b64 + "}'", "  x: " + "b" * 100_000 + "\n")))
case("join-growth", repo(content(
    "'${join(var.sep, var.l)}'",
    "  sep: " + "s" * 1_000_000 + "\n  l:\n    type: list\n    default: ["
    + ", ".join("i" for _ in range(5000)) + "]\n")))
case("join-nested-growth", repo(content(
    "'${join(join(\",\", var.l), [" + ", ".join(["join(\",\", var.l)"] * 200) + "])}'",
    "  l:\n    type: list\n    default: [" + ", ".join("y" * 100 for _ in range(1000)) + "]\n")))

# -- bytes and encodings
case("binary-file-func", repo(content("'${file(\"bin.dat\")}'"),
                              stacks__app__bin_DOT_dat=bytes(range(256)) * 64))
case("nul-raw-in-stack-yaml", repo(stack().encode() + b"\x00\x00junk\n"))
case("nul-escape-in-path", repo(stack('  f:\n    type: local:file\n'
                                      '    properties: {path: "@SANDBOX@/a\\0b", content: x}\n')))
case("nul-escape-in-stacks-path", repo(project='project: hostile\nstacks: ["stacks/app\\0x"]\n'))
case("nul-escape-in-file-func", repo(content('"${file(\\"a\\0b\\")}"')))
case("nul-escape-in-env-name", repo(project='project: hostile\nenvironments: ["p\\0d"]\n'
                                            "stacks: [stacks/app]\n"))
case("nul-escape-resource-name", repo(stack('  "a\\0b":\n    type: local:file\n'
                                            '    properties: {path: "@SANDBOX@/n", content: x}\n')))
case("non-utf8-stack", repo(b"resources:\n  f:\n    type: local:file\n    properties:\n"
                            b"      path: /tmp/\xff\xfe\n      content: \xc3\x28\x80\n"))
case("non-utf8-project", repo(project=b"project: \xff\xfehostile\nstacks: [stacks/app]\n"))
case("utf16-bom-stack", repo(stack().encode("utf-16")))
case("latin1-env-file", repo(environments__prod_DOT_yaml=b"variables: {g: caf\xe9}\n"),
     env="prod")
_valid = stack(content('"${var.g} ${join(\\",\\", [\\"a\\"])}"', "  g: \"h\u00e9llo\"\n")
               .split("resources:\n")[1], "  g: \"h\u00e9llo\"\n").encode()
for cut in (7, 23, 41, 60, 95):
    case(f"truncated-stack-at-{cut}", repo(_valid[:cut]))
case("truncated-mid-utf8", repo("variables:\n  g: \"h\u00e9llo\"\n".encode()[:18]))
case("truncated-project", repo(project=PROJECT[:30]))
case("empty-stack-file", repo(b""))
case("empty-project-file", repo(project=""))
case("stack-yaml-is-directory", {"driftless.yaml": PROJECT, "stacks/app/stack.yaml/x": "y"})
case("top-level-scalar", repo("just a string\n"))
case("top-level-list", repo("- a\n- b\n"))
case("multi-document", repo(stack() + "---\n" + stack()))
case("yaml-python-tag", repo(stack(extra='x: !!python/object/apply:os.system ["' + PWN + '"]\n')))
case("yaml-python-name-tag", repo(stack(extra="x: !!python/name:os.system\n")))
case("yaml-custom-tag", repo(stack(extra="x: !evil {a: 1}\n")))
case("yaml-binary-tag", repo(stack(extra="x: !!binary AAECAwQ=\n")))
case("yaml-set-and-omap", repo(stack(extra="s: !!set {a, b}\no: !!omap [{a: 1}]\n")))
case("yaml-merge-key-scalar", repo(stack(extra="m: {<<: 5}\n")))
case("yaml-tabs", repo("resources:\n\tf:\n\t\ttype: local:file\n"))

# -- names
NAMES = {"empty": '""', "dotdot": '"../x"', "slash": '"a/b"', "expr": '"${var.secret}"',
         "huge": '"' + "n" * 100_000 + '"', "newline": '"a\\nb"', "unicode-rtl": '"a\u202eb"',
         "zero-width": '"\u200b"', "bracket-quote": "'a[\"b\"]'", "null": "null", "int": "42",
         "list-key": "[1, 2]"}
for name, key in NAMES.items():
    case(f"resource-name-{name}",
         repo(stack(f"  {key}:\n    type: local:file\n"
                    "    properties: {path: \"@SANDBOX@/name.txt\", content: x}\n", SECRET)),
         canary=name == "expr")
KEYS = {"quote-bracket": '"a\\"]b"', "newline": '"a\\nb"', "unicode": '"\u00e9\u202e\u200b"',
        "empty": '""', "nul": '"a\\0b"', "dotdot": '"../../x"', "slash": '"a/b"',
        "expr": '"${var.x}"', "long": '"' + "k" * 50_000 + '"'}
for name, key in KEYS.items():
    case(f"for-each-key-{name}", repo(stack(
        "  w:\n    type: local:file\n    for_each: ${var.l}\n"
        "    properties: {path: \"@SANDBOX@/w.txt\", content: \"${each.key}\"}\n",
        f"  l:\n    type: list\n    default: [{key}]\n")))
case("for-each-duplicate-items", repo(stack(
    "  w:\n    type: local:file\n    for_each: [a, a, b]\n"
    "    properties: {path: \"@SANDBOX@/w-${each.key}\"}\n")))
case("for-each-non-string-items", repo(stack(
    "  w:\n    type: local:file\n    for_each: [1, [2], {a: b}, null, 1.5, true]\n"
    "    properties: {path: \"@SANDBOX@/w-${each.key}\"}\n")))
case("for-each-and-count", repo(stack(
    "  w:\n    type: local:file\n    count: 2\n    for_each: [a]\n"
    "    properties: {path: \"@SANDBOX@/w\"}\n")))
# (never "/" or the sandbox itself: apply writes a temporary file beside the path)
for name, path in (("relative", "x.txt"), ("empty", ""), ("dot", "."),
                   ("existing-dir", "@SANDBOX@/dir"), ("trailing-slash", "@SANDBOX@/d/"),
                   ("dotdot-inside", "@SANDBOX@/dir/../f2.txt"),
                   ("tilde", "~/f.txt"), ("int", 5)):
    value = path if isinstance(path, int) else f'"{path}"'
    case(f"path-{name}", repo(stack(
        f"  f:\n    type: local:file\n    properties: {{path: {value}, content: x}}\n")),
         setup=_mkdir("sandbox/dir"))

# -- references and cycles
case("ref-self", repo(content('"${f.path}"')))
case("ref-cycle-two", repo(stack(
    '  a: {type: local:file, properties: {path: "@SANDBOX@/a", content: "${b.path}"}}\n'
    '  b: {type: local:file, properties: {path: "@SANDBOX@/b", content: "${a.path}"}}\n')))
case("ref-cycle-long", repo("resources:\n" + "".join(
    f'  r{i}: {{type: local:file, properties: {{path: "@SANDBOX@/r{i}", '
    f'content: "${{r{(i + 1) % 500}.path}}"}}}}\n' for i in range(500))))
case("ref-chain-deep-2000", repo("resources:\n" + "".join(
    f'  r{i}: {{type: local:file, properties: {{path: "@SANDBOX@/r{i}"'
    + (f', content: "${{r{i - 1}.path}}"' if i else "") + "}}\n" for i in range(2000))))
case("depends-on-chain-deep-2000", repo("resources:\n" + "".join(
    f'  r{i}: {{type: local:file, depends_on: [{f"r{i - 1}" if i else ""}], '
    f'properties: {{path: "@SANDBOX@/r{i}"}}}}\n' for i in range(2000))))
case("depends-on-self", repo(stack("  f:\n    type: local:file\n    depends_on: [f]\n"
                                   "    properties: {path: \"@SANDBOX@/f\"}\n")))
case("triggered-by-cycle", repo(stack(
    '  a: {type: local:file, triggered_by: [b], properties: {path: "@SANDBOX@/a"}}\n'
    '  b: {type: local:file, triggered_by: [a], properties: {path: "@SANDBOX@/b"}}\n')))
case("stack-depends-on-self", repo(stack(extra="depends_on: [app]\n")))
case("stack-output-self-ref", repo(content('"${stack.app.outputs.o}"') + "outputs:\n  o: x\n"))
case("output-cycle", repo(stack(outputs="  a: ${f.path}\n  b: ${stack.app.outputs.b}\n")))
case("ref-long-attribute-chain", repo(content('"${f' + ".a" * 20_000 + '}"')))
case("ref-index-huge", repo(content('"${var.l[99999999999999999999999]}"',
                                    "  l: {type: list, default: [a]}\n")))
case("ref-index-negative", repo(content('"${var.l[-1]}"', "  l: {type: list, default: [a]}\n")))
case("ref-splat-non-list", repo(content('"${f[*].path}"')))
case("ref-unclosed-expr", repo(content('"${var.x"', "  x: a\n")))
case("ref-nested-interpolation", repo(content('"${var.${var.x}}"', "  x: a\n")))

# -- secrets in error-triggering positions (the canary must never be printed)
SECRET_USES = {
    "lookup-key": ("'${lookup(var.m, var.secret)}'", "  m: {type: map, default: {a: b}}\n"),
    "file-name": ("'${file(var.secret)}'", ""),
    "templatefile-name": ("'${templatefile(var.secret, {})}'", ""),
    "format-arg": ("'${format(\"%d\", var.secret)}'", ""),
    "format-fmt": ("'${format(var.secret, 1, 2)}'", ""),
    "join-type": ("'${join(var.secret, var.secret)}'", ""),
    "index": ("'${var.secret[0]}'", ""),
    "attribute": ("'${var.secret.foo}'", ""),
    "jsonencode-in-list": ("'${join(\",\", [var.secret, 1, [2]])}'", ""),
    "templatefile-missing-name": ("'${templatefile(\"t.tpl\", {x: var.secret})}'", ""),
    "plain-content": ("'${var.secret}'", ""),
}
for name, (expr, extra_vars) in SECRET_USES.items():
    files = repo(content(expr, SECRET + extra_vars), stacks__app__t_DOT_tpl="${x} ${y}")
    case(f"secret-{name}", files, canary=True)
SECRET_PROPS = {
    "count": "    count: ${var.secret}\n    properties: {path: \"@SANDBOX@/s\"}\n",
    "for-each": "    for_each: ${var.secret}\n    properties: {path: \"@SANDBOX@/s\"}\n",
    "protect": "    protect: ${var.secret}\n    properties: {path: \"@SANDBOX@/s\"}\n",
    "mode": "    properties: {path: \"@SANDBOX@/s\", mode: \"${var.secret}\"}\n",
    "make-parents": "    properties: {path: \"@SANDBOX@/s\", make_parents: \"${var.secret}\"}\n",
    "path": "    properties: {path: \"@SANDBOX@/${var.secret}\", content: x}\n",
    "unknown-property": "    properties: {path: \"@SANDBOX@/s\", contnet: \"${var.secret}\"}\n",
    "owner": "    properties: {path: \"@SANDBOX@/s\", owner: \"${var.secret}\"}\n",
}
for name, body in SECRET_PROPS.items():
    case(f"secret-prop-{name}", repo(stack("  s:\n    type: local:file\n" + body, SECRET)),
         canary=True)
case("secret-env-file-values-not-map", repo(stack(
    "  e:\n    type: local:env_file\n    properties: {path: \"@SANDBOX@/e\", "
    "values: \"${var.secret}\"}\n", SECRET)), canary=True)
case("secret-output-not-marked", repo(stack(variables=SECRET, outputs="  o: \"${var.secret}\"\n")),
     canary=True)
for name, decl in (("integer", "{type: integer, sensitive: true}"),
                   ("pattern", "{type: string, sensitive: true, pattern: \"[0-9]+\"}"),
                   ("enum", "{type: string, sensitive: true, enum: [a, b]}"),
                   ("list", "{type: list, sensitive: true}"),
                   ("object", "{type: object, sensitive: true, fields: {a: {type: string}}}")):
    case(f"secret-wrong-{name}", repo(stack(variables=f"  secret: {decl}\n")), canary=True)
case("secret-from-environ-bad-type", repo(stack(variables="  secret: {type: integer, "
                                                          "sensitive: true}\n")),
     environ={"DRIFTLESS_VAR_secret": "@CANARY@"})
case("secret-var-unknown-close-name", repo(stack(variables=SECRET)),
     vars=("secrte=@CANARY@",), canary=True)

# -- state
case("state-foreign-sqlite-in-repo", repo(project=PROJECT + "state: sqlite:///app.db\n"),
     setup=_foreign_db("repo/app.db"), checks=(_db_intact("repo/app.db"),))
case("state-foreign-sqlite-outside", repo(project=PROJECT + "state: sqlite:///../outside/app.db\n"),
     setup=_foreign_db("outside/app.db"), checks=(_db_intact("outside/app.db"),))
case("state-sqlite-absolute-outside",
     repo(project=PROJECT + "state: sqlite:////@OUTSIDE@/state.db\n"))
case("state-sqlite-is-project-file", repo(project=PROJECT + "state: sqlite:///driftless.yaml\n"),
     checks=(_unchanged("driftless.yaml", PROJECT + "state: sqlite:///driftless.yaml\n"),))
case("state-sqlite-is-stack-file",
     repo(project=PROJECT + "state: sqlite:///stacks/app/stack.yaml\n"),
     checks=(_unchanged("stacks/app/stack.yaml", stack()),))
for name, url in (("unknown-scheme", "ftp://x/y"), ("not-a-string", "42"),
                  ("empty-path", "sqlite://"), ("dev-zero", "sqlite:////dev/zero"),
                  ("s3-local-endpoint", "s3://b/k?endpoint_url=http://127.0.0.1:9"),
                  ("list", "[a, b]")):
    case(f"state-{name}", repo(project=PROJECT + f"state: {url}\n"))

# -- unknown things, misspellings, syntax
for name, typ in (("unknown-kind", "local:nope"), ("unknown-provider", "evil:x"),
                  ("python-path", "python:os.system"), ("dotdot", "../x:y"),
                  ("empty", '""'), ("no-colon", "file")):
    case(f"type-{name}", repo(stack(f"  f:\n    type: {typ}\n    properties: {{path: x}}\n")))
case("misspelled-resource-keys", repo(stack("  f:\n    tpye: local:file\n    propertes: {}\n"
                                            "    depend_on: [x]\n")))
case("misspelled-top-keys", repo("resorces: {}\nvaribles: {}\n"))
case("misspelled-project-keys", repo(project="projet: x\nstakcs: [stacks/app]\n"))
case("unclosed-bracket", repo("resources: [a, b\n"))
case("unclosed-flow-map", repo("resources: {f: {type: local:file\n"))
case("unclosed-quote", repo('resources:\n  f:\n    type: "local:file\n'))
case("duplicate-resource", repo(FILE_RES.join(("resources:\n", "")) + FILE_RES))
case("duplicate-project-key", repo(project=PROJECT + "project: again\n"))
case("duplicate-stack-names", repo(project="project: h\nstacks: [stacks/app, other/app]\n",
                                   other__app__stack_DOT_yaml=stack()))
case("resources-is-list", repo("resources: [a, b]\n"))
case("properties-is-string", repo("resources:\n  f: {type: local:file, properties: nope}\n"))
case("command-invalid-repo-never-runs", repo(stack(
    "  c:\n    type: local:command\n    properties: {command: \"" + PWN + "\", unless: \""
    + PWN + "-unless\", onlyif: \"" + PWN + "-onlyif\"}\n"
    "  bad:\n    type: local:nope\n")))
case("command-valid-but-unknown-var", repo(stack(
    "  c:\n    type: local:command\n    properties: {command: [touch, \"@SANDBOX@/pwned\"]}\n"
    "  f:\n    type: local:file\n"
    "    properties: {path: \"@SANDBOX@/f\", content: \"${var.nope}\"}\n")))
case("service-invalid-repo-never-runs", repo(stack(
    "  s:\n    type: local:service\n    properties: {command: [touch, \"@SANDBOX@/pwned\"]}\n"
    "  bad:\n    type: local:file\n    properties: {pth: x}\n")))
case("git-checkout-ext-transport", repo(stack(
    "  g:\n    type: local:git_checkout\n    properties:\n"
    "      repo: \"ext::sh -c touch% @SANDBOX@/pwned\"\n      ref: main\n"
    "      path: \"@SANDBOX@/co\"\n")), may_exec=GIT)
case("git-checkout-option-injection", repo(stack(
    "  g:\n    type: local:git_checkout\n    properties:\n"
    "      repo: \"--upload-pack=touch @SANDBOX@/pwned\"\n      ref: main\n"
    "      path: \"@SANDBOX@/co\"\n")), may_exec=GIT)

# -- overlays
case("overlay-jsonpatch-copy-doubling", repo(
    stack('  f:\n    type: local:file\n    properties: {path: "@SANDBOX@/f", tags: {a: x}}\n'),
    stacks__app__overlays__prod_DOT_yaml="patches:\n  - target: f\n    ops:\n" + "".join(
        f"      - {{op: copy, from: /properties/tags, path: /properties/tags/c{i}}}\n"
        for i in range(40))), env="prod")
case("overlay-jsonpatch-bad-pointers", repo(
    stacks__app__overlays__prod_DOT_yaml="patches:\n  - target: f\n    ops:\n"
    "      - {op: add, path: 'properties/x', value: 1}\n"
    "      - {op: add, path: '/properties/~2', value: 1}\n"
    "      - {op: move, from: /properties, path: /properties/x}\n"
    "      - {op: replace, path: '/properties/content/-/-', value: 1}\n"
    "      - {op: evil, path: /x}\n      - 5\n"), env="prod")
case("overlay-patch-target-secret-like", repo(
    stack(variables=SECRET),
    stacks__app__overlays__prod_DOT_yaml="patches:\n  - target: \"${var.secret}\"\n"
    "    merge: {properties: {content: y}}\n"), env="prod", canary=True)
case("overlay-prefix-huge", repo(
    stacks__app__overlays__prod_DOT_yaml="name_prefix: \"" + "p" * 1_000_000 + "\"\n"),
    env="prod")
case("overlay-prefix-slash", repo(
    stacks__app__overlays__prod_DOT_yaml="name_prefix: \"../../\"\nname_suffix: \"/x\"\n"),
    env="prod")
case("overlay-remove-everything-and-more", repo(
    stacks__app__overlays__prod_DOT_yaml="remove: [f, f, nope, null, [1]]\n"), env="prod")
case("overlay-many-layers", repo(**{
    f"stacks__app__overlays__l{i}_DOT_yaml": f"extends: l{i + 1}\n" for i in range(300)},
    stacks__app__overlays__prod_DOT_yaml="extends: l0\n"), env="prod")

CASES: tuple[Case, ...] = tuple(C)
_ids = [c.id for c in CASES]
assert len(_ids) == len(set(_ids)), sorted({i for i in _ids if _ids.count(i) > 1})


if __name__ == "__main__":
    out = Path(sys.argv[1])
    wanted = set(sys.argv[2:])
    for c in CASES:
        if not wanted or c.id in wanted:
            d = build(c, out / c.id)
            print(c.id, "vars:", c.variables(d), "env:", c.env)
