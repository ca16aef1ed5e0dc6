"""``driftless bootstrap``: create the remote state backend, then move state into it.

The chicken-and-egg of remote state, in three idempotent steps:

1. apply a built-in ``bootstrap`` stack (a versioned, AES256-encrypted,
   public-access-blocked bucket, and optionally a DynamoDB lock table, both
   protected) through the engine, using the project's *current* state;
2. migrate every stack's state — the ``bootstrap`` stack's own included —
   into the new backend (same lineage, see ``migrate``);
3. point ``state:`` in driftless.yaml at the new backend by editing only the
   value's characters, so every other byte of the file stays as written.

Running it again finds the bucket in place, the state identical and the
file already pointing there, and changes nothing.

A ``postgres://`` (or ``postgresql://``) backend has nothing for the engine
to create: step 1 creates the schema and tables in the existing database
instead (the server, database and role are the operator's), and the
``bootstrap`` stack is not made. Steps 2 and 3 are the same.

I/O: AWS through the provider, the state backends (PostgreSQL), and the
project's driftless.yaml.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import yaml

from driftless.engine import Engine
from driftless.errors import ConfigError, StateError
from driftless.model import ApplyResult, DesiredStack, Plan, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.records import record
from driftless.render.yamlio import load_yaml_text
from driftless.state import StateBackend, hold_lock, open_backend
from driftless.state.s3 import parse_url
from driftless.state.s3_store import S3Location
from driftless.workflows.migrate import MigrationStep, plan_migration

__all__ = [
    "BOOTSTRAP_STACK", "BootstrapReport", "ProjectLike", "bootstrap", "bootstrap_postgres",
    "bootstrap_stack",
]

BOOTSTRAP_STACK = "bootstrap"
_PROJECT_FILES = ("driftless.yaml", "driftless.yml")
_POSTGRES = ("postgres", "postgresql")


class ProjectLike(Protocol):
    """What bootstrap needs of ``driftless.render.Project``."""

    @property
    def root(self) -> Path: ...
    @property
    def state_url(self) -> str: ...
    @property
    def stacks(self) -> Mapping[str, Any]: ...
    def provider_config(self, env: str | None) -> Mapping[str, Mapping[str, Any]]: ...


@record
class BootstrapReport:
    """What bootstrap did: the backend's plan and results, the migration, the file edit."""

    url: str
    previous_url: str
    plan: Plan
    results: tuple[ApplyResult, ...]
    migration: tuple[MigrationStep, ...]
    config_file: Path | None
    schema_created: bool = False

    @property
    def copied(self) -> list[str]:
        """Stacks whose state was copied into the new backend."""
        return [s.stack for s in self.migration if s.action == "copy"]

    @property
    def changed(self) -> bool:
        """False when the run found everything in place."""
        return bool(self.results or self.copied or self.config_file or self.schema_created)


def with_lock_table(url: str, lock_table: str | None) -> str:
    """``url`` with ``lock_table`` in its query (a conflicting one is an error)."""
    if lock_table is None:
        return url
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if query.get("lock_table", lock_table) != lock_table:
        raise ConfigError(
            f"--lock-table {lock_table} disagrees with lock_table={query['lock_table']} in {url}",
            hint="give the lock table once, either in the URL or with --lock-table",
        )
    query["lock_table"] = lock_table
    return urlunsplit(parts._replace(query=urlencode(query, safe=":/")))


def bootstrap_stack(loc: S3Location) -> DesiredStack:
    """The built-in stack: the state bucket and (optionally) the lock table, protected."""
    resources = [Resource(
        ResourceId("aws", "s3.Bucket", "state"),
        {"name": loc.bucket, "versioning": True, "encryption": "AES256",
         "public_access_block": True, "tags": {"managed-by": "driftless"}},
        protect=True,
    )]
    if loc.lock_table:
        resources.append(Resource(
            ResourceId("aws", "dynamodb.Table", "locks"),
            {"name": loc.lock_table, "hash_key": "LockID", "attributes": {"LockID": "S"},
             "billing_mode": "PAY_PER_REQUEST", "tags": {"managed-by": "driftless"}},
            protect=True,
        ))
    canon = json.dumps([[str(r.id), dict(r.properties)] for r in resources], sort_keys=True)
    return DesiredStack(BOOTSTRAP_STACK, tuple(resources),
                        hashlib.sha256(canon.encode()).hexdigest())


