"""Helpers for the canary acceptance test of issue 10 (no secret leaks anywhere).

A *scenario* is one directory holding a driftless project whose stacks each take a
secret through exactly one input path (``--var``, a values file, an environment
file, ``DRIFTLESS_VAR_*``, a SOPS file, ``${secret.env|file|cmd:...}``); every path
gets its own fresh canary ``CANARY-<hex>``, so a canary found somewhere names the
path it came in by. ``Scan`` searches process output, every file of the scenario
and S3 object versions for every canary (raw, base64 and hex), allowing a canary
only in its own input file and in the targets the user asked driftless to write.

I/O: writes under the scenario directory, runs ``python -m driftless`` and ``git``
subprocesses, reads S3 objects from a moto server.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from driftless.state.packed import inflate_all

__all__ = [
    "ALL_PATHS", "FULL_KINDS", "KILL_KINDS", "PATH_LABELS", "REGION", "Cli", "Scan",
    "Scenario", "ServiceLog", "aws_env", "first_error", "new_canary", "parse_addresses",
    "s3_versions",
]

REGION = "us-east-1"
AMI = "ami-03cf127a"  # one of the images moto ships
ENV_NAME = "canary"
REF_ENV_VAR = "CANARY_REF_SECRET"

# input path -> how the canary reaches driftless (the name a leak report uses)
PATH_LABELS: dict[str, str] = {
    "cli": "--var",
    "varfile": "--var-file (values file)",
    "envfile": "environments/canary.yaml (sensitive variable)",
    "envvar": "DRIFTLESS_VAR_<name>",
    "sops": "SOPS values file (--var-file, age key in SOPS_AGE_KEY)",
    "ref_env": "${secret.env:...}",
    "ref_file": "${secret.file:...} (--allow-secret-files)",
    "ref_cmd": "${secret.cmd:...} (--allow-secret-commands)",
}
ALL_PATHS = tuple(PATH_LABELS)
VAR_PATHS = ("cli", "varfile", "envfile", "envvar", "sops")
FULL_KINDS = ("file", "tpl", "envf", "cmd", "svc", "bucket", "vm", "outputs")  # svc: zz_services
KILL_KINDS = ("file", "tpl", "envf", "cmd")


def new_canary() -> str:
    return f"CANARY-{secrets.token_hex(16)}"


def _needles(canary: str) -> list[tuple[str, bytes]]:
    """The canary as bytes, and the encodings a copy of it may hide in."""
    raw = canary.encode()
    out = [("", raw), (" (hex)", binascii.hexlify(raw))]
    for k in range(3):  # base64 of the canary at each alignment in a longer text
        part = raw[k:]
        part = part[: len(part) // 3 * 3]
        out.append((" (base64)", base64.b64encode(part)))
        out.append((" (base64url)", base64.urlsafe_b64encode(part)))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class ServiceLog:
    """A service's log: its own lines may hold ``owner``'s canary (the service printed
    it), the supervisor's ``[driftless ...]`` lines none."""

    owner: str


Allowed = Callable[[Path], "Iterable[str] | ServiceLog"]


