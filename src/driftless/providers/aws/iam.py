"""IAM: ``iam.Role``, ``iam.RolePolicy``, ``iam.PolicyAttachment``, ``iam.InstanceProfile``.

I/O: IAM API calls through the shared client. Policy documents are accepted
as a mapping or a JSON string and compared as parsed JSON, so formatting
and key order never show up as changes.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftless.model import Change, LiveResource, ResourceId
from driftless.providers.aws._base import (
    AwsHandler,
    KeyedHandler,
    desired_of,
    from_tag_list,
    to_tag_list,
)
from driftless.providers.aws._client import AwsClients
from driftless.providers.base import KindSpec

__all__ = ["handlers"]


def policy_doc(value: Any) -> dict[str, Any]:
    """A policy document as a dict, from a mapping, JSON, or URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    text = str(value)
    if text.startswith("%7B") or text.startswith("%7b"):
        text = urllib.parse.unquote(text)
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("a policy document is a JSON object")
    return doc


class _Doc(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _docs(cls, v: Any, info: Any) -> Any:
        if info.field_name in ("assume_role_policy", "policy") and v is not None:
            try:
                return policy_doc(v)
            except ValueError as exc:
                raise ValueError(f"not a JSON policy document: {exc}") from None
        return v


class RoleProps(_Doc):
    """``iam.Role`` properties."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    assume_role_policy: dict[str, Any]
    path: str = "/"
    description: str = ""
    max_session_duration: int = Field(default=3600, ge=3600, le=43200)
    tags: dict[str, str] = Field(default_factory=dict)


class RolePolicyProps(_Doc):
    """``iam.RolePolicy`` properties: an inline policy on a role."""

    model_config = ConfigDict(extra="forbid")
    role: str
    name: str
    policy: dict[str, Any]


class AttachmentProps(BaseModel):
    """``iam.PolicyAttachment`` properties: a managed policy on a role."""

    model_config = ConfigDict(extra="forbid")
    role: str
    policy_arn: str


class ProfileProps(BaseModel):
    """``iam.InstanceProfile`` properties."""

    model_config = ConfigDict(extra="forbid")
    name: str
    role: str | None = None
    path: str = "/"


class RoleHandler(KeyedHandler):
    """A role that a service or principal may assume."""

    service, noun = "iam", "role"
    spec = KindSpec(
        "iam.Role", RoleProps, "an IAM role",
        replace_on=frozenset({"name", "path"}), import_id="the role name",
        attributes={"arn": "role ARN", "name": "role name", "id": "role id"},
        update_changes=frozenset(),
    )

    def _read(self, rid: ResourceId, name: str) -> LiveResource | None:
        out = self.maybe(rid, "get role", self.api.get_role, RoleName=name)
        if out is None:
            return None
        r = out["Role"]
        tags = self.call(rid, "list role tags", self.api.list_role_tags, RoleName=name)
        return LiveResource(rid, {
            "name": r["RoleName"], "arn": r["Arn"], "id": r["RoleId"], "path": r["Path"],
            "assume_role_policy": policy_doc(r["AssumeRolePolicyDocument"]),
            "description": r.get("Description", ""),
            "max_session_duration": r.get("MaxSessionDuration", 3600),
            "tags": from_tag_list(tags.get("Tags")),
        })

    def create(self, change: Change) -> LiveResource:
        p: RoleProps = self.parse(desired_of(change))
        kwargs: dict[str, Any] = {
            "RoleName": p.name, "Path": p.path, "Description": p.description,
            "AssumeRolePolicyDocument": json.dumps(p.assume_role_policy),
            "MaxSessionDuration": p.max_session_duration}
        if p.tags:
            kwargs["Tags"] = to_tag_list(p.tags)
        self.call(change.id, f"create role '{p.name}'", self.api.create_role, **kwargs)
        return self.reread(change.id, p.name)

    def update(self, change: Change) -> LiveResource:
        p: RoleProps = self.parse(desired_of(change))
        rid, api = change.id, self.api
        self.call(rid, "update trust policy", api.update_assume_role_policy, RoleName=p.name,
                  PolicyDocument=json.dumps(p.assume_role_policy))
        self.call(rid, "update role", api.update_role, RoleName=p.name,
                  Description=p.description, MaxSessionDuration=p.max_session_duration)
        self.replace_tags(change, p.tags, what="role", untag=api.untag_role, tag=api.tag_role,
                          RoleName=p.name)
        return self.reread(rid, p.name)

    def delete(self, prior: LiveResource) -> None:
        name = str(prior.attributes["name"])
        rid, api = prior.id, self.api
        if self.maybe(rid, "get role", api.get_role, RoleName=name) is None:
            return
        # A role with policies or profiles cannot be deleted; detach what is left.
        for arn in self._attached(rid, name):
            self.call(rid, "detach policy", api.detach_role_policy, RoleName=name, PolicyArn=arn)
        for pol in self.call(rid, "list inline policies", api.list_role_policies,
                             RoleName=name)["PolicyNames"]:
            self.call(rid, "delete inline policy", api.delete_role_policy, RoleName=name,
                      PolicyName=pol)
        profiles = self.call(rid, "list profiles", api.list_instance_profiles_for_role,
                             RoleName=name)["InstanceProfiles"]
        for prof in profiles:
            self.call(rid, "remove role from profile", api.remove_role_from_instance_profile,
                      InstanceProfileName=prof["InstanceProfileName"], RoleName=name)
        self.call(rid, f"delete role '{name}'", api.delete_role, RoleName=name)

    def _attached(self, rid: ResourceId, name: str) -> list[str]:
        out = self.call(rid, "list attached policies", self.api.list_attached_role_policies,
                        RoleName=name)
        return [p["PolicyArn"] for p in out["AttachedPolicies"]]


class RolePolicyHandler(KeyedHandler):
    """An inline policy embedded in a role."""

    service, keys = "iam", ("role", "name")
    spec = KindSpec(
        "iam.RolePolicy", RolePolicyProps, "an inline IAM policy on a role",
        replace_on=frozenset({"role", "name"}), import_id="role:policy-name",
        attributes={"id": "role:name"}, update_changes=frozenset(),
    )

    def _read(self, rid: ResourceId, role: str, name: str) -> LiveResource | None:
        out = self.maybe(rid, "get role policy", self.api.get_role_policy,
                         RoleName=role, PolicyName=name)
        if out is None:
            return None
        return LiveResource(rid, {"role": role, "name": name, "id": f"{role}:{name}",
                                  "policy": policy_doc(out["PolicyDocument"])})

    def create(self, change: Change) -> LiveResource:
        p: RolePolicyProps = self.parse(desired_of(change))
        self.call(change.id, f"put policy '{p.name}' on role '{p.role}'",
                  self.api.put_role_policy, RoleName=p.role, PolicyName=p.name,
                  PolicyDocument=json.dumps(p.policy))
        return LiveResource(change.id, {"role": p.role, "name": p.name,
                                        "id": f"{p.role}:{p.name}", "policy": p.policy})

    def update(self, change: Change) -> LiveResource:
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        a = prior.attributes
        self.maybe(prior.id, "delete role policy", self.api.delete_role_policy,
                   RoleName=a["role"], PolicyName=a["name"])


class AttachmentHandler(KeyedHandler):
    """A managed policy attached to a role."""

    service, keys = "iam", ("role", "policy_arn")
    spec = KindSpec(
        "iam.PolicyAttachment", AttachmentProps, "a managed IAM policy attached to a role",
        replace_on=frozenset({"role", "policy_arn"}), import_id="role:policy-arn",
        attributes={"id": "role:policy_arn"}, update_changes=frozenset(),
    )

    def _read(self, rid: ResourceId, role: str, arn: str) -> LiveResource | None:
        out = self.maybe(rid, "list attached policies", self.api.list_attached_role_policies,
                         RoleName=role)
        if out is None or arn not in {p["PolicyArn"] for p in out["AttachedPolicies"]}:
            return None
        return LiveResource(rid, {"role": role, "policy_arn": arn, "id": f"{role}:{arn}"})

    def create(self, change: Change) -> LiveResource:
        p: AttachmentProps = self.parse(desired_of(change))
        self.call(change.id, f"attach {p.policy_arn} to role '{p.role}'",
                  self.api.attach_role_policy, RoleName=p.role, PolicyArn=p.policy_arn)
        return LiveResource(change.id, {"role": p.role, "policy_arn": p.policy_arn,
                                        "id": f"{p.role}:{p.policy_arn}"})

    def delete(self, prior: LiveResource) -> None:
        a = prior.attributes
        self.maybe(prior.id, "detach policy", self.api.detach_role_policy,
                   RoleName=a["role"], PolicyArn=a["policy_arn"])


class ProfileHandler(KeyedHandler):
    """An instance profile carrying (at most) one role to EC2 instances."""

    service, noun = "iam", "instance profile"
    spec = KindSpec(
        "iam.InstanceProfile", ProfileProps, "an IAM instance profile",
        replace_on=frozenset({"name", "path"}), import_id="the profile name",
        attributes={"name": "profile name", "arn": "profile ARN", "id": "profile id"},
        update_changes=frozenset(),
    )

    def _read(self, rid: ResourceId, name: str) -> LiveResource | None:
        out = self.maybe(rid, "get instance profile", self.api.get_instance_profile,
                         InstanceProfileName=name)
        if out is None:
            return None
        p = out["InstanceProfile"]
        roles = [r["RoleName"] for r in p.get("Roles", [])]
        return LiveResource(rid, {"name": name, "arn": p["Arn"], "id": p["InstanceProfileId"],
                                  "path": p["Path"], "role": roles[0] if roles else None})

    def create(self, change: Change) -> LiveResource:
        p: ProfileProps = self.parse(desired_of(change))
        self.call(change.id, f"create instance profile '{p.name}'",
                  self.api.create_instance_profile, InstanceProfileName=p.name, Path=p.path)
        return self._set_role(change.id, p, None)

    def update(self, change: Change) -> LiveResource:
        p: ProfileProps = self.parse(desired_of(change))
        old = change.prior.attributes.get("role") if change.prior else None
        return self._set_role(change.id, p, old)

    def _set_role(self, rid: ResourceId, p: ProfileProps, old: str | None) -> LiveResource:
        if old and old != p.role:
            self.maybe(rid, "remove role", self.api.remove_role_from_instance_profile,
                       InstanceProfileName=p.name, RoleName=old)
        if p.role and p.role != old:
            self.call(rid, f"add role '{p.role}'", self.api.add_role_to_instance_profile,
                      InstanceProfileName=p.name, RoleName=p.role)
        return self.reread(rid, p.name)

    def delete(self, prior: LiveResource) -> None:
        name = str(prior.attributes["name"])
        out = self.maybe(prior.id, "get instance profile", self.api.get_instance_profile,
                         InstanceProfileName=name)
        if out is None:
            return
        for role in out["InstanceProfile"].get("Roles", []):
            self.call(prior.id, "remove role", self.api.remove_role_from_instance_profile,
                      InstanceProfileName=name, RoleName=role["RoleName"])
        self.call(prior.id, f"delete instance profile '{name}'",
                  self.api.delete_instance_profile, InstanceProfileName=name)


def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"iam.Role": RoleHandler(aws), "iam.RolePolicy": RolePolicyHandler(aws),
            "iam.PolicyAttachment": AttachmentHandler(aws),
            "iam.InstanceProfile": ProfileHandler(aws)}
