"""One boto3 session per provider, shared clients, and AWS errors as ProviderError.

I/O: builds boto3 clients (network calls happen in the kind modules) and, when
``assume_role`` is set, calls STS once to get temporary credentials.
Credentials come from the standard chain (env, profile, instance role) and
are never copied into attributes, state, messages or logs.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ConfigError, ProviderError
from driftless.model import ResourceId

__all__ = ["AssumeRole", "AwsClients", "AwsConfig", "aws_error", "call", "is_not_found"]

T = TypeVar("T")

# Codes worth another attempt: the service is busy, not the request wrong.
RETRYABLE = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "ServiceUnavailable", "InternalError", "InternalFailure", "RequestTimeout", "SlowDown",
    "ProvisionedThroughputExceededException", "RequestThrottled", "PriorRequestNotComplete",
})

_HINTS = {
    "InvalidClientTokenId": "check the AWS credentials (AWS_ACCESS_KEY_ID / profile)",
    "UnrecognizedClientException": "check the AWS credentials (AWS_ACCESS_KEY_ID / profile)",
    "SignatureDoesNotMatch": "check the AWS secret key of the configured credentials",
    "AuthFailure": "check the AWS credentials (AWS_ACCESS_KEY_ID / profile)",
    "InvalidAccessKeyId": "check the AWS credentials (AWS_ACCESS_KEY_ID / profile)",
    "ExpiredToken": "refresh the session credentials (aws sso login, or a new token)",
    "AccessDenied": "grant the missing permission to the identity driftless runs as",
    "AccessDeniedException": "grant the missing permission to the identity driftless runs as",
    "UnauthorizedOperation": "grant the missing permission to the identity driftless runs as",
    "BucketAlreadyExists": "bucket names are global across all AWS accounts: choose another "
                           "name (a random suffix helps)",
    "InvalidParameterValue": "fix the property value in the stack file",
    "NoCredentials": "set AWS credentials (environment, profile, or instance role)",
}

_BARE_STATUS = {"403": "AccessDenied", "400": "BadRequest", "301": "PermanentRedirect"}
_NOT_FOUND = ("NotFound", "NoSuch", "404", "Malformed")


class AssumeRole(BaseModel):
    """``assume_role:`` in the provider config."""

    model_config = ConfigDict(extra="forbid")
    role_arn: str
    session_name: str = "driftless"
    external_id: str | None = None


class AwsConfig(BaseModel):
    """``providers: aws: {...}`` in driftless.yaml."""

    model_config = ConfigDict(extra="forbid")
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    assume_role: AssumeRole | None = None
    max_workers: int = Field(default=16, ge=1, le=256)
    max_attempts: int = Field(default=8, ge=1, le=20)


class AwsClients:
    """Clients for one provider, created once per service and shared by threads.

    boto3 clients are thread-safe but sessions are not, so client creation
    happens under a lock and each client is kept for the provider's life.
    """

    def __init__(self, config: AwsConfig | None = None) -> None:
        self.config = config or AwsConfig()
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The shared client for ``service`` (``s3``, ``ec2``, ...)."""
        found = self._clients.get(service)
        if found is not None:
            return found
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    @property
    def region(self) -> str:
        """The region the clients talk to."""
        return str(self.client("sts").meta.region_name)

    def _botocore_config(self) -> Config:
        return Config(
            retries={"mode": "adaptive", "max_attempts": self.config.max_attempts},
            max_pool_connections=max(10, self.config.max_workers),
            s3={"addressing_style": "path"},
        )

    def _new_client(self, service: str) -> Any:
        session: Any = self._get_session()
        try:
            return session.client(service, endpoint_url=self.config.endpoint_url,
                                  config=self._botocore_config())
        except NoRegionError:
            raise ConfigError(
                "aws provider: no region configured",
                hint="set providers.aws.region in driftless.yaml or AWS_DEFAULT_REGION",
            ) from None

    def _get_session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = self._base_session()
            if self.config.assume_role is not None:
                self._session = self._assumed(self._session, self.config.assume_role)
        return self._session

    def _base_session(self) -> boto3.session.Session:
        try:
            return boto3.session.Session(profile_name=self.config.profile,
                                         region_name=self.config.region)
        except ProfileNotFound:
            raise ConfigError(
                f"aws provider: profile '{self.config.profile}' not found",
                hint="check ~/.aws/config or providers.aws.profile in driftless.yaml",
            ) from None

    def _assumed(self, base: boto3.session.Session, role: AssumeRole) -> boto3.session.Session:
        sts = base.client("sts", endpoint_url=self.config.endpoint_url,
                          config=self._botocore_config())
        kwargs: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
        if role.external_id:
            kwargs["ExternalId"] = role.external_id
        creds = call(None, f"assume role {role.role_arn}", sts.assume_role, **kwargs)
        c = creds["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"], region_name=base.region_name,
        )

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``AccessDenied``, ``NoSuchBucket``...)."""
    err: Mapping[str, Any] = exc.response.get("Error", {})
    code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    # HEAD requests carry no body, so S3 answers them with a bare status.
    return _BARE_STATUS.get(code, code)


def is_not_found(exc: ClientError) -> bool:
    """Whether the error says the object does not exist."""
    code = error_code(exc)
    return any(marker in code for marker in _NOT_FOUND) or code in ("NoSuchEntity",)


def aws_error(rid: ResourceId | None, what: str, exc: Exception) -> ProviderError:
    """A ProviderError naming the resource, what was attempted and the AWS code."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        msg = str(exc.response.get("Error", {}).get("Message") or "").strip().rstrip(".")
    elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
        code, msg = "NoCredentials", "no AWS credentials found"
    else:
        code, msg = type(exc).__name__, str(exc)
    text = f"{what} failed: {msg[:1].lower() + msg[1:] if msg else code} ({code})"
    return ProviderError(text, resource=rid, code=code, retryable=code in RETRYABLE,
                         hint=_HINTS.get(code))


def call(rid: ResourceId | None, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(**kwargs)``; throttling retried with jittered backoff, errors translated.

    botocore's adaptive mode retries too; this outer loop covers codes it
    does not treat as throttling (``PriorRequestNotComplete``, ``SlowDown``).
    """
    for attempt in range(4):
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if error_code(exc) not in RETRYABLE or attempt == 3:
                raise aws_error(rid, what, exc) from None
        except (BotoCoreError, NoCredentialsError) as exc:
            raise aws_error(rid, what, exc) from None
        time.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