@dataclass
class Scan:
    """Where each canary was found; what was not delivered; commands that failed."""

    scenario: str
    canaries: dict[str, str]  # input path -> canary
    leaks: dict[str, list[str]] = field(default_factory=dict)
    undelivered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=lambda: dict(PATH_LABELS))

    def label(self, path: str) -> str:
        return self.labels.get(path, path)

    def redact(self, text: str) -> str:
        """Text with every canary replaced by its path name (for command lines)."""
        for path, value in self.canaries.items():
            text = text.replace(value, f"<canary {path}>")
        return text

    def text(self, where: str, data: str | bytes, *, allowed: Iterable[str] = ()) -> None:
        """Search ``data``; a canary of a path in ``allowed`` may be there."""
        blob = data.encode(errors="surrogateescape") if isinstance(data, str) else data
        # SQLite state stores rows deflated (driftless.state.packed): read them inflated too.
        blob += b"\n" + inflate_all(blob)
        for path, value in self.canaries.items():
            if path in allowed:
                continue
            for how, needle in _needles(value):
                at = blob.find(needle)
                if at >= 0:
                    self.leaks.setdefault(path, []).append(
                        f"{where}{how}: …{_context(blob, at, len(needle))}…")
                    break

    def tree(self, root: Path, *, allowed: Allowed,
             name: Callable[[Path], str] | None = None) -> None:
        """Search every regular file under ``root``; ``allowed(path)`` names the input
        paths whose canaries may be in that file (or says it is a service log)."""
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            label = name(path) if name else str(path.relative_to(root))
            ok, data = allowed(path), path.read_bytes()
            if isinstance(ok, ServiceLog):
                lines = data.splitlines()
                ours = [ln for ln in lines if ln.startswith(b"[driftless")]
                self.text(f"{label} (supervisor lines)", b"\n".join(ours))
                self.text(f"{label} (service lines)",
                          b"\n".join(ln for ln in lines if ln not in ours), allowed=[ok.owner])
            else:
                self.text(f"file {label}", data, allowed=ok)

    def expect(self, path: str, what: str, data: str | bytes | None) -> None:
        """The canary of ``path`` must be in ``data`` (a target it was meant for)."""
        value = self.canaries[path]
        text = data.decode(errors="replace") if isinstance(data, bytes) else data
        if text is None or value not in text:
            state = "missing" if text is None else "without the canary"
            self.undelivered.append(f"{self.label(path)}: {what} {state}")

    def report(self) -> str:
        """The failure message: leaks by input path, then what did not work."""
        lines: list[str] = []
        if self.leaks:
            lines.append(f"[{self.scenario}] canary leaks (input path -> where):")
            for path in ALL_PATHS:
                for place in self.leaks.get(path, ()):
                    lines.append(f"  {self.label(path)} -> {place}")
        if self.undelivered:
            lines.append(f"[{self.scenario}] secrets that did not reach their target:")
            lines += [f"  {u}" for u in self.undelivered]
        if self.problems:
            lines.append(f"[{self.scenario}] commands that did not do their job:")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    def ok(self) -> bool:
        return not (self.leaks or self.undelivered or self.problems)


def _context(blob: bytes, at: int, size: int) -> str:
    piece = blob[max(0, at - 50): at + size + 30].decode(errors="replace")
    return piece.replace("\n", "⏎").replace("\r", "")[:200]