def _provider_config(project: ProjectLike, env: str | None, loc: S3Location
                     ) -> dict[str, Mapping[str, Any]]:
    # The bucket must live where the URL says, whatever the project's default region.
    config = {k: dict(v) for k, v in project.provider_config(env).items()}
    aws = config.setdefault("aws", {})
    if loc.region:
        aws["region"] = loc.region
    if loc.endpoint:
        aws["endpoint_url"] = loc.endpoint
    if loc.profile:
        aws["profile"] = loc.profile
    return dict(config)


def _apply_backend(engine: Engine, desired: DesiredStack) -> tuple[Plan, tuple[ApplyResult, ...]]:
    with hold_lock(engine.backend, desired.name, operation="bootstrap"):
        plan = engine.plan(desired)
        if not plan.pending():
            return plan, ()
        report = engine.apply(plan, desired)
    if not report.ok:
        failed = report.failed()[0]
        raise StateError(
            f"bootstrap could not create {failed.id}: {failed.message}; "
            "no state was migrated",
            hint="fix the cause above and run `driftless bootstrap` again",
        )
    return plan, report.results


def project_file(root: Path) -> Path:
    """The project's driftless.yaml (or .yml)."""
    for name in _PROJECT_FILES:
        if (root / name).is_file():
            return root / name
    raise ConfigError(f"no driftless.yaml in {root}", hint="run `driftless init` first")


def set_state_url(path: Path, url: str) -> bool:
    """Point ``state:`` in ``path`` at ``url``; False if it already was.

    A text edit at the parsed position of the value, not a YAML round trip:
    the file is the user's, so every other byte (indentation, comments,
    quoting, line endings, a missing final newline) must stay as written.
    """
    text = path.read_bytes().decode("utf-8")
    doc = load_yaml_text(text, str(path))
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if doc.get("state") == url:
        return False
    node = yaml.compose(text, Loader=yaml.SafeLoader)  # Python marks: character offsets
    assert isinstance(node, yaml.MappingNode)  # doc above is a mapping
    path.write_bytes(_edited(node, text, url, path).encode("utf-8"))
    return True


def _edited(node: yaml.MappingNode, text: str, url: str, path: Path) -> str:
    """``text`` with the state value replaced (or added), quoted only if it must be."""
    pairs = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    style = _state_style(pairs, path) if "state" in pairs else None
    for scalar in _quotings(url, style):
        out = (_replace_value(text, pairs["state"][1], scalar) if "state" in pairs
               else _insert_state(text, node, pairs, scalar))
        if _reads_as(out, url, path):
            return out
    raise ConfigError(f"{path}: cannot write the state URL {url} as a YAML string")


def _reads_as(text: str, url: str, path: Path) -> bool:
    """Whether both driftless's loader and PyYAML's stricter pure-Python parser (which
    rejects a plain ``?`` in a flow mapping that libyaml takes) read ``url`` back."""
    doc = load_yaml_text(text, str(path))
    if not isinstance(doc, dict) or doc.get("state") != url:
        return False
    try:
        strict = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(strict, dict) and strict.get("state") == url


def _state_style(pairs: Mapping[str, tuple[yaml.Node, yaml.Node]], path: Path) -> str | None:
    """The quoting of the current value; block and non-string values cannot be kept."""
    key, value = pairs["state"]
    if not isinstance(value, yaml.ScalarNode) or value.style in ("|", ">"):
        raise ConfigError(
            f"{path}:{key.start_mark.line + 1}: state is not a one-line string",
            hint="write state: as a URL on one line, then run bootstrap again")
    style: str | None = value.style
    return style


def _quotings(url: str, style: str | None) -> list[str]:
    """Ways to write ``url``, the file's own quoting first, double quotes last."""
    double = json.dumps(url)  # a JSON string is a YAML double-quoted scalar
    if style == "'":
        return ["'" + url.replace("'", "''") + "'", double]
    return [double] if style == '"' else [url, double]


def _replace_value(text: str, value: yaml.Node, scalar: str) -> str:
    """Swap the value's characters; an empty value gets a space after its colon."""
    start, end = value.start_mark.index, value.end_mark.index
    if start == end:  # "state:" with nothing: the mark sits right after the colon
        scalar = " " + scalar
    return text[:start] + scalar + text[end:]


