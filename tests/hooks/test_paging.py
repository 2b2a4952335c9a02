"""``Pages``: nextLink followed on the API's host only, and every kind of loop refused. Pure, no server."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.exceptions import PagingLoopError, UnexpectedResponseError
from airflow_provider_pcinsights.hooks.answers import Pages, same_page_key, with_query

BASE = "https://api.example/insights/v1/mpn/"
FIRST = "https://api.example/insights/v1/mpn/ScheduledReport"


def _pages(max_pages: int = 10) -> Pages:
    return Pages(BASE, action="list reports", max_pages=max_pages, record="report")


@pytest.mark.parametrize(
    "spelling",
    [
        "https://API.EXAMPLE:443/insights/v1/mpn/scheduledreport?SkipToken=abc&reportName=x",
        "https://api.example/insights/v1/mpn/%53cheduledReport?reportname=x&skipToken=abc",
        "/insights/v1/mpn/ScheduledReport/?skiptoken=abc&REPORTNAME=x",
    ],
)
def test_the_same_page_spelled_differently_is_the_same_page(spelling):
    page = with_query(FIRST, {"reportName": "x", "skipToken": "abc"})
    assert same_page_key(spelling if spelling.startswith("https") else f"https://api.example{spelling}") == (
        same_page_key(page)
    )
    pages = _pages()
    pages.add(page, [{"ReportId": "a"}])
    with pytest.raises(PagingLoopError, match="leads back to the same page"):
        pages.next_url(page, spelling)


def test_continuation_tokens_stay_case_sensitive():
    assert same_page_key(f"{FIRST}?skipToken=abc") != same_page_key(f"{FIRST}?skipToken=ABC")


def test_a_later_page_linking_back_to_an_earlier_one_is_a_loop():
    pages = _pages()
    pages.add(FIRST, [{"ReportId": "a"}])
    second = pages.next_url(FIRST, f"{FIRST}?skipToken=2")
    pages.add(second, [{"ReportId": "b"}])
    third = pages.next_url(second, "ScheduledReport?skipToken=3")  # relative to the API root
    pages.add(third, [{"ReportId": "c"}])

    with pytest.raises(PagingLoopError, match="nextLink of page 3 leads back to page 1"):
        pages.next_url(third, FIRST)


def test_records_repeating_on_a_later_page_are_a_loop():
    pages = _pages()
    pages.add(FIRST, [{"ReportId": "a"}, {"ReportId": "B"}])
    with pytest.raises(PagingLoopError, match="page 2 repeats ReportId b from page 1"):
        pages.add(f"{FIRST}?skipToken=2", [{"ReportId": "c"}, {"ReportId": "b"}])


def test_one_id_twice_on_one_page_is_refused_rather_than_listed_twice():
    pages = _pages()
    with pytest.raises(PagingLoopError, match="page 1 holds ReportId A twice"):
        pages.add(
            FIRST, [{"ReportId": "a", "ReportStatus": "Active"}, {"ReportId": "A", "ReportStatus": "Paused"}]
        )


def test_records_without_an_id_repeat_when_they_are_the_same_record():
    pages = Pages(BASE, action="list queries", max_pages=10)
    pages.add(FIRST, [{"Name": "q1"}])
    pages.add(f"{FIRST}?skipToken=2", [{"Name": "q2"}])
    with pytest.raises(PagingLoopError, match="repeats a record"):
        pages.add(f"{FIRST}?skipToken=3", [{"Name": "q1"}])


def test_another_host_is_refused_and_the_end_is_none():
    pages = _pages()
    pages.add(FIRST, [])
    assert pages.next_url(FIRST, None) is None
    assert pages.next_url(FIRST, "") is None
    for elsewhere in ("https://evil.example.invalid/x", "http://api.example/x", "https://api.example:8443/x"):
        with pytest.raises(
            UnexpectedResponseError, match="refusing to send the access token to another host"
        ):
            pages.next_url(FIRST, elsewhere)


def test_a_runaway_listing_is_refused_after_max_pages():
    pages = _pages(max_pages=2)
    pages.add(FIRST, [{"ReportId": "a"}])
    second = pages.next_url(FIRST, "?skipToken=2")
    assert second == f"{FIRST}?skipToken=2"
    pages.add(second, [{"ReportId": "b"}])
    with pytest.raises(UnexpectedResponseError, match="after 2 pages"):
        pages.next_url(second, "?skipToken=3")
