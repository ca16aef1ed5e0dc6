"""SOPS files in a project: values files and ``secrets:`` entries decrypted at render.

Every value decrypted is ``Sensitive``; values a rule left in clear stay
plain; precedence is documented in docs/operations/secrets-sops.md; without
a key, validate warns and checks with placeholders while plan fails; a
tampered or PGP-only file always fails; the plaintext never reaches output
or state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyrage import x25519

from cli_helpers import run, write_project
from driftless.errors import Problem, RenderError
from driftless.model import UNKNOWN, Sensitive, reveal
from driftless.render import RenderOptions, load_project, render_stack, sops_values, stack_json
from driftless.secrets.sops import CryptRules, decrypt_text, encrypt_text
from driftless.state.packed import inflate_all

IDENTITY = x25519.Identity.generate()
RECIPIENT = str(IDENTITY.to_public())
SECRET = "s3cr3t-Value-9f2c"  # the plaintext that must never be printed or stored

STACK = """\
variables:
  token: {type: string, sensitive: true}
  password: {type: string, default: none}
  replicas: {type: integer, default: 1}
  domain: {type: string, default: d.org}
resources:
  conf:
    type: local:file
    properties: {path: /tmp/driftless-sops-values.conf, content: "${var.domain}"}
outputs:
  token: ${var.token}
  password: ${var.password}
  replicas: ${var.replicas}
  domain: ${var.domain}
