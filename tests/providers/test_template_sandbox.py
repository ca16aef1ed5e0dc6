"""local:template renders untrusted templates in a bounded sandbox.

Each escape payload tries to leave a marker file behind (through os.system,
popen or open for writing); the test asserts a clear error naming the
resource and that the marker does not exist. Resource-exhaustion payloads
must fail fast, naming the limit, instead of allocating or looping.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from driftless.errors import ProviderError
from driftless.model import Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider
from driftless.providers.local._sandbox import MAX_LOOP_STEPS, MAX_VALUE_CHARS, render_template

RID = ResourceId("local", "template", "app")
DRIFTLESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "driftless"

# Each payload is formatted with M, the marker file's path.
ESCAPES = [
    pytest.param("{{ cycler.__init__.__globals__.os.system('touch M') }}", "unsafe",
                 id="cycler-globals-os-system"),
    pytest.param("{{ joiner.__init__.__globals__.os.popen('touch M').read() }}", "unsafe",
                 id="joiner-globals-popen"),
    pytest.param("{{ lipsum.__globals__['os'].system('touch M') }}", "undefined",
                 id="lipsum-globals"),
    pytest.param("{{ self.__init__.__globals__.__builtins__.open('M', 'w').write('x') }}",
                 "unsafe", id="self-init-globals-open"),
    pytest.param("{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
                 "{% if c.__name__ == 'Popen' %}{{ c('touch M', shell=True) }}{% endif %}"
                 "{% endfor %}", "unsafe", id="str-mro-subclasses-popen"),
    pytest.param("{{ request.application.__globals__.__builtins__.__import__('os')"
                 ".system('touch M') }}", "undefined", id="request-global"),
    pytest.param("{{ config.__class__.__init__.__globals__['os'].system('touch M') }}",
                 "unsafe", id="config-global"),
    pytest.param("{{ ''|attr('__class__') }}M", "unsafe", id="attr-filter-dunder"),
    # the first unsafe step yields an undefined, so the chain fails on the next one
    pytest.param("{{ (cycler|attr('__init__')|attr('__globals__'))['os'].system('touch M') }}",
                 "either", id="attr-filter-chain"),
    pytest.param("{{ '%s'|format(cycler.__init__.__globals__.os.system('touch M')) }}",
                 "unsafe", id="format-filter-globals"),
    pytest.param("{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}M", "unsafe",
                 id="str-format-attribute"),
    pytest.param("{{ '{c.__init__.__globals__[os]}'.format_map({'c': cycler}) }}M", "unsafe",
                 id="str-format-map-attribute"),
    pytest.param("{% set x = vars_list.append('M') %}{{ vars_list }}", "unsafe",
                 id="list-append-mutation"),
    pytest.param("{% set _ = vars_map.update({'M': 1}) %}", "unsafe",
                 id="dict-update-mutation"),
]

LIMITS = [
    pytest.param("{{ range(10**9)|list|length }}", "range limit", id="range-over-max-range"),
    pytest.param("{{ 'a' * 10**10 }}", "4 MiB", id="string-times-huge"),
    pytest.param("{{ [0] * 10**10 }}", "4 MiB", id="list-times-huge"),
    pytest.param("{{ 10**10 * 'a' }}", "4 MiB", id="huge-times-string"),
    pytest.param("{{ 2 ** (10**10) }}", "4 MiB", id="power-huge"),
    pytest.param("{% set a = 'a' * 3000000 %}{{ a + a }}", "4 MiB", id="plus-doubling"),
    pytest.param("{% set a = 'a' * 3000000 %}{{ 'x' ~ a ~ a }}", "4 MiB", id="tilde-doubling"),
    pytest.param("{{ '%10000000000d' % 1 }}", "4 MiB", id="percent-width"),
    pytest.param("{{ '%10000000000d'|format(1) }}", "4 MiB", id="format-filter-width"),
    pytest.param("{{ '{:>10000000000}'.format(1) }}", "4 MiB", id="str-format-width"),
    pytest.param("{{ 'a'.center(10**10) }}", "4 MiB", id="str-center"),
    pytest.param("{{ 'a'|center(10**10) }}", "4 MiB", id="center-filter"),
    pytest.param("{{ 'a'|indent(10**10, true) }}", "4 MiB", id="indent-filter"),
    pytest.param("{{ ('a' * 4000000)|replace('a', 'bb') }}", "4 MiB", id="replace-filter"),
    pytest.param("{{ ('a' * 4000000).replace('a', 'bb') }}", "4 MiB", id="str-replace"),
    pytest.param("{{ ('a' * 4000000).join(['x', 'y']) }}", "4 MiB", id="str-join"),
    pytest.param("{{ (1).to_bytes(10**9, 'big') }}", "4 MiB", id="int-to-bytes"),
    pytest.param("{{ [1]|batch(10**10, 0)|list }}", "4 MiB", id="batch-fill"),
    pytest.param("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                 "{% endfor %}", "loop step limit", id="nested-empty-loops"),
    pytest.param("{% macro m() %}{% for i in range(100000) %}{{ 'x' * 4000 }}{% endfor %}"
                 "{% endmacro %}{% set y = m() %}", "output limit", id="buffered-macro-output"),
    pytest.param("{% for i in range(100000) %}{{ 'x' * 4000 }}{% endfor %}", "output limit",
                 id="streamed-output"),
]


def _payload(template: str, marker: Path) -> str:
    return template.replace("M", str(marker))


@pytest.mark.parametrize(("payload", "kind"), ESCAPES)
def test_escape_payload_is_refused_and_runs_nothing(tmp_path: Path, payload: str,
                                                    kind: str) -> None:
    marker = tmp_path / "marker"
    text = _payload(payload, marker)
    with pytest.raises(ProviderError) as err:
        render_template(text, {"vars_list": [], "vars_map": {}}, rid=RID)
    message = str(err.value)
    assert message.startswith("local:template/app: template: ")
    expected = {"unsafe": ("unsafe template",), "undefined": ("undefined variable",),
                "either": ("unsafe template", "undefined variable")}[kind]
    assert any(e in message for e in expected), message
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "limit"), LIMITS)
def test_exhaustion_payload_fails_fast_naming_the_limit(payload: str, limit: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        render_template(payload, {}, rid=RID)
    assert time.monotonic() - started < 5
    assert "unsafe template" in str(err.value)
    assert limit in str(err.value)


def test_limits_are_the_documented_ones() -> None:
    assert MAX_VALUE_CHARS == 4 * 1024 * 1024
    assert MAX_LOOP_STEPS == 1_000_000


def test_ordinary_templates_still_render() -> None:
    text = ("{% for k, v in conf|dictsort %}{{ k }}={{ v }}\n{% endfor %}"
            "{{ hosts|join(',') }} {{ 'ab'|upper ~ 'c' }} {{ 3 * 'x' }}"
            " {{ '%s-%d'|format('a', 3) }}"
            " {{ '{}:{}'.format(host, port) }} {{ conf|tojson }}"
            "{% set ns = namespace(n=0) %}{% for h in hosts %}{% set ns.n = ns.n + 1 %}"
            "{% endfor %} {{ ns.n }} {{ range(3)|list }} {{ [1, 2]|sum }}\n")
    out = render_template(text, {"conf": {"a": 1, "b": "x"}, "hosts": ["h1", "h2"],
                                 "host": "db", "port": 5432}, rid=RID)
    assert out == ('a=1\nb=x\nh1,h2 ABc xxx a-3 db:5432 {"a": 1, "b": "x"} 2 [0, 1, 2] 3\n')


def test_python_errors_become_provider_errors() -> None:
    with pytest.raises(ProviderError, match=r"template error: ZeroDivisionError"):
        render_template("{{ 1 / 0 }}", {}, rid=RID)
    with pytest.raises(ProviderError, match=r"too deeply nested"):
        render_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}, rid=RID)


def test_errors_never_repeat_a_secret(tmp_path: Path) -> None:
    p, out = LocalProvider(), tmp_path / "out"
    out.write_text("old\n")
    r = Resource(RID, {"path": str(out), "template": "{{ m[key] }}",
                       "vars": {"m": {}, "key": Sensitive("hunter2-token")}})
    with pytest.raises(ProviderError) as err:
        p.diff(r, p.read(r, None))
    assert "hunter2" not in str(err.value)
    assert "(sensitive)" in str(err.value)


def test_source_template_is_sandboxed_too(tmp_path: Path) -> None:
    marker, src = tmp_path / "marker", tmp_path / "evil.j2"
    src.write_text(_payload("{{ cycler.__init__.__globals__.os.system('touch M') }}", marker))
    p, out = LocalProvider(), tmp_path / "out"
    out.write_text("old\n")
    r = Resource(RID, {"path": str(out), "source": str(src)})
    with pytest.raises(ProviderError, match=r"evil\.j2: unsafe template"):
        p.diff(r, p.read(r, None))
    assert not marker.exists()


def _project(root: Path, template: str, target: Path) -> Path:
    (root / "stacks" / "app").mkdir(parents=True)
    (root / "driftless.yaml").write_text(yaml.safe_dump(
        {"project": "sandbox", "stacks": ["stacks/app"]}, sort_keys=False))
    stack = {"resources": {"conf": {"type": "local:template", "properties": {
        "path": str(target), "template": template}}}}
    (root / "stacks" / "app" / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


@pytest.mark.parametrize("payload", [
    pytest.param("{{ cycler.__init__.__globals__.os.system('touch M') }}", id="os-system"),
    pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}M", id="subclasses"),
    pytest.param("{{ 'a' * 10**10 }}M", id="huge-string"),
])
def test_plan_through_the_cli_refuses_the_payload(tmp_path: Path, payload: str) -> None:
    marker, target = tmp_path / "marker", tmp_path / "target.conf"
    target.write_text("existing\n")
    root = _project(tmp_path / "proj", _payload(payload, marker), target)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run([str(DRIFTLESS), "-C", str(root), "plan"], capture_output=True,
                          text=True, env=env, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "local:template/conf" in output
    assert "unsafe template" in output
    assert "Traceback" not in output
    assert not marker.exists()
    assert target.read_text() == "existing\n"
