"""Run driftless's setters over Flux's own setter fixtures, kept outside the project.

    python tests/images/check_flux_fixtures.py \\
        <image-automation-controller>/internal/update/testdata/setters

Copies ``original/`` to a temporary directory, sets the markers with the
policies Flux's test uses, and compares the result with ``expected/`` byte
for byte: the changed files must be exactly those in ``expected/``. Exits 1
on any difference. Not collected by pytest (the fixtures are not ours).
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
from pathlib import Path

from driftless.images.setters import LatestImage, update_tree

DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"
POLICIES = {
    "automation-ns:policy": LatestImage("index.repo.fake/updated", "v1.0.1"),
    "automation-ns:unchanged": LatestImage("image", "v1.0.0"),
    "automation-ns:policy-with-digest": LatestImage("image", "v1.0.0", DIGEST),
}


def main(fixtures: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "work"
        shutil.copytree(fixtures / "original", work, symlinks=True)
        changed = {c.file for c in update_tree(work, POLICIES)}
        expected = {p.relative_to(fixtures / "expected").as_posix()
                    for p in (fixtures / "expected").rglob("*") if p.is_file()}
        ok = changed == expected
        print(f"changed: {sorted(changed)}; expected: {sorted(expected)}")
        for name in sorted(expected):
            want, got = (fixtures / "expected" / name).read_text(), (work / name).read_text()
            print(f"{name}: {'same' if want == got else 'DIFFERENT'}")
            if want != got:
                ok = False
                sys.stdout.writelines(difflib.unified_diff(want.splitlines(True),
                                                           got.splitlines(True)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
