"""Which tags an image has, and when one was built: Docker Registry HTTP API v2 reads for version proposals.

``list_tags`` pages through ``GET /v2/<name>/tags/list?n=<N>`` by the ``Link`` header (a server may give fewer
than ``n``); ``release_date`` follows tag → index → the linux/amd64 manifest → config blob and reads its
``created``. Both use the image check's request layer (:class:`.image_registry.RegistryCalls`: anonymous token
flow, realm checks, same-origin redirects), are bounded (a page limit, a size cap per answer, tag-list bytes per
repository and per run, dates per run, one deadline per question) and never raise: an answer carries a named
problem instead. One :class:`ImageTags` serves one run: it keeps a token per repository and every answer, and
counts the requests it sent.

Not ``oras`` (oras-py) or another OCI client: none comes with Airflow, and for four kinds of GET one would bring a
dependency whose token flow asks whatever realm a registry names, whose reads have no size cap or overall
deadline and whose tag pagination has no page limit, each of which would have to be wrapped again. The checks
here are the image check's, already tested against a hostile registry.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_airbyte_connectors.clients.bounded_http import (
    DeadlineError,
    TooLargeError,
    call_by,
    describe_size,
    read_body,
)
from airflow_airbyte_connectors.clients.image_registry import (
    DEFAULT_TOKEN_HOSTS,
    DOCKER_HUB_URL,
    MANIFEST_ACCEPT,
    MAX_REDIRECTS,
    ProblemKind,
    RegistryCalls,
    RegistryProblem,
    challenge_params,
    parse_reference,
    registry_base_url,
    same_origin,
)
from airflow_airbyte_connectors.configs import DOCKER_TAG_RE
from airflow_airbyte_connectors.upgrades import plausible_build_time

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_PAGES = 100
# A page of 1,000 tags is about 30 KB, a manifest or index a few KB, an image config some 10 KB.
MAX_PAGE_BYTES = 2 * 1024 * 1024
# Tag-list bytes read per repository and per run. Parsed and compared, a byte of tags costs 10-40 bytes of memory,
# so these bound a run's memory whatever registries answer (633 definitions: at most about 210 MB, BENCHMARKS
# 7c). Real lists are far smaller: a connector with 1,000 releases lists some 10 KB; 633 connectors some 2 MB.
MAX_TAG_LIST_BYTES = 512 * 1024
MAX_RUN_TAG_BYTES = 8 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Docker Hub sends blob reads to its CDN; a blob read may follow a redirect to these hosts (content-addressed:
# the bytes are checked against the digest, and the token is not sent along).
DEFAULT_BLOB_HOSTS = ("production.cloudflare.docker.com",)
_INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
_DIGEST = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
_NEXT_LINK = re.compile(r'<([^<>]{1,4096})>\s*;\s*rel="?next"?', re.IGNORECASE)
_CREATED = re.compile(r"\A(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class TagList:
    """The tags of one repository, in the registry's order. ``problem`` set: the list is incomplete (``tags`` holds
    what was read before it; nothing when a byte bound was reached) and ``kind`` names the problem."""

    repository: str
    tags: tuple[str, ...]
    pages: int
    problem: str | None = None
    kind: ProblemKind | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ReleaseDate:
    """When ``repository:tag`` was built (its linux/amd64 config's ``created``, as a UTC day); None with a problem.
    Kind ``undated``: read, but ``created`` is implausible (before 2015 or in the future), so the date is unknown."""

    repository: str
    tag: str
    released: datetime.date | None
    problem: str | None = None
    kind: ProblemKind | None = None


class ImageTags:
    """One run's reads of image registries: one session, a token per repository, every answer cached.

    :param docker_hub_url: base URL for Docker Hub images (``settings.docker_hub_url()``).
    :param registry_urls: base URL per registry host; a host not listed is reached at ``https://<host>``.
    :param token_hosts: hosts whose token service a registry may send us to (besides its own host).
    :param blob_hosts: hosts a blob read may be redirected to (besides the registry's own host).
    :param timeout: seconds one question may take, all its requests together (a whole tag list, or one date).
    :param page_size: tags asked per page (``n``); a server may answer fewer.
    :param max_pages: pages read at most per tag list; a longer list ends with problem ``too_many_pages``.
    :param max_list_bytes: tag-list bytes read at most per repository; a larger list is not kept (``too_large``).
    :param max_run_bytes: tag-list bytes read at most by this object; past it, lists are not read (``over_budget``).
    :param max_dates: release dates read at most by this object (None: no cap); past it, a date is not read
        (``capped``).

    Safe to share between threads; two threads asking the same question wait for one answer.
    """

    def __init__(
        self,
        *,
        docker_hub_url: str = DOCKER_HUB_URL,
        registry_urls: Mapping[str, str] | None = None,
        token_hosts: Iterable[str] = DEFAULT_TOKEN_HOSTS,
        blob_hosts: Iterable[str] = DEFAULT_BLOB_HOSTS,
        timeout: float = 30.0,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_list_bytes: int = MAX_TAG_LIST_BYTES,
        max_run_bytes: int = MAX_RUN_TAG_BYTES,
        max_dates: int | None = None,
        session: requests.Session | None = None,
    ):
        self.docker_hub_url = docker_hub_url
        self.registry_urls = dict(registry_urls or {})
        self.blob_hosts = frozenset(host.strip().lower() for host in blob_hosts if host.strip())
        self.page_size = max(1, page_size)
        self.max_pages = max(1, max_pages)
        self.max_list_bytes = max_list_bytes
        self.max_run_bytes = max_run_bytes
        self._run_bytes = 0  # tag-list bytes read or reserved for a read in progress
        self.max_dates = max_dates
        self._dates_asked = 0
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._calls = RegistryCalls(session, timeout, token_hosts)
        self._authorization: dict[tuple[str, str], str] = {}  # (base URL, name) -> "Bearer ..."
        # A registry that challenged once names the same token service for its other repositories: their tokens
        # are asked for before the first request, which saves a refused request per repository.
        self._token_service: dict[str, str] = {}  # base URL -> 'Bearer realm="...",service="..."'
        self._answers: dict[tuple[str, ...], Any] = {}
        self._asking: dict[tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def timeout(self) -> float:
        return self._calls.timeout

    @property
    def requests_sent(self) -> dict[str, int]:
        """Requests sent so far by what was asked: ``tags``, ``manifest``, ``blob``, ``token``."""
        return self._calls.sent_so_far()

    def close(self) -> None:
        if self._own_session:
            self._calls.session.close()

    def __enter__(self) -> ImageTags:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- questions ---------------------------------------------------------------------------------

    def list_tags(self, repository: str) -> TagList:
        """Every tag of ``repository`` (a ``dockerRepository``), following the ``Link`` header page by page."""

        def ask() -> TagList:
            pages: list[list[str]] = []
            try:
                base, name = self._where(repository)
                self._bounded(lambda deadline: self._pages(base, name, deadline, pages))
            except RegistryProblem as problem:
                # Past a byte bound, what was read is dropped: it is unread all the same, and it is what is large.
                kept = () if problem.kind in ("too_large", "over_budget") else _joined(pages)
                return TagList(repository, kept, len(pages), str(problem), problem.kind)
            return TagList(repository, _joined(pages), len(pages))

        return self._once(("tags", repository), ask, lambda text: TagList(repository, (), 0, text, "failed"))

    def release_date(self, repository: str, tag: str) -> ReleaseDate:
        """The day ``repository:tag`` was built: its linux/amd64 image config's ``created``, in UTC."""

        def ask() -> ReleaseDate:
            try:
                if not DOCKER_TAG_RE.match(tag):
                    raise RegistryProblem(f"{tag!r} is not a Docker tag", "bad_name")
                base, name = self._where(repository)
                self._count_date()
                released = self._bounded(lambda deadline: self._date(base, name, tag, deadline))
            except RegistryProblem as problem:
                return ReleaseDate(repository, tag, None, str(problem), problem.kind)
            return ReleaseDate(repository, tag, released)

        failed = lambda text: ReleaseDate(repository, tag, None, text, "failed")  # noqa: E731 - a one-line default
        return self._once(("date", repository, tag), ask, failed)

    @property
    def dates_capped(self) -> bool:
        """A date was not read because ``max_dates`` were."""
        with self._lock:
            return self.max_dates is not None and self._dates_asked > self.max_dates

    def _count_date(self) -> None:
        with self._lock:
            self._dates_asked += 1
            if self.max_dates is not None and self._dates_asked > self.max_dates:
                raise RegistryProblem(
                    f"not read: this run's {self.max_dates} release-date reads are spent (max_release_date_reads)",
                    "capped",
                )

    # -- one question, once ------------------------------------------------------------------------

    def _once(self, key: tuple[str, ...], ask: Callable[[], T], failed: Callable[[str], T]) -> T:
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            asking = self._asking.setdefault(key, threading.Lock())
        with asking:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            try:
                answer = ask()
            except Exception as exc:  # a bug here must not stop a run: the answer names the failure
                log.warning("Image registry read %s failed", key, exc_info=True)
                answer = failed(f"read failed: {type(exc).__name__}")
            with self._lock:
                self._answers[key] = answer
                self._asking.pop(key, None)
            return answer

    def _where(self, repository: str) -> tuple[str, str]:
        try:
            reference = parse_reference(repository)
        except ValueError:
            raise RegistryProblem(f"{repository!r} is not a Docker image name", "bad_name") from None
        return registry_base_url(reference, self.docker_hub_url, self.registry_urls), reference.name

    def _bounded(self, work: Callable[[float], T]) -> T:
        """``work(deadline)`` by the deadline, even if a server trickles its headers (requests' timeouts are per
        read); late, the thread is left to end on its own."""
        deadline = time.monotonic() + self.timeout
        late = lambda: RegistryProblem(f"timed out after {self.timeout:g} s", "timed_out")  # noqa: E731
        return call_by(deadline, lambda: work(deadline), late)

    # -- tag lists ---------------------------------------------------------------------------------

    def _pages(self, base: str, name: str, deadline: float, pages: list[list[str]]) -> None:
        url = f"{base}/v2/{name}/tags/list?n={self.page_size}"
        listed = 0  # this repository's tag-list bytes
        while True:
            if len(pages) >= self.max_pages:
                read = sum(len(page) for page in pages)
                raise RegistryProblem(
                    f"more than {self.max_pages} pages of tags ({read} tags read), stopped", "too_many_pages"
                )
            response_headers, body = self._tag_page(base, name, url, deadline, listed)
            listed += len(body)
            pages.append(_page_tags(body))
            del body  # a page's bytes are not kept beside its tags
            link = _next_link(response_headers.get("Link", ""))
            if link is None:
                return
            url = _follow(url, link, name)

    def _tag_page(
        self, base: str, name: str, url: str, deadline: float, listed: int
    ) -> tuple[Mapping[str, str], bytes]:
        """One page, within the bytes left to this repository and to the run. The page's largest size is reserved
        from the run's budget while it is read, so threads reading at once cannot pass the budget together."""
        left_here = self.max_list_bytes - listed
        with self._lock:
            left_in_run = self.max_run_bytes - self._run_bytes
            reserved = min(MAX_PAGE_BYTES, left_here, left_in_run)
            if left_in_run <= 0:
                raise self._over_budget()
            self._run_bytes += reserved
        used = 0
        try:
            response_headers, body = self._get(base, name, url, deadline, "tags", reserved)
            used = len(body)
        except RegistryProblem as problem:
            if problem.kind != "too_large" or reserved >= MAX_PAGE_BYTES:
                raise
            used = reserved  # read up to the bound: spent
            if reserved < left_in_run:
                raise RegistryProblem(
                    f"tag list larger than {_size(self.max_list_bytes)} (the per-repository bound), not kept",
                    "too_large",
                ) from None
            raise self._over_budget() from None
        finally:
            with self._lock:
                self._run_bytes -= reserved - used
        return response_headers, body

    def _over_budget(self) -> RegistryProblem:
        return RegistryProblem(
            f"tag lists of this run reached {_size(self.max_run_bytes)} (the per-run bound), not read",
            "over_budget",
        )

    # -- release dates -----------------------------------------------------------------------------

    def _date(self, base: str, name: str, tag: str, deadline: float) -> datetime.date:
        headers, body = self._get(base, name, f"{base}/v2/{name}/manifests/{tag}", deadline, "manifest")
        manifest = _json_object(body, "manifest")
        media_type = str(manifest.get("mediaType") or headers.get("Content-Type", "")).split(";")[0].strip()
        if media_type in _INDEX_TYPES or isinstance(manifest.get("manifests"), list):
            chosen = _amd64_digest(manifest, tag)
            _, body = self._get(base, name, f"{base}/v2/{name}/manifests/{chosen}", deadline, "manifest", digest=chosen)
            manifest = _json_object(body, "manifest")
        config = manifest.get("config")
        digest = config.get("digest") if isinstance(config, Mapping) else None
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise RegistryProblem(f"manifest of {tag} names no sha256 config blob", "invalid_answer")
        blob = self._blob(base, name, digest, deadline)
        return _created_day(_json_object(blob, "image config").get("created"), tag)

    def _blob(self, base: str, name: str, digest: str, deadline: float) -> bytes:
        """A config blob, following a redirect to the registry's own host or one of ``blob_hosts`` (a CDN), without
        the token on another host; the bytes must match ``digest``."""
        registry_url = url = f"{base}/v2/{name}/blobs/{digest}"
        headers = self._headers((base, name), "application/json", url, deadline)
        challenged = False
        for _ in range(MAX_REDIRECTS + 2):
            response = self._calls.send_once("GET", url, deadline, what="blob", headers=headers, stream=True)
            at_registry = same_origin(registry_url, url)
            if response.status_code == 401 and not challenged and at_registry:
                challenged = True
                fresh = "Authorization" in headers
                authorization = self._authorize((base, name), response, name, url, deadline, fresh=fresh)
                headers = {**headers, "Authorization": authorization}
                continue
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECT_STATUS or not location:
                return _checked(self._read(response, deadline, MAX_CONFIG_BYTES, "image config"), digest)
            response.close()
            target = urljoin(url, location)
            there = urlsplit(target)
            to_host = (there.hostname or "").lower()
            if (
                "@" in there.netloc
                or there.scheme not in ("http", "https")
                or (urlsplit(url).scheme, there.scheme) == ("https", "http")
            ):
                raise RegistryProblem("registry redirected a blob read to an unusable address", "redirected")
            # The token goes only to the registry's origin (scheme, host and port), never to another port of it.
            if not same_origin(registry_url, target):
                if to_host not in self.blob_hosts:
                    same_host = to_host == (urlsplit(registry_url).hostname or "").lower()
                    shown = (there.netloc if same_host else to_host)[:100]
                    raise RegistryProblem(
                        f"registry redirected a blob read to another host ({shown}), not followed", "redirected"
                    )
                headers = {"Accept": "application/json"}  # the token is for the registry, not for a CDN
            url = target
        raise RegistryProblem("registry redirected too many times", "redirected")

    # -- requests ----------------------------------------------------------------------------------

    def _headers(self, key: tuple[str, str], accept: str, url: str, deadline: float) -> dict[str, str]:
        headers = {"Accept": accept}
        with self._lock:
            authorization = self._authorization.get(key)
            service = self._token_service.get(key[0])
        if authorization is None and service is not None:
            authorization = f"Bearer {self._calls.token(service, url, key[1], deadline)}"
            with self._lock:
                self._authorization[key] = authorization
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def _get(
        self,
        base: str,
        name: str,
        url: str,
        deadline: float,
        what: str,
        limit: int = MAX_MANIFEST_BYTES,
        *,
        digest: str | None = None,
    ) -> tuple[Mapping[str, str], bytes]:
        """GET with this repository's token (asked for on a challenge, once more if refused); the whole body within
        ``limit`` and the deadline. ``digest``: the body must have it."""
        key = (base, name)
        accept = MANIFEST_ACCEPT if what == "manifest" else "application/json"
        headers = self._headers(key, accept, url, deadline)
        response = self._calls.send("GET", url, deadline, what=what, headers=headers, stream=True)
        if response.status_code == 401:
            response = self._challenged(response, key, name, url, deadline, what, headers)
        body = self._read(response, deadline, limit, what)
        return response.headers, _checked(body, digest) if digest else body

    def _challenged(
        self,
        response: requests.Response,
        key: tuple[str, str],
        name: str,
        url: str,
        deadline: float,
        what: str,
        sent: Mapping[str, str],
    ) -> requests.Response:
        """The request once more with a token from the challenge (a fresh one if the token sent was refused)."""
        authorization = self._authorize(key, response, name, url, deadline, fresh="Authorization" in sent)
        headers = {**sent, "Authorization": authorization}
        return self._calls.send("GET", url, deadline, what=what, headers=headers, stream=True)

    def _authorize(
        self, key: tuple[str, str], response: requests.Response, name: str, url: str, deadline: float, *, fresh: bool
    ) -> str:
        """A Bearer token for a 401 ``response``'s challenge, kept for the repository's next requests."""
        challenge = response.headers.get("WWW-Authenticate", "")
        response.close()
        authorization = f"Bearer {self._calls.token(challenge, url, name, deadline, fresh=fresh)}"
        params = challenge_params(challenge.strip().partition(" ")[2])
        service = f'Bearer realm="{params["realm"]}",service="{params.get("service", "")}"'
        with self._lock:
            self._authorization[key] = authorization
            self._token_service[key[0]] = service
        return authorization

    def _read(self, response: requests.Response, deadline: float, limit: int, what: str) -> bytes:
        with response:
            status = response.status_code
            if status != 200:
                raise _status_problem(status, what)
            late = lambda: DeadlineError(what)  # noqa: E731
            try:
                return read_body(response, deadline=deadline, limit=limit, late=late, truncate=False)
            except TooLargeError:
                raise RegistryProblem(f"{what} answer larger than {limit // 1024} KB, not read", "too_large") from None
            except requests.Timeout:
                raise RegistryProblem(f"timed out after {self.timeout:g} s", "timed_out") from None
            except requests.RequestException:
                raise RegistryProblem(f"{what} answer broken off", "unreachable") from None


def _status_problem(status: int, what: str) -> RegistryProblem:
    if status == 404:
        missing = {"tags": "repository", "manifest": "tag or manifest"}.get(what, what)
        return RegistryProblem(f"no such {missing} in the registry (HTTP 404)", "not_found")
    if status in (401, 403):
        return RegistryProblem(
            f"registry refused anonymous access (HTTP {status}): private image, or no such repository?", "refused"
        )
    if status == 429:
        return RegistryProblem("rate-limited by the registry (HTTP 429)", "rate_limited")
    if status in _REDIRECT_STATUS:
        return RegistryProblem("registry redirected to another host, not followed", "redirected")
    return RegistryProblem(f"{what}: unexpected answer HTTP {status}", "failed")


def _size(size: int) -> str:
    return f"{size // 1024} KB" if size % 1024 == 0 and size % (1024 * 1024) else describe_size(size)


def _joined(pages: list[list[str]]) -> tuple[str, ...]:
    return tuple(tag for page in pages for tag in page)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise RegistryProblem(f"{what} is not JSON", "invalid_answer") from None
    if not isinstance(document, dict):
        raise RegistryProblem(f"{what} is not a JSON object", "invalid_answer")
    return document


def _page_tags(body: bytes) -> list[str]:
    tags = _json_object(body, "tag list").get("tags")
    if tags is None:  # a repository without tags answers null
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise RegistryProblem("tag list's tags are not a list of strings", "invalid_answer")
    return tags


def _next_link(header: str) -> str | None:
    match = _NEXT_LINK.search(header[:8192])
    return match[1].strip() if match else None


def _follow(url: str, link: str, name: str) -> str:
    """The next page's URL: same scheme, host and port, and this repository's tag list."""
    target = urljoin(url, link)
    there = urlsplit(target)
    if not same_origin(url, target):
        try:
            host = (there.hostname or "")[:100]
        except ValueError:
            host = ""
        raise RegistryProblem(f"registry's next-page link points to another host ({host}), not followed", "redirected")
    if not there.path.endswith(f"/v2/{name}/tags/list"):
        raise RegistryProblem("registry's next-page link is not this repository's tag list, not followed", "redirected")
    return target


def _amd64_digest(index: Mapping[str, Any], tag: str) -> str:
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") if isinstance(entry, Mapping) else None
        if isinstance(platform, Mapping) and (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
            digest = entry.get("digest")
            if isinstance(digest, str) and _DIGEST.match(digest):
                return digest
            raise RegistryProblem(f"index of {tag} names its linux/amd64 manifest without a digest", "invalid_answer")
    raise RegistryProblem(f"{tag} has no linux/amd64 image", "not_found")


def _checked(body: bytes, digest: str | None) -> bytes:
    """Content-addressed answers must have the digest they were asked by (a CDN or a mirror could be wrong)."""
    if digest and "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        raise RegistryProblem(f"answer does not match its digest {digest[:19]}…", "invalid_answer")
    return body


def _created_day(created: object, tag: str) -> datetime.date:
    match = _CREATED.match(created) if isinstance(created, str) else None
    if match is None:
        raise RegistryProblem(f"image config of {tag} has no usable creation time", "invalid_answer")
    day, clock, zone = match.groups()
    try:
        moment = datetime.datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:  # e.g. month 13
        raise RegistryProblem(f"image config of {tag} has no usable creation time", "invalid_answer") from None
    if not plausible_build_time(moment, datetime.datetime.now(datetime.UTC)):
        raise RegistryProblem(
            f"image config of {tag} says it was built {day}, not a plausible date: release date unknown", "undated"
        )
    return moment.astimezone(datetime.UTC).date()
