"""Health checks (HTTP, TCP, command) judged with a grace period and thresholds.

Providers use these to tell a started process from a working one; the
ordering of Health codes itself is pure data in ``driftless.model.health``.
"""

from driftless.health.checks import Alive, HealthCheck, assess, wait_healthy
from driftless.health.ports import PortOwnerProbe, local_port, url_port
from driftless.health.probes import CommandProbe, HttpProbe, Probe, ProbeResult, TcpProbe

__all__ = [
    "Alive",
    "CommandProbe",
    "HealthCheck",
    "HttpProbe",
    "PortOwnerProbe",
    "Probe",
    "ProbeResult",
    "TcpProbe",
    "assess",
    "local_port",
    "url_port",
    "wait_healthy",
]
