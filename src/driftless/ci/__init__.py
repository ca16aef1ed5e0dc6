"""Delivery through CI: change detection, plans as markdown for pull requests,
generated workflows, reviewed plans kept in git (see docs/operations/delivery.md)."""
