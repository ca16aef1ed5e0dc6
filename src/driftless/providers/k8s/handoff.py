"""``k8s:rendered_manifests``: the render of one app, committed for Argo CD or Flux.

The resource owns ``<directory>/<environment>/<app>/`` on a branch of a Git
repository (plus ``<directory>/<environment>/flux-system/<app>.yaml`` when
it generates Flux's ordering): one file per object, named
``kind[-namespace]-name.yaml``. ``read`` fetches the branch; ``diff``
renders and compares file by file, so the plan shows the rendered diff
object by object; ``apply`` writes the files, commits (message naming the
source revision and the plan digest) and pushes; an unchanged render makes
no commit.

Secrets never reach Git in clear: every ``Secret`` (from ``secrets:`` or
from the render) is written SOPS-encrypted to the ``sops_recipients``
(``data``/``stringData`` only, as Flux and KSOPS expect), and carries a
keyed digest of its plaintext so an unchanged secret keeps its committed
bytes (encryption is randomised). I/O: git (``gitrepo``), the render tools,
the SOPS codec.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    contains_unknown,
    sensitive_digest,
)
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.k8s.gitrepo import Clone
from driftless.providers.k8s.helm import HelmValues, chart_dir, render_helm
from driftless.providers.k8s.kustomize import (
    KustomizeValues,
    kustomization_dir,
    project_root,
    render_kustomize,
)
from driftless.providers.k8s.manifests import K8sObject, digest_text, split_objects
from driftless.records import record
from driftless.secrets.sops import CryptRules, encrypt_text

__all__ = ["HANDLERS", "RenderedManifestsHandler", "RenderedManifestsProps"]

DIGEST_ANNOTATION = "driftless.dev/plaintext-digest"
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
_SOPS_RULES = CryptRules(encrypted_regex="^(data|stringData)$")
_NAME = r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$"


class SecretProps(BaseModel):
    """A Secret to commit SOPS-encrypted."""

    model_config = ConfigDict(extra="forbid")
    namespace: str | None = None
    type: str = "Opaque"
    data: dict[str, str] = Field(description="key -> value (sensitive values stay sensitive)")


class RenderedManifestsProps(KustomizeValues):
    """Properties of ``k8s:rendered_manifests``."""

    repo: str = Field(description="URL or path of the Git repository to commit to")
    branch: str = Field(default="main", description="branch to commit to")
    directory: str = Field(default="envs", pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
                           description="top directory in the repository")
    environment: str = Field(pattern=_NAME, description="the environment: envs/<environment>/")
    app: str = Field(pattern=_NAME, description="the app: envs/<environment>/<app>/")
    kustomization: str | None = Field(default=None, description="a kustomization.yaml to "
                                      "render, relative to the stack")
    chart: str | None = Field(default=None, description="a Chart.yaml to render with helm")
    helm: HelmValues | None = Field(default=None, description="release, namespace, values")
    manifests: str | None = Field(default=None, description="YAML rendered elsewhere")
    secrets: dict[str, SecretProps] = Field(default={}, description="Secrets to commit "
                                            "SOPS-encrypted, by name")
    sops_recipients: list[str] = Field(default=[], description="age public keys Secrets are "
                                       "encrypted to")
    ordering: Literal["none", "argocd", "flux"] = Field(
        default="none", description="generate Argo CD sync waves or Flux dependsOn")
    wave: int = Field(default=0, description="Argo CD sync wave of every object of the app")
    after: list[str] = Field(default=[], description="apps of the same environment this "
                             "one waits for (Flux dependsOn)")
    flux_source: str = Field(default="flux-system", description="the Flux GitRepository name")
    source_revision: str | None = Field(default=None, description="the source revision to "
                                        "name in commits (default: the project's git HEAD)")

    @model_validator(mode="after")
    def _one_source(self) -> RenderedManifestsProps:
        given = [n for n in ("kustomization", "chart", "manifests") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give one of kustomization, chart, manifests (got {given})")
        if self.chart and self.helm is None:
            raise ValueError("a chart needs helm: {release: ...}")
        return self


@record
class Layout:
    """Where one app's files live."""

    app_dir: str
    flux_file: str

    @classmethod
    def of(cls, props: RenderedManifestsProps) -> Layout:
        env = f"{props.directory}/{props.environment}"
        return cls(f"{env}/{props.app}", f"{env}/flux-system/{props.app}.yaml")

    def owned(self) -> list[str]:
        return [self.app_dir, self.flux_file]


