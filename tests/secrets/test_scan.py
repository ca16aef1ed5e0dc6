"""``driftless scan``: token formats, sensitive positions, allow-lists, git's index.

Secrets in this file are built from pieces, so the file itself holds none
(and ``driftless scan`` of this repository stays quiet about it).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import run
from driftless.errors import ConfigError
from driftless.secrets.scan import MAX_BYTES, scan_staged, scan_text, scan_tree, sensitive_names

AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GHP = "ghp_" + "0123456789abcdefghijABCDEFGHIJ012345"
PASSWORD = "Zx9kQ2mP" + "7vLw3rT8"

TOKENS = {
    "aws-access-key-id": f"key = {AKIA}",
    "github-token": f"token: {GHP}",
    "gitlab-token": "t: glpat-" + "abcdefghij0123456789",
    "slack-token": "hook: xoxb-" + "1234567890-abcdefghij",
    "private-key": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEow...\n",
    "age-secret-key": "AGE-SECRET-" + "KEY-1" + "Q" * 58,
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_X",
    "stripe-live-key": "sk_" + "live_abcdefghijklmnopqrstuvwx",
    "google-api-key": "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",
}


@pytest.mark.parametrize(("kind", "text"), list(TOKENS.items()), ids=list(TOKENS))
def test_known_token_formats_are_found_and_never_printed(kind: str, text: str) -> None:
    [finding] = scan_text("f.txt", "first line\n" + text + "\n")
    assert (finding.kind, finding.line) == (kind, 2)
    if kind == "private-key":  # the header is no secret; the key below it is
        assert "MIIE" not in str(finding) and finding.preview == "BEGIN RSA PRIVATE KEY"
        return
    secret = text.split(maxsplit=2)[-1]
    assert secret not in str(finding) and "…" in finding.preview


def test_finding_line_names_path_line_column_kind_and_a_short_preview() -> None:
    [finding] = scan_text("env/ci.sh", f"export X=1\n  id={AKIA}\n")
    assert str(finding) == "env/ci.sh:2:6: aws-access-key-id (AKIA…LE)"


def test_aws_secret_key_counts_near_a_key_id_or_its_name_but_not_alone() -> None:
    near = scan_text("c", f"id = {AKIA}\n\n{AWS_SECRET}\n")
    named = scan_text("c", f"aws_secret_access_key = {AWS_SECRET}\n")
    alone = scan_text("c", f"blob: {AWS_SECRET}\n" + "\n" * 10)
    digest = scan_text("c", f"id = {AKIA}\nsha: {'a1b2c3d4e5' * 4}\n")
    assert [f.kind for f in near] == ["aws-access-key-id", "aws-secret-access-key"]
    assert [f.kind for f in named] == ["aws-secret-access-key"]
    assert alone == [] and [f.kind for f in digest] == ["aws-access-key-id"]


def test_sops_ciphertext_is_never_a_finding() -> None:
    text = f"token: ENC[AES256_GCM,data:{AKIA},iv:{GHP},tag:x==,type:str]\n"
    assert scan_text("s.yaml", text) == []


def test_allow_comment_skips_its_line_only() -> None:
    text = f"a: {GHP}  # driftless:allow-secret\nb: {GHP}\n"
    assert [f.line for f in scan_text("x.yaml", text)] == [2]


STACK = f"""\
variables:
  token: {{type: string, sensitive: true, default: "{PASSWORD}"}}
  weak: {{type: string, sensitive: true, default: changeme}}
  plain: {{type: string, default: "{PASSWORD}"}}
  db:
    type: object
    sensitive: true
    default: {{host: db, password: '{PASSWORD[::-1]}'}}
