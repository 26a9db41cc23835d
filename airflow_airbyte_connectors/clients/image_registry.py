"""The one client of image registries (Docker Registry HTTP API v2), anonymous only: whether ``repository:tag``
exists (:func:`check_images`, the pre-flight before Airbyte is told), which tags an image has
(:meth:`ImageRegistry.list_tags`) and when one was built (:meth:`ImageRegistry.release_date`).

Every request goes through :func:`.bounded_http.send` with the question's deadline (one per question: an image's
check, a whole tag list, one date). On a Bearer challenge it takes the anonymous token flow and asks once more; a
token refused as soon as it was issued is not asked for again, one refused later (expired) is replaced once.
Nothing raises: a check answers ``status="unknown"`` with a short reason, a read carries a named problem, and the
caller decides what unknown means.

A registry (or something answering in its place) chooses the URLs in its challenge, redirects and next-page
links; they are not followed blindly, or the client would probe whatever address they name. A token ``realm`` is
asked only on the registry's own host or a host of ``token_hosts``; a redirect is followed only to the origin it
came from (scheme, host and port), a few times, and a blob read to a host of ``blob_hosts`` (a CDN) without the
token; what a token service answered besides a token is not reported. Reads are bounded: a page limit, a size cap
per answer, tag-list bytes per repository and per run, dates per run.

Not ``oras`` (oras-py) or another OCI client: none comes with Airflow, and for four kinds of GET one would bring a
dependency whose token flow asks whatever realm a registry names, whose reads have no size cap or overall deadline
and whose tag pagination has no page limit, each of which would have to be wrapped again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urljoin, urlsplit

from airflow_airbyte_connectors.clients.bounded_http import (
    DEADLINE_GRACE,
    Answer,
    ConnectFailed,
    RedirectRefusedError,
    Redirects,
    RequestError,
    Session,
    Timeout,
    TLSError,
    TooLargeError,
    describe_size,
    new_session,
    same_origin,
    send,
)
from airflow_airbyte_connectors.clients.connection_errors import describe_connection_error
from airflow_airbyte_connectors.config.configs import DOCKER_REPOSITORY_RE, DOCKER_TAG_RE
from airflow_airbyte_connectors.core.urls import without_userinfo

log = logging.getLogger(__name__)

# An image built before Docker's registry v2 era or in the future is not dated: reproducible builds write
# 1970-01-01, and a date ahead of the clock would make a release look old sooner than it is.
EARLIEST_BUILD = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
CLOCK_SKEW = datetime.timedelta(days=1)

T = TypeVar("T")

Status = Literal["exists", "missing", "unknown"]

DOCKER_HUB = "registry-1.docker.io"
DOCKER_HUB_URL = f"https://{DOCKER_HUB}"
# Names people write for Docker Hub; all mean the same registry.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", DOCKER_HUB})

# Multi-arch images are an index / manifest list; single-arch ones a manifest. Without these a registry
# may answer 404 for a tag that only exists as an index.
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
# A token answer is a few KB; a registry (or something pretending to be one) sending more is refused.
MAX_TOKEN_ANSWER_BYTES = 64 * 1024
# Docker Hub's registry sends its clients to this token service.
DEFAULT_TOKEN_HOSTS = ("auth.docker.io",)
# Docker Hub sends blob reads to its CDN; a blob read may follow a redirect to these hosts (content-addressed:
# the bytes are checked against the digest, and the token is not sent along).
DEFAULT_BLOB_HOSTS = ("production.cloudflare.docker.com",)
MAX_REDIRECTS = 3
# A bare challenge value ends at a comma or white space.
_BARE_VALUE_END = re.compile(r"[,\s]")
# Docker Hub's challenge is about 150 characters; a longer one is read only this far.
MAX_CHALLENGE = 8192
_HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}")

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
_INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
_DIGEST = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
_NEXT_LINK = re.compile(r'<([^<>]{1,4096})>\s*;\s*rel="?next"?', re.IGNORECASE)
_CREATED = re.compile(r"\A(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_SAME_ORIGIN = Redirects(hops=MAX_REDIRECTS)


@dataclass(frozen=True)
class ImageCheck:
    """What one registry said about one image. ``reason`` is a short sentence for logs and task output."""

    image: str
    status: Status
    reason: str


@dataclass(frozen=True)
class ImageReference:
    """Where a ``dockerRepository`` lives: registry host and the repository name inside it."""

    registry: str  # a host[:port]; Docker Hub is always DOCKER_HUB
    name: str  # e.g. library/postgres

    @property
    def is_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB


def challenge_params(text: str) -> dict[str, str]:
    """``realm="https://...",service="..."`` (a ``WWW-Authenticate`` challenge's parameters) as a dict with
    lowercase keys. String methods over positions, not a regex and no copies of the rest: one pass however long
    or hostile the header is."""
    params: dict[str, str] = {}
    text = text[:MAX_CHALLENGE]
    start = 0
    while (equals := text.find("=", start)) >= 0:
        key = text[start:equals].replace(",", " ").split()[-1:]
        if text.startswith('"', equals + 1):
            end = text.find('"', equals + 2)
            end = len(text) if end < 0 else end
            value, start = text[equals + 2 : end], end + 1
        else:
            stop = _BARE_VALUE_END.search(text, equals + 1)
            end = stop.start() if stop else len(text)
            value, start = text[equals + 1 : end], end
        if key and key[0].replace("_", "").isalnum():
            params[key[0].lower()] = value
    return params


def parse_reference(repository: str) -> ImageReference:
    """Split a ``dockerRepository`` the way Docker does (configs.DOCKER_REPOSITORY_RE's grammar).

    The first component is a registry host only if it has a dot or a port, or is ``localhost``;
    otherwise the image is on Docker Hub, where a one-component name is an official ``library/`` image.
    Raises ValueError for something that is not an image name.
    """
    if not DOCKER_REPOSITORY_RE.match(repository):
        raise ValueError(f"{repository!r} is not a Docker image name")
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    else:
        registry, name = DOCKER_HUB, repository
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in name:
            name = f"library/{name}"
    return ImageReference(registry, name)


def registry_base_url(reference: ImageReference, docker_hub_url: str, registry_urls: Mapping[str, str]) -> str:
    """The base URL a repository's registry is asked at: ``docker_hub_url`` for Docker Hub, else
    ``registry_urls[host]`` or ``https://<host>``."""
    if reference.is_docker_hub:
        return registry_urls.get(DOCKER_HUB, docker_hub_url).rstrip("/")
    return registry_urls.get(reference.registry, f"https://{reference.registry}").rstrip("/")


ProblemKind = Literal[
    "bad_name",
    "unreachable",
    "timed_out",
    "refused",
    "not_found",
    "rate_limited",
    "redirected",
    "invalid_answer",
    "too_large",
    "too_many_pages",
    "over_budget",
    "capped",
    "undated",
    "failed",
]


class RegistryProblem(Exception):
    """A registry question that ends without its answer: ``kind`` for code, the message for people."""

    def __init__(self, message: str, kind: ProblemKind = "failed"):
        super().__init__(message)
        self.kind: ProblemKind = kind


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


def check_images(
    images: Iterable[tuple[str, str]],
    *,
    docker_hub_url: str = DOCKER_HUB_URL,
    registry_urls: Mapping[str, str] | None = None,
    token_hosts: Iterable[str] = DEFAULT_TOKEN_HOSTS,
    timeout: float = 5.0,
    max_workers: int = 4,
    session: Session | None = None,
) -> dict[tuple[str, str], ImageCheck]:
    """:meth:`ImageRegistry.check_images` with a client of its own (``timeout``: seconds one image may take, all
    its requests together; ``session``: one to use, not closed here)."""
    client = ImageRegistry(
        docker_hub_url=docker_hub_url,
        registry_urls=registry_urls,
        token_hosts=token_hosts,
        timeout=timeout,
        session=session,
        pool=max(1, max_workers),
    )
    with client:
        return client.check_images(images, max_workers=max_workers)


class ImageRegistry:
    """One run's client of image registries: one session, one token cache, every answer kept.

    :param docker_hub_url: base URL for Docker Hub images (``settings.docker_hub_url()``).
    :param registry_urls: base URL per registry host (``{"ghcr.io": "https://ghcr.io"}``); a host not listed is
        reached at ``https://<host>``.
    :param token_hosts: hosts whose token service a registry may send us to (besides its own host).
    :param blob_hosts: hosts a blob read may be redirected to (besides the registry's own host).
    :param timeout: seconds one question may take, all its requests together (an image's check, a whole tag
        list, one date).
    :param page_size: tags asked per page (``n``); a server may answer fewer.
    :param max_pages: pages read at most per tag list; a longer list ends with problem ``too_many_pages``.
    :param max_list_bytes: tag-list bytes read at most per repository; a larger list is not kept (``too_large``).
    :param max_run_bytes: tag-list bytes read at most by this object; past it, lists are not read (``over_budget``).
    :param max_dates: release dates read at most by this object (None: no cap); past it, a date is not read
        (``capped``).
    :param session: a session to use (not closed here); by default one of ``pool`` connections per host.

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
        session: Session | None = None,
        pool: int = 8,
    ):
        self.docker_hub_url = docker_hub_url
        self.registry_urls = dict(registry_urls or {})
        self.token_hosts = frozenset(host.strip().lower() for host in token_hosts if host.strip())
        self.blob_hosts = frozenset(host.strip().lower() for host in blob_hosts if host.strip())
        self.timeout = timeout
        self.page_size = max(1, page_size)
        self.max_pages = max(1, max_pages)
        self.max_list_bytes = max_list_bytes
        self.max_run_bytes = max_run_bytes
        self._run_bytes = 0  # tag-list bytes read or reserved for a read in progress
        self.max_dates = max_dates
        self._dates_asked = 0
        self._own_session = session is None
        self.session = session if session is not None else new_session(pool=pool)
        self._abandoned = False  # a check's thread still runs on the session
        self._lock = threading.Lock()
        # The token cache: tokens by (realm, service, scope), tokens refused as soon as they were issued (not asked
        # for again), and each registry's token service, so every repository after the first gets its token before
        # its first request, which saves a refused request per repository.
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._refused: set[str] = set()
        self._token_service: dict[str, str] = {}  # base URL -> 'Bearer realm="...",service="..."'
        self._answers: dict[tuple[str, ...], Any] = {}
        self._asking: dict[tuple[str, ...], threading.Lock] = {}
        # Requests sent, by what was asked ("manifest", "token", "tags", "blob"): what a run cost.
        self._sent: Counter[str] = Counter()

    @property
    def requests_sent(self) -> dict[str, int]:
        """Requests sent so far by what was asked: ``tags``, ``manifest``, ``blob``, ``token``."""
        with self._lock:
            return dict(self._sent)

    def close(self) -> None:
        if self._own_session and not self._abandoned:
            self.session.close()

    def __enter__(self) -> ImageRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- questions ---------------------------------------------------------------------------------

    def check_images(
        self, images: Iterable[tuple[str, str]], *, max_workers: int = 4
    ) -> dict[tuple[str, str], ImageCheck]:
        """Whether each ``(repository, tag)`` exists in its registry; one answer per distinct pair, in the caller's
        order, ``max_workers`` images at a time.

        Tags of one repository are checked one after the other by one worker, so they share one token.
        Worst case the call takes about ``timeout * (ceil(n / max_workers) + tags_per_repository_max)``;
        an image still unanswered then is reported unknown and its thread is left to end on its own.
        """
        wanted = list(dict.fromkeys(images))  # each image once, in the caller's order
        results: dict[tuple[str, str], ImageCheck] = {}
        groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for repository, tag in wanted:
            image = f"{repository}:{tag}"
            try:
                base, name = self._where(repository)
            except RegistryProblem as problem:
                results[(repository, tag)] = ImageCheck(image, "unknown", str(problem))
                continue
            if not DOCKER_TAG_RE.match(tag):
                results[(repository, tag)] = ImageCheck(image, "unknown", f"{tag!r} is not a Docker tag")
                continue
            groups.setdefault((base, name), []).append((repository, tag))
        if not groups:
            return {key: results[key] for key in wanted}

        workers = max(1, min(max_workers, len(groups)))
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-check")
        futures = {}
        try:
            futures = {executor.submit(self._check_group, members): members for members in groups.values()}
            # A last guard (each image is already cut at its deadline, plus send's grace): greedy scheduling
            # finishes within total/workers + the longest group.
            longest = max(len(members) for members in groups.values())
            guard = (self.timeout + DEADLINE_GRACE) * (math.ceil(len(wanted) / workers) + longest) + 1.0
            wait_futures(futures, timeout=guard)
            for members in groups.values():
                for repository, tag in members:
                    key = ("check", repository, tag)
                    with self._lock:
                        answer = self._answers.get(key)
                    results[(repository, tag)] = answer or ImageCheck(
                        f"{repository}:{tag}", "unknown", f"timed out after {self.timeout:g} s"
                    )
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            self._abandoned = self._abandoned or not all(f.done() for f in futures)
        return {key: results[key] for key in wanted}

    def _check_group(self, members: list[tuple[str, str]]) -> None:
        for repository, tag in members:
            self.check_image(repository, tag)

    def check_image(self, repository: str, tag: str) -> ImageCheck:
        """Whether ``repository:tag`` exists: a ``HEAD`` of its manifest."""
        image = f"{repository}:{tag}"

        def ask() -> ImageCheck:
            found: Status = "unknown"
            try:
                if not DOCKER_TAG_RE.match(tag):
                    raise RegistryProblem(f"{tag!r} is not a Docker tag", "bad_name")
                base, name = self._where(repository)
                registry = parse_reference(repository).registry
                url = f"{base}/v2/{name}/manifests/{tag}"
                status = self._ask("HEAD", base, name, url, time.monotonic() + self.timeout, "manifest").status
                if status != 200:
                    raise _status_problem(status, f"tag {tag} not found in {registry}")
                found, reason = "exists", f"tag {tag} found in {registry}"
            except RegistryProblem as problem:
                found, reason = ("missing" if problem.kind == "not_found" else "unknown"), str(problem)
            log.debug("Image %s: %s (%s)", image, found, reason)
            return ImageCheck(image, found, reason)

        failed = lambda text: ImageCheck(image, "unknown", f"check {text}")  # noqa: E731 - a one-line default
        return self._once(("check", repository, tag), ask, failed)

    def list_tags(self, repository: str) -> TagList:
        """Every tag of ``repository`` (a ``dockerRepository``), following the ``Link`` header page by page."""

        def ask() -> TagList:
            pages: list[list[str]] = []
            try:
                base, name = self._where(repository)
                self._pages(base, name, time.monotonic() + self.timeout, pages)
            except RegistryProblem as problem:
                # Past a byte bound, what was read is dropped: it is unread all the same, and it is what is large.
                kept = () if problem.kind in ("too_large", "over_budget") else _joined(pages)
                return TagList(repository, kept, len(pages), str(problem), problem.kind)
            return TagList(repository, _joined(pages), len(pages))

        return self._once(("tags", repository), ask, lambda text: TagList(repository, (), 0, f"read {text}", "failed"))

    def release_date(self, repository: str, tag: str) -> ReleaseDate:
        """The day ``repository:tag`` was built: its linux/amd64 image config's ``created``, in UTC."""

        def ask() -> ReleaseDate:
            try:
                if not DOCKER_TAG_RE.match(tag):
                    raise RegistryProblem(f"{tag!r} is not a Docker tag", "bad_name")
                base, name = self._where(repository)
                self._count_date()
                released = self._date(base, name, tag, time.monotonic() + self.timeout)
            except RegistryProblem as problem:
                return ReleaseDate(repository, tag, None, str(problem), problem.kind)
            return ReleaseDate(repository, tag, released)

        failed = lambda text: ReleaseDate(repository, tag, None, f"read {text}", "failed")  # noqa: E731 - a one-line default
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
                return cast(T, self._answers[key])
            asking = self._asking.setdefault(key, threading.Lock())
        with asking:
            with self._lock:
                if key in self._answers:
                    return cast(T, self._answers[key])
            try:
                answer = ask()
            except Exception as exc:  # a bug here must not stop a run: the answer names the failure
                log.warning("Image registry question %s failed", key, exc_info=True)
                answer = failed(f"failed: {type(exc).__name__}")
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
            answer = self._tag_page(base, name, url, deadline, listed)
            listed += len(answer.body)
            pages.append(_page_tags(answer.body))
            link = _next_link(answer.headers.get("Link", ""))
            del answer  # a page's bytes are not kept beside its tags
            if link is None:
                return
            url = _follow(url, link, name)

    def _tag_page(self, base: str, name: str, url: str, deadline: float, listed: int) -> Answer:
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
            answer = self._read("GET", base, name, url, deadline, "tags", reserved)
            used = len(answer.body)
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
        return answer

    def _over_budget(self) -> RegistryProblem:
        return RegistryProblem(
            f"tag lists of this run reached {_size(self.max_run_bytes)} (the per-run bound), not read",
            "over_budget",
        )

    # -- release dates -----------------------------------------------------------------------------

    def _date(self, base: str, name: str, tag: str, deadline: float) -> datetime.date:
        answer = self._read("GET", base, name, f"{base}/v2/{name}/manifests/{tag}", deadline, "manifest")
        manifest = _json_object(answer.body, "manifest")
        media_type = str(manifest.get("mediaType") or answer.headers.get("Content-Type", "")).split(";")[0].strip()
        if media_type in _INDEX_TYPES or isinstance(manifest.get("manifests"), list):
            chosen = _amd64_digest(manifest, tag)
            url = f"{base}/v2/{name}/manifests/{chosen}"
            manifest = _json_object(
                _checked(self._read("GET", base, name, url, deadline, "manifest").body, chosen), "manifest"
            )
        config = manifest.get("config")
        digest = config.get("digest") if isinstance(config, Mapping) else None
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise RegistryProblem(f"manifest of {tag} names no sha256 config blob", "invalid_answer")
        # A config blob may be sent on to the registry's own host or a CDN of blob_hosts (without the token).
        blob = self._read(
            "GET",
            base,
            name,
            f"{base}/v2/{name}/blobs/{digest}",
            deadline,
            "blob",
            MAX_CONFIG_BYTES,
            Redirects(hops=MAX_REDIRECTS, other_hosts=self.blob_hosts),
        )
        return _created_day(_json_object(_checked(blob.body, digest), "image config").get("created"), tag)

    # -- requests ----------------------------------------------------------------------------------

    def _read(
        self,
        method: str,
        base: str,
        name: str,
        url: str,
        deadline: float,
        what: str,
        limit: int = MAX_MANIFEST_BYTES,
        redirects: Redirects = _SAME_ORIGIN,
    ) -> Answer:
        """:meth:`_ask`, and its answer if it is a 200; else the problem its status means."""
        answer = self._ask(method, base, name, url, deadline, what, limit, redirects)
        if answer.status != 200:
            missing = {"tags": "repository", "manifest": "tag or manifest"}.get(what, what)
            raise _status_problem(answer.status, f"no such {missing} in the registry", what)
        return answer

    def _ask(
        self,
        method: str,
        base: str,
        name: str,
        url: str,
        deadline: float,
        what: str,
        limit: int = MAX_MANIFEST_BYTES,
        redirects: Redirects = _SAME_ORIGIN,
    ) -> Answer:
        """One request with this repository's token; on a challenge the request once more with a token from it: a
        fresh one if the token sent was refused, none if that token was refused as soon as it was issued."""
        key = (base, name)
        accept = MANIFEST_ACCEPT if what == "manifest" else "application/json"
        headers = {"Accept": accept, **self._authorization_for(key, url, deadline)}
        answer = self._send(method, url, deadline, what, headers, limit, redirects)
        if answer.status != 401 or (answer.url != url and not same_origin(url, answer.url)):
            return answer  # a CDN's refusal is no challenge of the registry's
        sent = headers.get("Authorization")
        with self._lock:
            if sent in self._refused:
                return answer
        authorization = self._authorize(key, answer, name, url, deadline, fresh=sent is not None)
        if authorization == sent:  # a token already refused is not tried twice
            return answer
        answer = self._send(method, url, deadline, what, {**headers, "Authorization": authorization}, limit, redirects)
        if answer.status == 401:
            with self._lock:
                self._refused.add(authorization)
        return answer

    def _authorization_for(self, key: tuple[str, str], url: str, deadline: float) -> dict[str, str]:
        """The repository's token if its registry asked for tokens before (from the cache, or asked for now)."""
        with self._lock:
            service = self._token_service.get(key[0])
        return {} if service is None else {"Authorization": f"Bearer {self.token(service, url, key[1], deadline)}"}

    def _authorize(
        self, key: tuple[str, str], answer: Answer, name: str, url: str, deadline: float, *, fresh: bool
    ) -> str:
        """A Bearer token for a 401 ``answer``'s challenge; its token service is kept for the registry's next
        requests."""
        challenge = answer.headers.get("WWW-Authenticate", "")
        authorization = f"Bearer {self.token(challenge, url, name, deadline, fresh=fresh)}"
        params = challenge_params(challenge.strip().partition(" ")[2])
        service = f'Bearer realm="{params["realm"]}",service="{params.get("service", "")}"'
        with self._lock:
            self._token_service[key[0]] = service
        return authorization

    def token(self, challenge: str, registry_url: str, name: str, deadline: float, *, fresh: bool = False) -> str:
        """An anonymous token for ``name`` from the service a ``WWW-Authenticate`` challenge names; ``fresh``:
        not the cached one (it was refused, e.g. expired)."""
        scheme, _, params_text = challenge.strip().partition(" ")
        if scheme.lower() != "bearer":
            what = f"{scheme} authentication" if scheme else "authentication without a usable challenge"
            raise RegistryProblem(f"registry requires {what} (HTTP 401); only anonymous checks are made", "refused")
        params = challenge_params(params_text)
        realm = params.get("realm", "")
        if not realm.lower().startswith(("https://", "http://")) or "@" in urlsplit(realm).netloc:
            raise RegistryProblem("registry's token challenge names no usable token service", "refused")
        self._check_realm(realm, registry_url)
        service = params.get("service", "")
        scope = params.get("scope") or f"repository:{name}:pull"
        key = (realm, service, scope)
        with self._lock:
            cached = self._tokens.get(key)
        if cached and not fresh:
            return cached
        query = {"scope": scope}
        if service:
            query["service"] = service
        answer = self._send("GET", realm, deadline, "token", {}, MAX_TOKEN_ANSWER_BYTES, _SAME_ORIGIN, query)
        if answer.status != 200:
            # Its status and body stay out of the findings: the realm may be a service of someone else's.
            log.debug("Token service of %s answered HTTP %s", without_userinfo(registry_url), answer.status)
            raise RegistryProblem("token service refused", "refused")
        try:
            document = json.loads(answer.body)
        except ValueError:
            raise RegistryProblem("token service answered something that is not JSON", "invalid_answer") from None
        token = (document.get("token") or document.get("access_token")) if isinstance(document, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise RegistryProblem("token service answered without a token", "invalid_answer")
        with self._lock:
            self._tokens[key] = token
        return token

    def _check_realm(self, realm: str, registry_url: str) -> None:
        realm_parts, registry_parts = urlsplit(realm), urlsplit(registry_url)
        host = (realm_parts.hostname or "").lower()
        if host != (registry_parts.hostname or "").lower() and host not in self.token_hosts:
            shown = f" ({host})" if _HOST_NAME.fullmatch(host) else ""
            raise RegistryProblem(
                f"registry's token service is on another host{shown}, not asked; "
                "[airbyte_connectors] image_token_hosts lists the hosts allowed",
                "refused",
            )
        if registry_parts.scheme == "https" and realm_parts.scheme != "https":
            raise RegistryProblem("registry's token service is not on https, not asked", "refused")

    def _send(
        self,
        method: str,
        url: str,
        deadline: float,
        what: str,
        headers: Mapping[str, str],
        limit: int,
        redirects: Redirects,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request through the HTTP layer by the question's deadline, counted under ``what``; every failure
        of the layer as a :class:`RegistryProblem`."""
        with self._lock:
            self._sent[what] += 1
        timed_out = RegistryProblem(f"timed out after {self.timeout:g} s", "timed_out")
        if deadline <= time.monotonic():
            raise timed_out
        try:
            return send(
                self.session,
                method,
                url,
                timeout=self.timeout,
                deadline=deadline,
                limit=limit,
                headers=headers,
                params=params,
                redirects=redirects,
            )
        except Timeout:
            raise timed_out from None
        except TooLargeError:
            label = "token service" if what == "token" else what
            raise RegistryProblem(f"{label} answer larger than {limit // 1024} KB, not read", "too_large") from None
        except RedirectRefusedError as refused:
            raise _redirect_problem(refused, what) from None
        except TLSError:
            raise RegistryProblem("registry unreachable: TLS handshake failed", "unreachable") from None
        except ConnectFailed as error:
            raise RegistryProblem(f"registry unreachable: {describe_connection_error(error)}", "unreachable") from None
        except (RequestError, ValueError) as error:
            raise RegistryProblem(f"request failed: {type(error).__name__}") from None


def _redirect_problem(refused: RedirectRefusedError, what: str) -> RegistryProblem:
    if refused.kind == "too_many":
        return RegistryProblem("registry redirected too many times", "redirected")
    if what != "blob":
        return RegistryProblem("registry redirected to another host, not followed", "redirected")
    if refused.kind == "unusable":
        return RegistryProblem("registry redirected a blob read to an unusable address", "redirected")
    return RegistryProblem(
        f"registry redirected a blob read to another host ({refused.host}), not followed", "redirected"
    )


def _status_problem(status: int, missing: str, what: str = "") -> RegistryProblem:
    """What a status other than 200 means, the same for every question; ``missing``: what a 404 says."""
    if status == 404:
        return RegistryProblem(f"{missing} (HTTP 404)", "not_found")
    if status in (401, 403):
        return RegistryProblem(
            f"registry refused anonymous access (HTTP {status}): private image, or no such repository?", "refused"
        )
    if status == 429:
        return RegistryProblem("rate-limited by the registry (HTTP 429)", "rate_limited")
    if status in _REDIRECT_STATUS:
        return RegistryProblem("registry redirected to another host, not followed", "redirected")
    return RegistryProblem(f"{what + ': ' if what else ''}unexpected answer HTTP {status}", "failed")


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


def plausible_build_time(moment: datetime.datetime, now: datetime.datetime) -> bool:
    """Whether an image's ``created`` (timezone-aware) can be its release date: from 2015 to ``now`` plus a day."""
    return EARLIEST_BUILD <= moment <= now + CLOCK_SKEW