class RenderedManifestsHandler(KindHandler):
    """Commit one app's rendered objects to the hand-off repository."""

    spec: ClassVar[KindSpec] = KindSpec(
        name="rendered_manifests", schema=RenderedManifestsProps,
        description="an app's rendered manifests committed to envs/<env>/<app>/ of a Git "
        "branch, one file per object, for Argo CD or Flux to sync",
        attributes={"files": "path in the repository -> sha256 of the committed file",
                    "commit": "the newest commit that touched these files"},
        read_fields=frozenset({"kustomization", "chart"}),
        update_changes=frozenset({"files", "commit"}))

    def parse(self, resource: Resource) -> RenderedManifestsProps:
        """Validated properties (revealed: use, never print)."""
        props: RenderedManifestsProps = super().parse(resource)
        return props

    def _clone(self, rid: ResourceId, props: RenderedManifestsProps) -> Clone:
        return Clone(rid, props.repo, props.branch, f"{props.environment}/{props.app}")

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The committed files of this app, fresh from the branch; None when there are none."""
        props = self.parse(resource)
        clone = self._clone(resource.id, props)
        clone.sync()
        layout = Layout.of(props)
        files = clone.files_under(layout.owned())
        if not files:
            return None
        return LiveResource(resource.id, {
            "files": {k: digest_text(v) for k, v in sorted(files.items())},
            "commit": clone.last_commit(layout.owned())},
            {"repo": props.repo, "branch": props.branch,
             "key": f"{props.environment}/{props.app}"})

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Render and compare file by file with what the branch holds."""
        if contains_unknown(dict(desired.properties)):
            action = Action.CREATE if live is None else Action.UPDATE
            return Change(desired.id, action, desired, live, (FieldDiff(
                "files", (live.attributes.get("files") if live else None), _unknown(desired)),),
                reason="the render needs values known after apply")
        props = self.parse(desired)
        clone = self._clone(desired.id, props)
        committed = clone.files_under(Layout.of(props).owned()) if live else {}
        wanted = desired_files(desired, props, committed)
        diffs = file_diffs(committed, wanted)
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, diffs,
                          reason=f"{len(wanted)} object file(s) to commit; "
                          f"plan digest {plan_digest(committed, wanted)[:19]}")
        recorded = live.attributes.get("files") or {}
        if not diffs and recorded == {k: digest_text(v) for k, v in committed.items()}:
            return Change(desired.id, Action.NOOP, desired, live)
        return Change(desired.id, Action.UPDATE, desired, live, diffs or (
            FieldDiff("files", recorded, "(as committed)"),),
            reason=f"{len(diffs)} rendered object file(s) differ from the branch; "
            f"plan digest {plan_digest(committed, wanted)[:19]}")

    def create(self, change: Change) -> LiveResource:
        """Write, commit and push; return what the branch now holds."""
        assert change.desired is not None
        desired = change.desired
        props = self.parse(desired)
        clone = self._clone(desired.id, props)
        clone.sync()
        layout = Layout.of(props)
        committed = clone.files_under(layout.owned())
        wanted = desired_files(desired, props, committed)
        _write(clone.path, committed, wanted)
        clone.commit_and_push(commit_message(props, committed, wanted))
        live = self.read(desired, None)
        if live is None:
            raise ProviderError("the render holds no object to commit", resource=desired.id)
        return live

    def update(self, change: Change) -> LiveResource:
        """The same as create: the branch is brought to the render."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Remove the app's files from the branch in one commit (gone is fine)."""
        files = sorted((prior.attributes.get("files") or {}).keys())
        if not files:
            return
        clone = self._deleting_clone(prior, files)
        if clone is None:
            return
        clone.sync()
        present = [f for f in files if (clone.path / f).is_file()]
        for rel in present:
            (clone.path / rel).unlink()
        if present:
            clone.commit_and_push(f"driftless: remove {_app_of(files)}\n\n"
                                  f"removed objects: {len(present)}")

    def _deleting_clone(self, prior: LiveResource, files: list[str]) -> Clone | None:
        repo, branch, key = prior.private.get("repo"), prior.private.get("branch"), \
            prior.private.get("key")
        if not (repo and branch and key):
            return None
        return Clone(prior.id, str(repo), str(branch), str(key))


