"""State JSON: the encoders made once give exactly ``json``'s text, and its errors.

``sqlite_journal.dumps``/``encode`` skip ``JSONEncoder.encode``'s per-call
set-up; rows are compared as text, so the text must be byte for byte what
the plain encoder writes, and a value that is not JSON (a circular one
included) must still be a ``StateError`` naming the document. Pure, no I/O.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from driftless.errors import StateError
from driftless.state.sqlite_journal import dumps, encode

DOCS: list[Any] = [
    {"b": 1, "a": [1.5, -0.0, 10**30, None, True, False], "c": {"z": {}, "y": [], "t": (1, 2)}},
    {"text": "é\n\u2028\x00\"\\ \U0001f600", "n": -3, "f": 1e-7},
    {1: "int key", 2: "sorted"},
    "just a string", 7, 2.5, None, [], {},
]


@pytest.mark.parametrize("doc", DOCS)
def test_the_text_is_jsons_own(doc: Any) -> None:
    assert dumps(doc) == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert encode("doc", doc) == dumps(doc)
    assert encode("doc", doc, canonical=False) == json.dumps(doc, separators=(",", ":"))


class _Row(dict[str, Any]):
    """A dict subclass, as the journal's row documents are."""


def test_a_dict_subclass_encodes_as_a_dict() -> None:
    assert dumps(_Row(b=1, a=2)) == '{"a":2,"b":1}'


@pytest.mark.parametrize("bad", [{"k": object()}, {"k": b"bytes"}, {1: "a", "b": 2}])
def test_a_value_that_is_not_json_names_the_document(bad: Any) -> None:
    with pytest.raises(StateError, match=r"^journal entry 3: a value cannot be stored"):
        encode("journal entry 3", bad)


def test_a_circular_document_is_named_as_circular() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(StateError, match="Circular reference"):
        encode("row", {"attributes": loop})


def test_threads_share_the_encoder() -> None:
    """No table of seen containers is shared: the same document from many threads
    at once is never taken for a circular one."""
    shared = {"lock": {"id": "x", "pid": 1}}
    docs = [{"n": i, "shared": shared} for i in range(2000)]
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for doc in docs:
                assert encode("d", doc, canonical=False) == json.dumps(doc, separators=(",", ":"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
