"""Following ``nextLink``: on the API's own host only, never round in circles. Pure: no I/O.

A listing that loops must fail loudly: returning the records read so far would
pass a partial listing off as whole, and following on would return duplicates
or never end. A loop shows in three ways, each caught here:

- a link to a page already read, perhaps spelled differently (host or path in
  another case, a default port, parameters in another order or case, escapes);
- a later page linking back to an earlier one;
- records that already came on an earlier page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urljoin, urlsplit

from airflow_provider_pcinsights.exceptions import PagingLoopError, UnexpectedResponseError
from airflow_provider_pcinsights.hooks._answers import RECORD_KINDS
from airflow_provider_pcinsights.hooks._errors import redact

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def with_query(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` added to its query, as the request will carry it."""
    if not params:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(list(params.items()))}"


def same_page_key(url: str) -> str:
    """One spelling for every URL that names the same page of this API.

    Scheme and host are case-insensitive and the default port implied; ASP.NET
    routes and query parameter names are case-insensitive, escapes mean what
    they escape, and the order of parameters carries nothing. Parameter values
    (continuation tokens) stay case-sensitive.
    """
    parts = urlsplit(url)
    scheme, host, port = _origin(parts)
    path = unquote(parts.path).lower().rstrip("/")
    query = sorted((name.lower(), value) for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return f"{scheme}://{host}:{port}{path}?{urlencode(query)}"


class Pages:
    """The pages of one listing read so far, and what they held.

    :param base_url: the API root; every page must be on its scheme and host.
    :param action: what is being listed, for messages ("list reports").
    :param max_pages: how many pages one listing may take before it is refused as a runaway.
    :param record: the record kind (``"report"``, ``"execution"``) whose id tells records apart;
        ``None`` compares whole records.
    """

    def __init__(
        self,
        base_url: str,
        *,
        action: str,
        max_pages: int,
        record: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self._base_url = base_url
        self._action = action
        self._max_pages = max_pages
        self._id_field = RECORD_KINDS[record][0] if record else None
        self._secrets = tuple(secrets)
        self._page_of_url: dict[str, int] = {}
        self._page_of_record: dict[str, int] = {}
        self.read = 0

    def add(self, url: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Count a page read from ``url`` (its query included); raise if its records came before."""
        self.read += 1
        self._page_of_url.setdefault(same_page_key(url), self.read)
        keys: dict[str, Mapping[str, Any]] = {}
        for record in records:
            key = self._record_key(record)
            if key in keys and key.startswith("id:"):  # two records named alike: which one is true?
                raise PagingLoopError(
                    f"Could not {self._action}: page {self.read} holds {self._name(record)} twice; "
                    "the listing cannot be trusted"
                )
            keys[key] = record
        for key, record in keys.items():
            earlier = self._page_of_record.get(key)
            if earlier is not None:
                raise PagingLoopError(
                    f"Could not {self._action}: page {self.read} repeats {self._name(record)} from page "
                    f"{earlier}; the service's paging is looping, so the listing cannot be trusted"
                )
        for key in keys:
            self._page_of_record[key] = self.read

    def next_url(self, current_url: str, next_link: str | None) -> str | None:
        """The URL of the next page, or ``None`` at the end; raise on another host, a loop or a runaway."""
        if not next_link:
            return None
        base = self._base_url
        # Absolute links stand alone; a relative one is read against the API root, where
        # the service's paths live, unless it is clearly relative to the host or the page.
        anchor = current_url if next_link.startswith(("/", "?")) else base
        resolved = urljoin(anchor, next_link)
        target, origin = urlsplit(resolved), urlsplit(base)
        if _origin(target) != _origin(origin):
            raise UnexpectedResponseError(
                f"Could not {self._action}: nextLink points to {target.scheme}://{target.netloc}, not to "
                f"{origin.scheme}://{origin.netloc}; refusing to send the access token to another host"
            )
        earlier = self._page_of_url.get(same_page_key(resolved))
        if earlier is not None:
            again = "the same page" if earlier == self.read else f"page {earlier}"
            raise PagingLoopError(
                f"Could not {self._action}: the nextLink of page {self.read} leads back to {again} "
                f"({redact(next_link, self._secrets)}); the service's paging is looping, so the listing "
                "cannot be trusted"
            )
        if self.read >= self._max_pages:
            raise UnexpectedResponseError(
                f"Could not {self._action}: the service kept returning nextLink after {self._max_pages} "
                "pages; refusing to follow more (raise max_pages if this listing is really that long)"
            )
        return resolved

    def _record_key(self, record: Mapping[str, Any]) -> str:
        if self._id_field and isinstance(record.get(self._id_field), str):
            return f"id:{record[self._id_field].casefold()}"
        return "record:" + json.dumps(record, sort_keys=True, default=str)

    def _name(self, record: Mapping[str, Any]) -> str:
        if self._id_field and isinstance(record.get(self._id_field), str):
            return f"{self._id_field} {redact(record[self._id_field], self._secrets)}"
        return "a record"