def _insert_state(text: str, node: yaml.MappingNode,
                  pairs: Mapping[str, tuple[yaml.Node, yaml.Node]], scalar: str) -> str:
    """Add ``state:`` after ``project:`` (or before the first key) at the top level."""
    if not node.value:
        raise ConfigError("driftless.yaml has an empty top-level mapping: add project: first")
    after = pairs.get("project")
    if node.flow_style:
        if after is not None:
            at = after[1].end_mark.index
            return text[:at] + ", state: " + scalar + text[at:]
        at = node.value[0][0].start_mark.index
        return text[:at] + "state: " + scalar + ", " + text[at:]
    return _insert_line(text, node.value[0][0], after, scalar)


def _insert_line(text: str, first: yaml.Node, after: tuple[yaml.Node, yaml.Node] | None,
                 scalar: str) -> str:
    """A new block line, indented like the top-level keys, ending like the file's lines."""
    newline = "\r\n" if "\r\n" in text else "\n"
    key_at = first.start_mark.index
    line_start = max(text.rfind("\n", 0, key_at) + 1, 1 if text.startswith("\ufeff") else 0)
    line = text[line_start:key_at] + "state: " + scalar
    if after is None:
        return text[:line_start] + line + newline + text[line_start:]
    eol = text.find("\n", after[1].end_mark.index)
    if eol < 0:  # project: is the last line and has no newline: neither will state:
        return text + newline + line
    return text[:eol + 1] + line + newline + text[eol + 1:]


def bootstrap(
    project: ProjectLike, backend_url: str, *, lock_table: str | None = None,
    env: str | None = None,
) -> BootstrapReport:
    """Create the S3 backend (and lock table) as protected resources, move state into it,
    and point driftless.yaml at it. Safe to run again: it then changes nothing."""
    if urlsplit(backend_url).scheme in _POSTGRES:
        return bootstrap_postgres(project, backend_url, lock_table=lock_table)
    url = with_lock_table(backend_url, lock_table)
    loc = parse_url(url)
    if BOOTSTRAP_STACK in project.stacks:
        raise ConfigError(
            f"the project has a stack named '{BOOTSTRAP_STACK}', which bootstrap reserves",
            hint="rename that stack's folder in driftless.yaml",
        )
    path = project_file(project.root)
    providers = ProviderSet(_provider_config(project, env, loc))
    current = open_backend(project.state_url, root=project.root)
    try:
        plan, results = _apply_backend(
            Engine(providers=providers, backend=current), bootstrap_stack(loc))
        steps = _migrate(current, project, url)
    finally:
        current.close()
        providers.close()
    changed_file = set_state_url(path, url)
    return BootstrapReport(url, project.state_url, plan, results, tuple(steps),
                           path if changed_file else None)


def bootstrap_postgres(project: ProjectLike, url: str, *, lock_table: str | None = None
                       ) -> BootstrapReport:
    """Create the schema and tables, move every stack's state in, point driftless.yaml there.

    The database must exist: creating servers, databases and roles is the
    operator's business (and needs rights state should not be given).
    """
    from driftless.state.postgres import from_url

    if lock_table is not None:
        raise ConfigError(
            "--lock-table is for S3 state; PostgreSQL keeps its leases in its own table",
            hint="run driftless bootstrap again without --lock-table")
    path = project_file(project.root)
    backend = from_url(url, project.root)  # parses the URL before anything is touched
    if backend.loc.secrets:
        raise ConfigError(
            f"the state URL {backend.loc.shown} holds a password, which bootstrap would "
            "write into driftless.yaml (and so into Git)",
            hint="drop the password from the URL and give it in PGPASSWORD or ~/.pgpass")
    try:
        created = backend.ensure_schema()
    finally:
        backend.close()
    current = open_backend(project.state_url, root=project.root)
    try:
        steps = _migrate(current, project, url)
    finally:
        current.close()
    changed_file = set_state_url(path, url)
    return BootstrapReport(url, project.state_url, _no_plan(), (), tuple(steps),
                           path if changed_file else None, schema_created=created)


def _no_plan() -> Plan:
    """The empty plan of a backend the engine has nothing to create for."""
    return Plan(BOOTSTRAP_STACK, None, "", "", 0, ())


def _migrate(current: StateBackend, project: ProjectLike, url: str) -> list[MigrationStep]:
    if project.state_url == url:
        return []
    remote = open_backend(url, root=project.root)
    try:
        return plan_migration(current, remote)
    finally:
        remote.close()
