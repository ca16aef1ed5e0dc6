"""Planning: desired resources x state x live reads -> Plan."""

from driftless.plan.adopt import adopt_unmanaged, import_command, import_id_of
from driftless.plan.planner import PlanOptions, in_chunks, is_cheap, plan_stack, read_resources
from driftless.plan.validate import all_dependencies, check_stack

__all__ = [
    "PlanOptions",
    "adopt_unmanaged",
    "all_dependencies",
    "check_stack",
    "import_command",
    "import_id_of",
    "in_chunks",
    "is_cheap",
    "plan_stack",
    "read_resources",
]