def aws_env(moto: str) -> dict[str, str]:
    """Dummy credentials for moto; nothing from the user's AWS configuration."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


@dataclass
class Scenario:
    """One scenario's directory layout, canaries, project and operator inputs.

    ``root/project`` the driftless project (``values.yaml``, ``secrets.sops.yaml`` and
    ``environments/canary.yaml`` inside it), ``root/operator`` the secret file and the
    secret command, ``root/out/<path>/`` the targets, ``root/services`` the services'
    state, ``root/home`` and ``root/tmp`` HOME and TMPDIR of every process.
    """

    root: Path
    name: str
    moto: str
    age_key: str
    age_recipient: str
    state_url: str = "sqlite:///.driftless/state.db"
    canaries: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: secrets.token_hex(4))

    def __post_init__(self) -> None:
        self.canaries = self.canaries or {p: new_canary() for p in ALL_PATHS}
        for d in (self.project, self.operator, self.out, self.services, self.home, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.scan = Scan(self.name, self.canaries)

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def operator(self) -> Path:
        return self.root / "operator"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def services(self) -> Path:
        return self.root / "services"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def secret_file(self) -> Path:
        return self.operator / "secret.txt"

    @property
    def secret_cmd(self) -> Path:
        return self.operator / "print-canary"

    @property
    def values_file(self) -> Path:
        return self.project / "values.yaml"

    @property
    def sops_file(self) -> Path:
        return self.project / "secrets.sops.yaml"

    @property
    def env_file(self) -> Path:
        return self.project / "environments" / f"{ENV_NAME}.yaml"

    # -- inputs -------------------------------------------------------------------

    def expr(self, path: str) -> str:
        """The expression that reads the secret of ``path``."""
        if path in VAR_PATHS:
            return f"${{var.s_{path}}}"
        return {"ref_env": f"${{secret.env:{REF_ENV_VAR}}}",
                "ref_file": f"${{secret.file:{self.secret_file}}}",
                "ref_cmd": f"${{secret.cmd:{self.secret_cmd}}}"}[path]

    def env(self, *, var_paths: Iterable[str] = ("envvar",)) -> dict[str, str]:
        """The environment of every driftless process of this scenario."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DRIFTLESS_", "SOPS_", "AWS_")) and k != "CI"}
        env.update(aws_env(self.moto), NO_COLOR="1", COLUMNS="200", HOME=str(self.home),
                   TMPDIR=str(self.tmp), XDG_STATE_HOME=str(self.home / "state"),
                   XDG_CONFIG_HOME=str(self.home / "config"), SOPS_AGE_KEY=self.age_key)
        env[REF_ENV_VAR] = self.canaries["ref_env"]
        for path in var_paths:
            env[f"DRIFTLESS_VAR_s_{path}"] = self.canaries[path]
        return env

    def global_flags(self) -> list[str]:
        return ["--allow-secret-files", str(self.operator), "--allow-secret-commands"]

    def args_for(self, path: str) -> list[str]:
        """Options that give the secret of ``path`` to a CLI command."""
        return {"cli": ["--var", f"s_cli={self.canaries['cli']}"],
                "varfile": ["--var-file", str(self.values_file)],
                "sops": ["--var-file", str(self.sops_file)]}.get(path, [])

    def write_operator_inputs(self) -> None:
        """The secret file and the secret command, outside the project."""
        self.secret_file.write_text(self.canaries["ref_file"])
        self.secret_cmd.write_text(f"#!/bin/sh\nprintf '%s' '{self.canaries['ref_cmd']}'\n")
        self.secret_cmd.chmod(0o755)

    def write_value_files(self, cli: Cli) -> None:
        """The values file and the SOPS file (encrypted with ``driftless secrets
        encrypt`` to the scenario's age key; the plaintext is removed)."""
        self.values_file.write_text(f"s_varfile: {self.canaries['varfile']}\n")
        plain = self.root / "sops-plain.yaml"
        plain.write_text(f"s_sops: {self.canaries['sops']}\n")
        proc = cli.run("secrets", "encrypt", "--age", self.age_recipient, str(plain),
                       project=False)
        plain.unlink()
        self.sops_file.write_text(proc.stdout)

    # -- the project ----------------------------------------------------------------

    def project_files(self, *, kinds: Sequence[str] = FULL_KINDS,
                      services: Sequence[str] = (), slow: Sequence[str] = ()) -> dict[str, str]:
        """driftless.yaml, the environment file and one stack per input path; then
        ``zz_services`` with a failing service per path in ``services`` and ``zz_slow``
        with a slow command over the paths in ``slow``. They come last (a failed
        stack stops the stacks after it) and only over paths that render."""
        tails = {"zz_services": services, "zz_slow": slow}
        stacks = [f"stacks/{p}" for p in ALL_PATHS] + [f"stacks/{t}" for t, v in tails.items() if v]
        files = {
            "driftless.yaml": yaml.safe_dump({
                "project": f"canary-{self.name}", "state": self.state_url,
                "environments": [ENV_NAME], "providers": {"aws": {"region": REGION}},
                "stacks": stacks}, sort_keys=False),
            f"environments/{ENV_NAME}.yaml": yaml.safe_dump({
                "providers": {"aws": {"endpoint_url": self.moto}},
                "variables": {"s_envfile": self.canaries["envfile"]}}, sort_keys=False),
        }
        for path in ALL_PATHS:
            files[f"stacks/{path}/stack.yaml"] = yaml.safe_dump(
                self._stack(path, kinds), sort_keys=False, width=1000)
        if services:
            files["stacks/zz_services/stack.yaml"] = yaml.safe_dump(
                self._services_stack(services), sort_keys=False, width=1000)
        if slow:
            files["stacks/zz_slow/stack.yaml"] = yaml.safe_dump(
                self._slow_stack(slow), sort_keys=False, width=1000)
        return files

    def write_project(self, **kw: Any) -> None:
        for rel, text in self.project_files(**kw).items():
            target = self.project / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def _stack(self, path: str, kinds: Sequence[str]) -> dict[str, Any]:
        e, out = self.expr(path), self.out / path
        resources: dict[str, Any] = {}
        add = resources.__setitem__
        after = {"depends_on": [f"{path}_file"]}
        if "file" in kinds:
            add(f"{path}_file", {"type": "local:file", "properties": {
                "path": str(out / "file.txt"), "content": f"file {e}\n", "make_parents": True}})
        if "tpl" in kinds:
            add(f"{path}_tpl", {"type": "local:template", **after, "properties": {
                "path": str(out / "tpl.txt"), "template": "tpl {{ token }}\n",
                "vars": {"token": e}}})
        if "envf" in kinds:
            add(f"{path}_envf", {"type": "local:env_file", **after, "properties": {
                "path": str(out / "app.env"), "values": {"TOKEN": e}}})
        if "cmd" in kinds:
            add(f"{path}_cmd", {"type": "local:command", **after, "properties": {
                "command": (f"echo cmd-text {e}; echo cmd-env $TOKEN; echo cmd-err {e} >&2; "
                            f"printf '%s %s\\n' \"{e}\" \"$TOKEN\" > {out / 'cmd.out'}"),
                "env": {"TOKEN": e}}})
        bucket = f"cn-{self.tag}-{path.replace('_', '-')}"
        if "bucket" in kinds:
            add(f"{path}_bucket", {"type": "aws:s3.Bucket", "properties": {
                "name": bucket, "tags": {"Token": e, "Path": path}}})
        if "vm" in kinds:
            add(f"{path}_vm", {"type": "aws:ec2.Instance", "properties": {
                "ami": AMI, "instance_type": "t3.micro",
                "user_data": f"#!/bin/sh\necho user-data {e}\n",
                "tags": {"Name": f"{self.tag}-{path}", "Token": e}}})
        doc: dict[str, Any] = {}
        if path in VAR_PATHS:
            doc["variables"] = {f"s_{path}": {"type": "string", "sensitive": True}}
        doc["resources"] = resources
        if "outputs" in kinds:
            doc["outputs"] = {f"{path}_token": {"value": e, "sensitive": True},
                              f"{path}_derived": f"postgres://app:{e}@db.internal/app"}
        return doc

    def _tail(self, paths: Sequence[str]) -> dict[str, Any]:
        return {"depends_on": list(paths),
                "variables": {f"s_{p}": {"type": "string", "sensitive": True}
                              for p in paths if p in VAR_PATHS}}

    def _services_stack(self, paths: Sequence[str]) -> dict[str, Any]:
        """Per path a service that prints its secret (from env) to its log and exits,
        so apply fails quoting the log."""
        return {**self._tail(paths), "resources": {f"{p}_svc": {
            "type": "local:service", "properties": {
                "command": ["/bin/sh", "-c", "echo svc-env $TOKEN; echo svc-err $TOKEN >&2; "
                            "sleep 0.2; exit 3"],
                "env": {"TOKEN": self.expr(p)}, "restart": "never",
                "log": str(self.out / p / "svc.log"), "state_dir": str(self.services)}}
            for p in paths}}

    def _slow_stack(self, paths: Sequence[str]) -> dict[str, Any]:
        """A command that notes its pid, then sleeps (once), with every secret in its
        text and environment: kill -9 during it leaves intents in the journal."""
        mark = self.root / "slow.pid"
        text = " ".join(self.expr(p) for p in paths)
        return {**self._tail(paths), "resources": {"slow": {
            "type": "local:command", "properties": {
                "command": (f"echo slow {text} > /dev/null; [ -e {mark} ] && exit 0; "
                            f"echo $$ > {mark}; exec sleep 60"),
                "env": {f"T_{p.upper()}": self.expr(p) for p in paths}}}}}

    # -- checks -----------------------------------------------------------------------

    def allowed(self, extra_inputs: Iterable[Path] = ()) -> Allowed:
        """Which canaries a file of this scenario may hold: an input its own, a target
        (``out/<path>/...``) the canary of that path; nothing else any."""
        inputs = {self.secret_file: ["ref_file"], self.secret_cmd: ["ref_cmd"],
                  self.values_file: ["varfile"], self.env_file: ["envfile"]}
        inputs.update({p: ["envfile"] for p in extra_inputs})
        targets = ("file.txt", "tpl.txt", "app.env", "cmd.out")

        def allowed(path: Path) -> Iterable[str] | ServiceLog:
            if path in inputs:
                return inputs[path]
            if path.parent.parent == self.out:
                if path.name.startswith("svc.log"):
                    return ServiceLog(path.parent.name)
                if path.name in targets:
                    return [path.parent.name]
            return ()
        return allowed

    def check_targets(self, kinds: Sequence[str], s3: Any = None, ec2: Any = None) -> None:
        """Every secret reached every target it was meant for (else the search for
        leaks proves nothing about that path)."""
        for path in ALL_PATHS:
            out = self.out / path
            for kind, name in (("file", "file.txt"), ("tpl", "tpl.txt"), ("envf", "app.env"),
                               ("cmd", "cmd.out"), ("svc", "svc.log")):
                if kind in kinds:
                    f = out / name
                    self.scan.expect(path, f"target {f.relative_to(self.root)}",
                                     f.read_bytes() if f.exists() else None)
            if "bucket" in kinds and s3 is not None:
                self.scan.expect(path, "aws:s3.Bucket tags", _bucket_tags(
                    s3, f"cn-{self.tag}-{path.replace('_', '-')}"))
            if "vm" in kinds and ec2 is not None:
                tags, user_data = _instance(ec2, f"{self.tag}-{path}")
                self.scan.expect(path, "aws:ec2.Instance tags", tags)
                self.scan.expect(path, "aws:ec2.Instance user_data", user_data)


