"""Planning: desired resources x state x live reads -> Plan."""

from driftless.plan.planner import PlanOptions, in_chunks, is_cheap, plan_stack, read_resources
from driftless.plan.validate import all_dependencies, check_stack

__all__ = [
    "PlanOptions",
    "all_dependencies",
    "check_stack",
    "in_chunks",
    "is_cheap",
    "plan_stack",
    "read_resources",
]