"""


def test_high_entropy_defaults_of_sensitive_variables_are_found() -> None:
    names = sensitive_names([STACK])
    assert names == {"token", "weak", "db"}
    found = [(f.line, f.kind) for f in scan_text("stack.yaml", STACK, names)]
    assert found == [(2, "sensitive-default 'token'"), (8, "sensitive-default 'db'")]


def test_values_for_sensitive_variables_are_found_in_env_values_and_scripts() -> None:
    names = frozenset({"token"})
    env = (f"variables:\n  token: {PASSWORD}\n  other: {PASSWORD}\n"
           f"stacks:\n  web: {{variables: {{token: '{PASSWORD}'}}}}\n")
    assert [f.line for f in scan_text("environments/prod.yaml", env, names)] == [2, 5]
    assert [f.line for f in scan_text("secrets.yaml", f"token: {PASSWORD}\n", names)] == [1]
    script = (f"driftless apply --var token={PASSWORD}\nDRIFTLESS_VAR_token='{PASSWORD}' x\n"
              "DRIFTLESS_VAR_token=$TOKEN driftless plan\n")
    assert [f.line for f in scan_text("deploy.sh", script, names)] == [1, 2]


@pytest.mark.parametrize("value", ["${var.other}", "'${{ secrets.TOKEN }}'", "changeme", "''",
                                   "ENC[AES256_GCM,data:x,type:str]", "<your token>"],
                         ids=["reference", "ci-secret", "weak", "empty", "sops", "placeholder"])
def test_what_is_not_a_plaintext_secret_in_a_sensitive_position(value: str) -> None:
    assert scan_text("env.yaml", f"variables:\n  token: {value}\n", frozenset({"token"})) == []


def _project(root: Path) -> Path:
    (root / "stacks" / "web").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "stacks" / "web" / "stack.yaml").write_text(
        "variables:\n  token: {type: string, sensitive: true}\nresources: {}\n")
    (root / "environments" / "prod.yaml").write_text(f"variables:\n  token: {PASSWORD}\n")
    return root


def test_tree_scan_learns_sensitive_names_from_stack_files(tmp_path: Path) -> None:
    report = scan_tree(_project(tmp_path), use_git=False)
    assert [str(f) for f in report.findings] == [
        "environments/prod.yaml:2:10: sensitive-value 'token' (…T8)"]


def test_only_changed_paths_are_scanned_but_declarations_come_from_everywhere(
        tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "README.md").write_text(f"{GHP}\n")
    report = scan_tree(tmp_path, only=["environments/prod.yaml", "gone.yaml"], use_git=False)
    assert [f.path for f in report.findings] == ["environments/prod.yaml"]


def test_ignore_file_globs_skip_files(tmp_path: Path) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "keys.txt").write_text(f"{GHP}\n")
    (tmp_path / "sample.pem").write_text(TOKENS["private-key"])
    (tmp_path / "real.txt").write_text(f"{GHP}\n")
    (tmp_path / ".driftless-scan-ignore").write_text("# test data\nfixtures/\n*.pem\n")
    report = scan_tree(tmp_path, use_git=False)
    assert [f.path for f in report.findings] == ["real.txt"]


def test_binary_big_and_special_files_are_skipped_without_following_links(
        tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + GHP.encode())
    (tmp_path / "big.txt").write_text(GHP + "x" * MAX_BYTES)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text(GHP)
    (tmp_path / "link.txt").symlink_to(outside)
    os.mkfifo(tmp_path / "pipe")  # opening it for reading would block forever
    report = scan_tree(tmp_path, use_git=False)
    assert report.findings == ()
    assert report.notes == ("big.txt: skipped (over 1 MiB)",)


def test_hostile_text_is_scanned_in_linear_time() -> None:
    text = ("eyJ" + "a" * 200_000 + ".") * 4 + "AKIA" * 100_000 + "A" * 300_000
    started = time.monotonic()
    scan_text("x.yaml", text, frozenset({"t"}))
    assert time.monotonic() - started < 5


def test_hostile_yaml_aliases_do_not_multiply_the_walk() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    text = "variables:\n  t: {sensitive: true, default: *j}\n" + bomb
    started = time.monotonic()
    scan_text("x.yaml", bomb + "variables:\n  t: {sensitive: true, default: *j}\n",
              frozenset({"t"}))
    scan_text("y.yaml", text, frozenset({"t"}))
    assert time.monotonic() - started < 5


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _repo(root: Path) -> Path:
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "t")
    return root


def test_work_tree_scan_skips_git_ignored_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text("secrets.yaml\n")
    (repo / "secrets.yaml").write_text(f"token: {GHP}\n")  # where secrets belong
    (repo / "notes.txt").write_text(f"{GHP}\n")  # untracked but not ignored: scanned
    assert [f.path for f in scan_tree(repo).findings] == ["notes.txt"]


def test_staged_scan_reads_the_index_not_the_work_tree(tmp_path: Path) -> None:
    repo = _repo(_project(tmp_path))
    (repo / "app.sh").write_text(f"curl -H 'token: {GHP}'\n")
    _git(repo, "add", "app.sh", "environments/prod.yaml", "stacks")
    (repo / "app.sh").write_text("curl\n")  # fixed in the work tree, but not staged
    found = sorted(f.path for f in scan_staged(repo).findings)
    assert found == ["app.sh", "environments/prod.yaml"]
    _git(repo, "add", "app.sh")
    _git(repo, "rm", "-q", "--cached", "environments/prod.yaml")
    assert scan_staged(repo).findings == ()


def test_staged_scan_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not inside a git repository"):
        scan_staged(tmp_path)


def test_cli_prints_findings_and_exits_1_then_0_when_clean(tmp_path: Path) -> None:
    (tmp_path / "ci.env").write_text(f"A=1\nKEY={AKIA}\n")
    found = run(tmp_path, "scan")
    assert found.returncode == 1
    assert found.stdout == "ci.env:2:5: aws-access-key-id (AKIA…LE)\n"
    assert AKIA not in found.stdout + found.stderr
    doc = json.loads(run(tmp_path, "scan", "--json").stdout)
    assert doc["findings"][0]["kind"] == "aws-access-key-id" and doc["clean"] is False
    (tmp_path / "ci.env").write_text(f"KEY={AKIA}  # driftless:allow-secret\n")
    clean = run(tmp_path, "scan")
    assert clean.returncode == 0 and "no plaintext secrets in 1 file" in clean.stderr


def test_cli_staged_mode_as_a_pre_commit_hook(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "deploy.sh").write_text(f"export T={GHP}\n")
    _git(repo, "add", "deploy.sh")
    hook = run(repo, "scan", "--staged")
    assert hook.returncode == 1 and "deploy.sh:1:10: github-token (ghp_…45)" in hook.stdout


def test_the_one_pass_prefilter_hides_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts that match no rule skip the ~12 per-rule passes; the findings are the
    same as with every pass run (a prefilter that always matches)."""
    import re2

    from driftless.secrets import scan

    texts = [*TOKENS.values(), f"id {AKIA}\nsecret {AWS_SECRET}\n", AWS_SECRET,
             "aws_secret_access_key = " + AWS_SECRET, "sha256 " + "ab12" * 16,
             "plain words only\nand a second line", "ENC[AES256_GCM,data:abc] " + GHP,
             "x" * 39 + "\n" + "Ab1/" * 10, "# driftless:allow-secret " + GHP, ""]
    fast = [scan_text("f.txt", t) for t in texts]
    monkeypatch.setattr(scan._patterns(), "any", re2.compile(""))
    assert fast == [scan_text("f.txt", t) for t in texts]
    assert sum(1 for found in fast if found) >= len(TOKENS) + 2