"""


@pytest.fixture(autouse=True)
def _no_operator_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runner's own sops keys and DRIFTLESS_VAR_* must not leak into these tests."""
    import os

    for name in [k for k in os.environ if k.startswith(("DRIFTLESS_VAR_", "SOPS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))


def _keys(tmp_path: Path) -> dict[str, str]:
    """An operator environment holding the test identity (and no default key file)."""
    return {"SOPS_AGE_KEY": str(IDENTITY), "HOME": str(tmp_path / "home")}


def _no_keys(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home")}


def _seal(path: Path, text: str, *, fmt: str = "yaml", rules: CryptRules | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encrypt_text(text, fmt=fmt, recipients=[RECIPIENT], rules=rules))
    return path


def _project(root: Path, *, env: str = "", stack: str = STACK) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "driftless.yaml").write_text(
        "project: t\nstate: sqlite:///.driftless/state.db\nenvironments: [prod]\n"
        "stacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(stack)
    if env:
        (root / "environments/prod.yaml").write_text(env)
    return root


def _render(root: Path, environ: dict[str, str], **kw: Any) -> dict[str, Any]:
    options = RenderOptions(env="prod", environ=environ, **kw)
    return dict(render_stack(load_project(root), "app", options).outputs)


def _problems(root: Path, environ: dict[str, str], **kw: Any) -> list[Problem]:
    with pytest.raises(RenderError) as info:
        _render(root, environ, **kw)
    return list(info.value.problems)


def _text(problems: list[Problem]) -> str:
    return "\n".join(f"{p} {p.hint or ''}" for p in problems)


# -- values files and environment files -------------------------------------------------

def test_a_sops_var_file_gives_sensitive_values(tmp_path: Path) -> None:
    root = _project(tmp_path)
    values = _seal(tmp_path / "secret-values.yaml", f"token: {SECRET}\npassword: pw\n")
    out = _render(root, _keys(tmp_path), var_files=(values,))
    assert isinstance(out["token"], Sensitive) and reveal(out["token"]) == SECRET
    # not declared sensitive, but it came encrypted: it stays a secret
    assert isinstance(out["password"], Sensitive) and reveal(out["password"]) == "pw"
    desired = render_stack(load_project(root), "app", RenderOptions(
        env="prod", environ=_keys(tmp_path), var_files=(values,)))
    shown = json.dumps(stack_json(desired))
    assert '"token": "(sensitive)"' in shown and SECRET not in shown


def test_a_sops_environment_file_gives_sensitive_values(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml", f"variables:\n  token: {SECRET}\n  replicas: 3\n")
    out = _render(root, _keys(tmp_path))
    assert reveal(out["token"]) == SECRET and isinstance(out["token"], Sensitive)
    assert isinstance(out["replicas"], Sensitive) and reveal(out["replicas"]) == 3


def test_values_left_in_clear_by_the_rule_stay_plain(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml",
          f"variables:\n  token: {SECRET}\n  domain: a.org\n  replicas: 2\n",
          rules=CryptRules(encrypted_regex="^token$"))
    out = _render(root, _keys(tmp_path))
    assert isinstance(out["token"], Sensitive)
    assert out["domain"] == "a.org" and out["replicas"] == 2


def test_a_problem_in_a_sops_file_points_into_the_encrypted_file(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml", "variables:\n  token: t\n  replicas: many\n")
    problems = _problems(root, _keys(tmp_path))
    bad = next(p for p in problems if "replicas" in p.message)
    assert (bad.file, bad.line) == ("environments/prod.yaml", 3)
    assert "many" not in bad.message and "(sensitive)" in bad.message


# -- secrets: lists ---------------------------------------------------------------------

def test_a_secrets_list_in_the_environment_file_gives_sensitive_values(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [secrets/prod.enc.yaml]\n")
    _seal(root / "secrets/prod.enc.yaml", f"token: {SECRET}\npassword: pw\n")
    out = _render(root, _keys(tmp_path))
    assert reveal(out["token"]) == SECRET
    assert isinstance(out["password"], Sensitive) and reveal(out["password"]) == "pw"


def test_a_secrets_list_in_stack_yaml_gives_sensitive_values(tmp_path: Path) -> None:
    root = _project(tmp_path, stack=STACK + "secrets: [stacks/app/secrets.enc.json]\n")
    _seal(root / "stacks/app/secrets.enc.json", json.dumps({"token": SECRET}), fmt="json")
    out = _render(root, _keys(tmp_path))
    assert isinstance(out["token"], Sensitive) and reveal(out["token"]) == SECRET


def test_dotenv_and_ini_secrets_files_are_read_in_the_declared_type(tmp_path: Path) -> None:
    stack = STACK.replace("domain: {type: string, default: d.org}",
                          "domain: {type: string, default: d.org}\n  db: {type: map, default: {}}")
    root = _project(tmp_path, env="secrets: [s/app.env, s/db.ini]\n",
                    stack=stack + "  db: ${var.db}\n")
    _seal(root / "s/app.env", f"token={SECRET}\nreplicas=4\n", fmt="dotenv")
    _seal(root / "s/db.ini", "[db]\nhost = h\n", fmt="ini")
    out = _render(root, _keys(tmp_path))
    assert reveal(out["replicas"]) == 4 and isinstance(out["replicas"], Sensitive)
    assert reveal(out["db"]) == {"host": "h"} and isinstance(out["db"], Sensitive)


def test_precedence_of_sops_sources(tmp_path: Path) -> None:
    """default < stack secrets < env variables < env secrets < DRIFTLESS_VAR_* <
    --var-file < --var (docs/operations/secrets-sops.md)."""
    root = _project(tmp_path, env="variables: {replicas: 3, domain: env.org}\n"
                    "secrets: [s/env.yaml]\n",
                    stack=STACK + "secrets: [s/stack.yaml]\n")
    _seal(root / "s/stack.yaml", "token: from-stack\nreplicas: 2\npassword: from-stack\n")
    _seal(root / "s/env.yaml", "token: from-env-secrets\nreplicas: 4\n")
    values = _seal(tmp_path / "v.yaml", "token: from-var-file\n")
    environ = {**_keys(tmp_path), "DRIFTLESS_VAR_token": "from-environment"}
    out = _render(root, environ)
    assert reveal(out["password"]) == "from-stack"  # only the stack's file gives it
    assert reveal(out["replicas"]) == 4  # env secrets beat env variables and stack secrets
    assert out["domain"] == "env.org"
    assert reveal(out["token"]) == "from-environment"
    assert reveal(_render(root, environ, var_files=(values,))["token"]) == "from-var-file"
    cli = _render(root, environ, var_files=(values,), variables={"token": "from-cli"})
    assert reveal(cli["token"]) == "from-cli"


def test_an_unknown_key_in_a_secrets_file_is_an_error_naming_only_the_key(
        tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    _seal(root / "s/prod.yaml", f"token: t\ntokne: {SECRET}\n")
    problems = _problems(root, _keys(tmp_path))
    assert "unknown variable 'tokne' in s/prod.yaml" in _text(problems)
    assert (problems[0].file, problems[0].line) == ("s/prod.yaml", 2)
    assert SECRET not in _text(problems)


def test_a_secrets_entry_outside_the_project_is_refused_at_the_entry(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", env="variables: {}\nsecrets:\n  - ../outside.yaml\n")
    _seal(tmp_path / "outside.yaml", f"token: {SECRET}\n")
    (root / "s").mkdir()
    (root / "s/link.yaml").symlink_to(tmp_path / "outside.yaml")
    for entry in ("../outside.yaml", "s/link.yaml"):
        (root / "environments/prod.yaml").write_text(f"secrets: ['{entry}']\n")
        problems = _problems(root, _keys(tmp_path))
        assert "resolves outside the project" in _text(problems)
        assert (problems[0].file, problems[0].line) == ("environments/prod.yaml", 1)
        assert SECRET not in _text(problems)


def test_a_plaintext_file_in_secrets_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/plain.yaml]\n")
    (root / "s").mkdir()
    (root / "s/plain.yaml").write_text("token: t\n")
    assert "is not encrypted with sops" in _text(_problems(root, _keys(tmp_path)))


def test_a_missing_secrets_file_is_reported_at_its_entry(tmp_path: Path) -> None:
    root = _project(tmp_path, env="variables: {}\nsecrets: [s/missing.yaml]\n")
    problems = _problems(root, _keys(tmp_path))
    assert "s/missing.yaml: cannot read file" in problems[0].message
    assert (problems[0].file, problems[0].line) == ("environments/prod.yaml", 2)


def test_an_encrypted_secrets_list_is_refused_clearly(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml", "secrets: [s/prod.yaml]\n")
    assert "a secrets: entry is encrypted" in _text(_problems(root, _keys(tmp_path)))


def test_a_secrets_file_with_an_unknown_format_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/token.bin]\n")
    assert "must be .yaml, .yml, .json, .env or .ini" in _text(_problems(root, _keys(tmp_path)))


# -- no key, tampering, PGP --------------------------------------------------------------

def test_without_a_key_validate_warns_naming_the_file_and_uses_placeholders(
        tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    _seal(root / "s/prod.yaml", f"token: {SECRET}\nreplicas: 5\n")
    _seal(tmp_path / "v.yaml", "password: pw\n")
    found: list[Problem] = []
    out = _render(root, _no_keys(tmp_path), var_files=(tmp_path / "v.yaml",),
                  on_missing_secret=found.append)
    assert out["token"] is UNKNOWN and out["replicas"] is UNKNOWN and out["password"] is UNKNOWN
    messages = [p.message for p in found]
    assert any(m.startswith("no age identity can decrypt s/prod.yaml") for m in messages)
    assert any(m.startswith(f"no age identity can decrypt {tmp_path / 'v.yaml'}")
               for m in messages)
    assert all("checked with placeholders" in m for m in messages)


def test_without_a_key_the_clear_values_of_an_environment_file_still_count(
        tmp_path: Path) -> None:
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml", f"variables:\n  token: {SECRET}\n  domain: a.org\n",
          rules=CryptRules(encrypted_regex="^token$"))
    found: list[Problem] = []
    out = _render(root, _no_keys(tmp_path), on_missing_secret=found.append)
    assert out["token"] is UNKNOWN and out["domain"] == "a.org"
    assert [(p.file, p.line) for p in found] == [("environments/prod.yaml", 4)]


def test_without_a_key_plan_fails_with_the_decryption_message(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    _seal(root / "s/prod.yaml", f"token: {SECRET}\n")
    problems = _problems(root, _no_keys(tmp_path))
    assert len(problems) == 1, _text(problems)  # no "required" noise after it
    assert problems[0].message.startswith("no age identity can decrypt s/prod.yaml")
    assert RECIPIENT in problems[0].message
    assert (problems[0].file, problems[0].line) == ("environments/prod.yaml", 1)


def test_a_tampered_file_fails_even_when_secrets_are_optional(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    path = _seal(root / "s/prod.yaml", f"token: {SECRET}\ndomain: a.org\n",
                 rules=CryptRules(encrypted_regex="^token$"))
    path.write_text(path.read_text().replace("domain: a.org", "domain: evil.org"))
    found: list[Problem] = []
    problems = _problems(root, _keys(tmp_path), on_missing_secret=found.append)
    assert "s/prod.yaml has been tampered with or corrupted (MAC mismatch)" in _text(problems)
    assert not found


def test_a_pgp_only_file_gives_the_pgp_message(tmp_path: Path) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    path = _seal(root / "s/prod.yaml", "token: t\n")
    doc = yaml.safe_load(path.read_text())
    doc["sops"]["pgp"] = [{"fp": "ABCDEF", "enc": "-----BEGIN PGP MESSAGE-----\n"}]
    del doc["sops"]["age"]
    path.write_text(yaml.safe_dump(doc))
    found: list[Problem] = []
    problems = _problems(root, _keys(tmp_path), on_missing_secret=found.append)
    assert "s/prod.yaml: PGP is not supported" in _text(problems)


def test_each_file_is_decrypted_once_per_run(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, env="secrets: [s/prod.yaml]\n")
    _seal(root / "s/prod.yaml", f"token: {SECRET}\n")
    calls: list[str] = []

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(kw["source"])
        return decrypt_text(*args, **kw)

    monkeypatch.setattr(sops_values, "decrypt_text", counting)
    options = RenderOptions(env="prod", environ=_keys(tmp_path))
    project = load_project(root)
    for _ in range(3):
        render_stack(project, "app", options)
    assert calls == ["s/prod.yaml"]


# -- the CLI ---------------------------------------------------------------------------

def test_cli_validate_plan_apply_with_a_sops_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out" / "app.env"
    root = write_project(
        tmp_path / "p",
        {"env": {"type": "local:file",
                 "properties": {"path": str(out), "content": "TOKEN=${var.token}\n",
                                "make_parents": True}}},
        variables={"token": {"type": "string", "sensitive": True}},
        extra={"environments": ["prod"]})
    (root / "environments").mkdir()
    (root / "environments/prod.yaml").write_text("secrets: [secrets/prod.enc.yaml]\n")
    _seal(root / "secrets/prod.enc.yaml", f"token: {SECRET}\n")

    checked = run(root, "validate", "--env", "prod")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no age identity can decrypt secrets/prod.enc.yaml" in checked.stderr
    planned = run(root, "plan", "--env", "prod")
    assert planned.returncode == 1
    assert "no age identity can decrypt secrets/prod.enc.yaml" in planned.stdout + planned.stderr
    refused = run(root, "apply", "--env", "prod", "--auto-approve")
    assert refused.returncode == 1 and not out.exists()

    monkeypatch.setenv("SOPS_AGE_KEY", str(IDENTITY))
    runs = [run(root, "validate", "--env", "prod", "--require-secrets"),
            run(root, "plan", "--env", "prod"),
            run(root, "apply", "--env", "prod", "--auto-approve")]
    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
        assert SECRET not in done.stdout + done.stderr
    assert out.read_text() == f"TOKEN={SECRET}\n"
    state = root / ".driftless" / "state.db"
    assert state.exists() and SECRET.encode() not in inflate_all(state.read_bytes())
    for kept in (root / ".driftless").rglob("*"):  # journal, locks, digest keys too
        raw = kept.read_bytes() if kept.is_file() else b""
        assert SECRET.encode() not in raw + inflate_all(raw), kept


def test_an_environment_file_encrypting_only_variables_keeps_its_secrets_list(
        tmp_path: Path) -> None:
    """The layout secrets-sops.md recommends: encrypted_regex ^variables$."""
    root = _project(tmp_path)
    _seal(root / "environments/prod.yaml",
          "variables: {token: t}\nsecrets: [s/more.yaml]\nproviders: {local: {}}\n",
          rules=CryptRules(encrypted_regex="^variables$"))
    _seal(root / "s/more.yaml", "replicas: 7\n")
    out = _render(root, _keys(tmp_path))
    assert reveal(out["token"]) == "t" and reveal(out["replicas"]) == 7
    text = (root / "environments/prod.yaml").read_text()
    assert "secrets: [s/more.yaml]" in text and "local: {}" in text
