"""Report ids: only what a URL path carries unescaped; a list rendered as text read back as the list."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.report_ids import normalize_report_ids, validate_report_id

UUID = "a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10"


@pytest.mark.parametrize("good", [UUID, UUID.upper(), "report_1.v2~x", "a" * 128])
def test_unreserved_ascii_ids_pass_unchanged(good):
    assert validate_report_id(good) == good


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("a..b", "'..'"),
        (".", "'..'"),
        ("a\u2024b", "U+2024 ONE DOT LEADER"),
        ("a\u00a0b", "U+00A0 NO-BREAK SPACE"),
        ("a\tb", "U+0009"),
        ("a%2Fb", "'%'"),
        ("a'b", '"\'"'),
    ],
)
def test_anything_else_is_refused_naming_the_character_and_the_rule(bad, named):
    with pytest.raises(ValueError, match="the characters a URL path carries unescaped") as caught:
        validate_report_id(bad)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [f"['{UUID}', 'b-2']", f'["{UUID}", "b-2"]', f"('{UUID}', 'b-2')", f"  ['{UUID}', 'b-2']\n"],
)
def test_a_list_rendered_as_text_is_read_as_that_list(text):
    assert normalize_report_ids(text) == ([UUID, "b-2"], False)


def test_the_ids_of_a_list_text_are_checked_like_any_other():
    with pytest.raises(ValueError, match="'a/b'"):
        normalize_report_ids("['ok', 'a/b']")
    with pytest.raises(ValueError, match="more than once"):
        normalize_report_ids("['a', 'a']")
    with pytest.raises(ValueError, match="empty list"):
        normalize_report_ids("[]")


@pytest.mark.parametrize("text", ["[__import__('os')]", "['a'] + ['b']", "[" + "'a', " * 20000 + "]"])
def test_a_list_text_is_read_as_literals_only_and_within_bounds(text):
    with pytest.raises(ValueError, match="render_template_as_native_obj=True"):
        normalize_report_ids(text)


def test_one_id_that_merely_looks_like_a_list_is_refused_with_the_same_hint():
    with pytest.raises(ValueError, match="render_template_as_native_obj=True"):
        validate_report_id("['a']")