def _unknown(desired: Resource) -> Any:
    for value in desired.properties.values():
        if contains_unknown(value):
            return value
    return None


def _app_of(files: list[str]) -> str:
    return "/".join(files[0].split("/")[1:3]) if files else ""


def render_source(desired: Resource, props: RenderedManifestsProps) -> str:
    """The app's YAML: kustomize, helm, or as given."""
    values = KustomizeValues.model_validate(props.model_dump(include=set(
        KustomizeValues.model_fields)))
    if props.ordering == "argocd" and props.kustomization:
        values = values.model_copy(update={"annotations": {
            **values.annotations, WAVE_ANNOTATION: str(props.wave)}})
    if props.kustomization:
        return render_kustomize(desired.id, kustomization_dir(desired.id, props.kustomization),
                                values)
    if props.chart:
        assert props.helm is not None
        return render_helm(desired.id, chart_dir(desired.id, props.chart), props.helm)
    return props.manifests or ""


def desired_files(desired: Resource, props: RenderedManifestsProps,
                  committed: Mapping[str, str]) -> dict[str, str]:
    """Repository path -> file text of everything the app should hold."""
    layout = Layout.of(props)
    objects = split_objects(desired.id, render_source(desired, props))
    objects += [_secret_object(desired.id, name, s) for name, s in sorted(props.secrets.items())]
    out: dict[str, str] = {}
    for obj in objects:
        rel = f"{layout.app_dir}/{obj.filename}"
        if rel in out:
            raise ProviderError(f"two rendered objects would share the file {rel} "
                                f"({obj.key})", resource=desired.id)
        out[rel] = _file_text(desired.id, props, obj, committed.get(rel))
    if props.ordering == "flux":
        out[layout.flux_file] = flux_kustomization(props, any(o.is_secret for o in objects))
    if not objects:
        raise ProviderError("the render holds no object", resource=desired.id)
    return out


def _file_text(rid: ResourceId, props: RenderedManifestsProps, obj: K8sObject,
               committed: str | None) -> str:
    needs_wave = props.ordering == "argocd" and not props.kustomization
    if obj.is_secret:
        return _sealed_secret(rid, props, obj, committed)
    return _annotated(obj.body, {WAVE_ANNOTATION: str(props.wave)}) if needs_wave else obj.text


def _annotated(body: Mapping[str, Any], annotations: Mapping[str, str]) -> str:
    doc = dict(body)
    meta = dict(doc.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    doc["metadata"] = meta
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)


def _secret_object(rid: ResourceId, name: str, secret: SecretProps) -> K8sObject:
    meta: dict[str, Any] = {"name": name}
    if secret.namespace:
        meta["namespace"] = secret.namespace
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": secret.type,
            "stringData": dict(sorted(secret.data.items()))}
    return K8sObject("v1", "Secret", name, secret.namespace or "",
                     yaml.safe_dump(body, sort_keys=True), body)


def _sealed_secret(rid: ResourceId, props: RenderedManifestsProps, obj: K8sObject,
                   committed: str | None) -> str:
    """The Secret SOPS-encrypted; the committed bytes when its plaintext is unchanged."""
    if not props.sops_recipients:
        raise ProviderError(f"{obj.key} would be committed in clear; set sops_recipients "
                            "(age public keys) to commit it SOPS-encrypted", resource=rid)
    digest = sensitive_digest(obj.text + "\0" + "\n".join(sorted(props.sops_recipients)))
    if committed is not None and _committed_digest(committed) == digest:
        return committed
    plain = _annotated(obj.body, {DIGEST_ANNOTATION: digest})
    try:
        return encrypt_text(plain, fmt="yaml", recipients=props.sops_recipients,
                            rules=_SOPS_RULES).decode("utf-8")
    except Exception as exc:  # the codec's errors name the recipient problem, not the value
        raise ProviderError(f"cannot encrypt {obj.key}: {type(exc).__name__}: {exc}",
                            resource=rid) from None


