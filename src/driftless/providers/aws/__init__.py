"""The aws provider: S3, DynamoDB, IAM and EC2 resources through boto3.

Each service's kinds live in their own module (``s3``, ``s3_sync``,
``dynamodb``, ``iam``, ``ec2_sg``, ``ec2``, ``ec2_net``); data sources in ``lookups``.
This module assembles them around one shared ``AwsClients`` (one boto3
session, one client per service) so parallel reads share connection pools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ValidationError

from driftless.errors import ConfigError
from driftless.providers.aws import lookups
from driftless.providers.aws._base import AwsHandler
from driftless.providers.aws._client import AwsClients, AwsConfig
from driftless.providers.aws.dynamodb import handlers as dynamodb_handlers
from driftless.providers.aws.ec2 import handlers as ec2_handlers
from driftless.providers.aws.ec2_net import handlers as ec2_net_handlers
from driftless.providers.aws.ec2_sg import handlers as ec2_sg_handlers
from driftless.providers.aws.iam import handlers as iam_handlers
from driftless.providers.aws.s3 import handlers as s3_handlers
from driftless.providers.aws.s3_sync import handlers as s3_sync_handlers
from driftless.providers.base import KindProvider

__all__ = ["AwsProvider"]

_FACTORIES = (s3_handlers, s3_sync_handlers, dynamodb_handlers, iam_handlers, ec2_sg_handlers,
              ec2_handlers, ec2_net_handlers)


class AwsProvider(KindProvider):
    """AWS resources in one account and region (credentials from the standard chain)."""

    name: ClassVar[str] = "aws"

    def __init__(self) -> None:
        self.aws = AwsClients()
        handlers: dict[str, AwsHandler] = {}
        for factory in _FACTORIES:
            handlers.update(factory(self.aws))
        super().__init__(handlers)

    def configure(self, config: Mapping[str, Any]) -> None:
        """Validate ``providers.aws`` settings; clients are built on first use."""
        try:
            parsed = AwsConfig.model_validate(dict(config))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"providers.aws in driftless.yaml: {problems}",
                              hint="keys: region, profile, endpoint_url, assume_role, "
                                   "max_workers, max_attempts") from None
        super().configure(config)
        self.aws.close()
        self.aws.config = parsed

    @property
    def max_workers(self) -> int:
        """How many reads the engine may run at once against this provider."""
        return self.aws.config.max_workers

    def lookup(self, kind: str, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Data sources: ``ec2.instances``, ``ec2.ami``, ``sts.caller_identity``."""
        return lookups.lookup(self.aws, kind, query)

    def close(self) -> None:
        """Close the shared clients."""
        self.aws.close()