def _bucket_tags(s3: Any, bucket: str) -> str | None:
    try:
        return repr(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError:  # no bucket, no tags: not delivered
        return None


def _instance(ec2: Any, name: str) -> tuple[str | None, str | None]:
    found = ec2.describe_instances(Filters=[
        {"Name": "tag:Name", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    insts = [i for r in found["Reservations"] for i in r["Instances"]]
    if not insts:
        return None, None
    iid = insts[0]["InstanceId"]
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    raw = attr.get("UserData", {}).get("Value")
    return repr(insts[0].get("Tags")), base64.b64decode(raw).decode() if raw else None


class Cli:
    """``python -m driftless`` in a scenario: every output is searched."""

    def __init__(self, sc: Scenario, *, var_paths: Iterable[str] = ("envvar",)) -> None:
        self.sc, self.env = sc, sc.env(var_paths=var_paths)

    def argv(self, *args: str, project: bool = True) -> list[str]:
        where = ["-C", str(self.sc.project)] if project else []
        return [sys.executable, "-m", "driftless", *self.sc.global_flags(), *where, *args]

    def run(self, *args: str, expect: int | None = 0, project: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        proc = subprocess.run(self.argv(*args, project=project), capture_output=True, text=True,
                              env=self.env, timeout=timeout, stdin=subprocess.DEVNULL,
                              cwd=self.sc.project)
        self.record(args, proc.stdout, proc.stderr, proc.returncode, expect,
                    seconds=time.monotonic() - start)
        return proc

    def record(self, args: Sequence[str], stdout: str, stderr: str, code: int,
               expect: int | None, *, seconds: float = 0.0) -> None:
        shown = self.sc.scan.redact(" ".join(
            a.replace(str(self.sc.root), "<root>") for a in args))
        with (self.sc.root.parent / f"{self.sc.name}-transcript.txt").open("a") as log:
            log.write(f"$ driftless {shown}\n[exit {code}, {seconds:.1f} s]\n{stdout}\n"
                      f"--- stderr\n{stderr}\n")
        self.sc.scan.text(f"stdout of `driftless {shown}`", stdout)
        self.sc.scan.text(f"stderr of `driftless {shown}`", stderr)
        if expect is not None and code != expect:
            first = self.sc.scan.redact((stderr.strip() or stdout.strip())[-400:])
            self.sc.scan.problems.append(
                f"`driftless {shown}` exited {code} (expected {expect}): {first}")

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env,
                                stdin=subprocess.DEVNULL, cwd=self.sc.project)


def s3_versions(s3: Any, bucket: str) -> Iterable[tuple[str, bytes]]:
    """(key@version, bytes) of every object version the bucket keeps."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            yield f"{v['Key']}@{v['VersionId'][:12]}", body["Body"].read()


def first_error(text: str) -> str:
    """The first line that looks like an error, for a short reason."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
    return pick[:300]


def parse_addresses(state_list_json: str) -> list[tuple[str, str]]:
    """(stack, address) pairs from ``state list --json``."""
    try:
        rows = json.loads(state_list_json)
    except ValueError:
        return []
    return [(r["stack"], r["address"]) for r in rows if isinstance(r, Mapping)]
