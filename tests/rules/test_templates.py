"""Rule templates in the bounded sandbox: no template computes a large value or runs long,
with values from the call (known only at render time) as much as with constants."""

from __future__ import annotations

import time
from typing import Any

import pytest

from alerter.rules.sandbox import MAX_RANGE, RENDER_CHARS, render_bounded
from alerter.rules.templates import _ENV, compile_template

BIG = 500_000_000
CALL = {"agent_id": "ag-1", "big": BIG, "exponent": 10_000_000, "seven": 7, "x": "x"}


def rendered(source: str, **call: Any) -> tuple[str, float]:
    template = compile_template(source, 250, one_line=False)
    started = time.monotonic()
    text = template.render({"call": {**CALL, **call}, "count": 3})
    return text, time.monotonic() - started


@pytest.mark.parametrize(
    "source",
    [
        "{{ call.seven ** call.exponent }}",
        "{{ call.x * call.big }}",
        "{{ call.big * call.x }}",
        "{{ (call.x * 9000) + (call.x * 9000) }}",
        "{{ (call.x * 9000) ~ (call.x * 9000) }}",
        "{{ call.x|center(call.big) }}",
        "{{ call.x.center(call.big) }}",
        "{{ call.x.ljust(call.big) }}",
        "{{ (call.x * 9000).replace('x', call.x * 9000) }}",
        "{{ (call.x * 9000)|replace('x', call.x * 9000) }}",
        "{{ range(1000)|join(call.x * 9000) }}",
        "{{ ('%0' ~ call.big ~ 'd') % 1 }}",
        "{{ ('%0' ~ call.big ~ 'd')|format(1) }}",
        "{{ ('{:>' ~ call.big ~ '}').format(1) }}",
        "{{ range(call.big)|length }}",
        "{% set ns = namespace(s=call.x) %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
    ],
)
def test_a_template_cannot_compute_a_large_value(source: str) -> None:
    text, took = rendered(source)
    assert text == ""  # refused: the caller keeps its default title or summary
    assert took < 1, f"{source} took {took:.1f}s"


def test_ordinary_templates_render_as_before() -> None:
    text, _ = rendered(
        "{{ call.agent_id }}: {{ count * 2 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 'a' ~ 'b' }} "
        "{{ 'x'|center(5) }}|{{ ['a', 'b']|join(',') }} {{ '%03d' % 7 }} {{ '%.1f'|format(2) }} "
        "{{ 'a-b'|replace('-', '+') }} {{ '{:>4}'.format(1) }} {{ range(3)|list|length }}"
    )
    assert text == "ag-1: 6 1024 ababab ab   x  |a,b 007 2.0 a+b    1 3"


def test_rendering_stops_after_its_time_even_when_it_prints_nothing() -> None:
    loops = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}done"
    text, took = rendered(loops)
    assert text == "" and took < 1


def test_rendering_stops_at_its_length() -> None:
    template = _ENV.from_string("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}")
    assert len(render_bounded(template, {})) == RENDER_CHARS


def test_range_is_short() -> None:
    assert rendered(f"{{{{ range({MAX_RANGE})|length }}}}")[0] == str(MAX_RANGE)
    assert rendered(f"{{{{ range({MAX_RANGE + 1})|length }}}}")[0] == ""


def test_a_recursive_macro_renders_empty() -> None:
    assert rendered("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")[0] == ""