def _committed_digest(text: str) -> str | None:
    try:
        doc = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    meta = doc.get("metadata") if isinstance(doc, Mapping) else None
    notes = meta.get("annotations") if isinstance(meta, Mapping) else None
    found = notes.get(DIGEST_ANNOTATION) if isinstance(notes, Mapping) else None
    return str(found) if found else None


def flux_kustomization(props: RenderedManifestsProps, decrypt: bool) -> str:
    """A Flux ``Kustomization`` syncing this app's directory after the apps it waits for."""
    env = props.environment
    spec: dict[str, Any] = {
        "interval": "5m", "path": f"./{props.directory}/{env}/{props.app}", "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": props.flux_source}}
    if props.after:
        spec["dependsOn"] = [{"name": f"{env}-{a}"} for a in sorted(props.after)]
    if decrypt:
        spec["decryption"] = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    doc = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": f"{env}-{props.app}", "namespace": "flux-system"},
           "spec": spec}
    return yaml.safe_dump(doc, sort_keys=False)


def file_diffs(committed: Mapping[str, str], wanted: Mapping[str, str]) -> tuple[FieldDiff, ...]:
    """One diff per file added, changed or removed: the object's text before and after
    (a Secret's as ``(sensitive)``: only ciphertext is ever written)."""
    out = []
    for rel in sorted(set(committed) | set(wanted)):
        before, after = committed.get(rel), wanted.get(rel)
        if before != after:
            secret = "sops:" in (after or before or "") and "ENC[" in (after or before or "")
            out.append(FieldDiff(f"files.{rel}", before, after, secret))
    return tuple(out)


def plan_digest(committed: Mapping[str, str], wanted: Mapping[str, str]) -> str:
    """sha256 over the planned file changes (path and new digest, or removal)."""
    h = hashlib.sha256()
    for rel in sorted(set(committed) | set(wanted)):
        before, after = committed.get(rel), wanted.get(rel)
        if before != after:
            h.update(f"{rel}\0{_content_digest(after)}\n".encode())
    return "sha256:" + h.hexdigest()


def _content_digest(text: str | None) -> str:
    """A file's digest for the plan digest: a Secret's by its plaintext digest, since
    its ciphertext differs on every encryption."""
    if text is None:
        return "-"
    return (_committed_digest(text) if DIGEST_ANNOTATION in text else None) or digest_text(text)


def commit_message(props: RenderedManifestsProps, committed: Mapping[str, str],
                   wanted: Mapping[str, str]) -> str:
    """Subject naming env/app and revision; body with the plan digest and counts."""
    added = len(set(wanted) - set(committed))
    removed = len(set(committed) - set(wanted))
    changed = sum(1 for k in set(wanted) & set(committed) if wanted[k] != committed[k])
    revision = source_revision(props)
    return (f"driftless: render {props.environment}/{props.app} at {revision[:12]}\n\n"
            f"source revision: {revision}\nplan digest: {plan_digest(committed, wanted)}\n"
            f"objects: {added} added, {changed} changed, {removed} removed\n")


def source_revision(props: RenderedManifestsProps) -> str:
    """The revision rendered: given, else the project's git HEAD, else 'unknown'."""
    if props.source_revision:
        return props.source_revision
    source = props.kustomization or props.chart
    root = project_root(Path(source.removeprefix("file://")).parent if source else Path.cwd())
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def _write(top: Path, committed: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    for rel in set(committed) - set(wanted):
        (top / rel).unlink(missing_ok=True)
    for rel, text in wanted.items():
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


HANDLERS: dict[str, KindHandler] = {"rendered_manifests": RenderedManifestsHandler()}
