"""Regenerate the property tables in provider docs from the kinds' pydantic schemas.

A doc marks each generated block with
``<!-- generated: PROVIDER:KIND -->`` ... ``<!-- end generated -->``; this
script replaces every such block with the kind's description, property
table and attribute table. Hand-written text around the blocks is kept.

    .venv/bin/python scripts/gen_provider_docs.py docs/providers/local.md
    .venv/bin/python scripts/gen_provider_docs.py --check docs/providers/local.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from driftless.providers.base import KindSpec
from driftless.providers.registry import load_provider

BLOCK = re.compile(r"(<!-- generated: (?P<provider>[a-z0-9_-]+):(?P<kind>[A-Za-z0-9_.]+) -->\n)"
                   r".*?(?P<end><!-- end generated -->)", re.S)


def _type(info: dict[str, Any]) -> str:
    if "anyOf" in info:
        return " or ".join(_type(i) for i in info["anyOf"] if i.get("type") != "null")
    kind = str(info.get("type", "any"))
    if kind == "array":
        return f"list of {_type(info.get('items', {}))}"
    if kind == "object":
        return "map"
    return {"string": "string", "integer": "int", "number": "number",
            "boolean": "bool"}.get(kind, kind)


def _default(name: str, info: dict[str, Any], required: set[str]) -> str:
    if name in required:
        return "**required**"
    if "default" not in info or info["default"] is None:
        return "—"
    return f"`{json.dumps(info['default'])}`"


def kind_markdown(spec: KindSpec) -> str:
    """Description, properties and attributes of one kind, as Markdown."""
    schema = spec.model().model_json_schema()
    required = set(schema.get("required", ()))
    lines = [spec.description, "", "| property | type | default | description |",
             "|---|---|---|---|"]
    for name, info in schema.get("properties", {}).items():
        note = info.get("description", "")
        if name in spec.replace_on:
            note += " (changing it replaces the resource)"
        lines.append(f"| `{name}` | {_type(info)} | {_default(name, info, required)} | "
                     f"{note} |")
    if spec.attributes:
        lines += ["", "| attribute | meaning |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in spec.attributes.items()]
    if spec.import_id:
        lines += ["", f"Import ID: {spec.import_id}."]
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    """The doc with every generated block rebuilt."""
    providers: dict[str, Any] = {}

    def block(m: re.Match[str]) -> str:
        name = m.group("provider")
        provider = providers.setdefault(name, load_provider(name))
        spec = provider.kinds().get(m.group("kind"))
        if spec is None:
            raise SystemExit(f"error: provider '{name}' has no kind '{m.group('kind')}'")
        return m.group(1) + kind_markdown(spec) + m.group("end")

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the given docs, or with --check fail when one is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("docs", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if a doc is out of date")
    args = parser.parse_args(argv)
    stale = []
    for doc in args.docs:
        old = doc.read_text(encoding="utf-8")
        new = regenerate(old)
        if new != old:
            stale.append(str(doc))
            if not args.check:
                doc.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run scripts/gen_provider_docs.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