def test_the_shortest_token_is_found_and_one_character_less_is_not() -> None:
    """The shortest match of any rule is a Slack token (``xoxb-`` and ten more):
    the prefilters in front of the rules must let it through."""
    import re._parser

    from driftless.secrets import scan

    rules = scan._patterns()
    joined = [p for _, p, _ in rules.tokens] + [rules.private_key, rules.aws_secret]
    widths = [re._parser.parse(p.pattern).getwidth()[0] for p in joined]
    assert min(widths) == 15  # the Slack token
    assert scan.scan_text("x.yaml", "xoxb-" + "a1" * 5) != []
    assert scan.scan_text("x.yaml", "xoxb-" + "a1" * 4 + "a") == []


def test_every_match_of_a_prefilter_rule_holds_one_of_the_hints() -> None:
    """``scan_text`` skips RE2 for a text without one of ``HINTS``; so every string a
    rule of the prefilter matches must hold one (drawn from each rule's own pattern,
    word boundaries dropped, which only widens what is drawn)."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from driftless.secrets import scan

    rules = scan._patterns()
    joined = [p for _, p, _ in rules.tokens] + [rules.private_key, rules.aws_secret]
    hints = re.compile(scan.HINTS)
    drawn = st.one_of(*(st.from_regex(p.pattern.replace(r"\b", ""), fullmatch=True)
                        for p in joined))

    @settings(max_examples=600, deadline=None)
    @given(text=drawn)
    def holds_a_hint(text: str) -> None:
        assert hints.search(text), text

    holds_a_hint()


def test_a_text_without_hints_is_clean_without_loading_re2() -> None:
    import subprocess
    import sys

    probe = ("import sys\nfrom driftless.secrets.scan import scan_text\n"
             "assert scan_text('s.yaml', 'path: /srv/app/releases/current/config.yaml') == []\n"
             "print('re2' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_has_hint_agrees_with_the_hints_pattern() -> None:
    """The prefilter without a regular expression answers as ``re.search(HINTS)``:
    texts drawn from pieces of every literal, key characters, separators and
    non-ASCII characters, both ways."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from driftless.secrets import scan

    hints = re.compile(scan.HINTS)
    odd = ["\u00e9", "\u0663", "\U0001d400", "\ud800"]  # non-ASCII letters, a lone surrogate
    pieces = st.sampled_from([*scan._HINT_LITERALS, "AKI", "gh", "_", "xox", "-", "eyJ"[:2],
                              "a", "Z", "9", "/", "+", "=", " ", "\n", *odd])
    runs = st.integers(1, 45).map(lambda n: "aB3/+"[n % 5] * n)
    texts = st.lists(pieces | runs, max_size=12).map("".join)

    @settings(max_examples=800, deadline=None)
    @given(text=texts)
    def agrees(text: str) -> None:
        assert scan.has_hint(text) == (hints.search(text) is not None), repr(text)

    agrees()
    assert scan.has_hint("x" * 40) and not scan.has_hint("x" * 39 + " " + "x" * 39)
    assert not scan.has_hint("é" * 40) and scan.has_hint("see ghs_ here")
