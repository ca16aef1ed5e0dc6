"""The property tables in docs/providers are the kinds' schemas as they are now:
``scripts/gen_provider_docs.py --check`` passes for every provider doc (a schema
description changed without the doc regenerated fails here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs" / "providers").glob("*.md"))


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_generated_property_tables_match_the_schemas(doc: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_provider_docs.py"),
                          "--check", str(doc)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
