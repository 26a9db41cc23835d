"""Ask image registries (Docker Registry HTTP API v2) whether ``repository:tag`` exists, before Airbyte is told.

With :mod:`.image_tags` the only modules that talk to image registries; :class:`RegistryCalls` is the request
layer both use. Plain ``requests``, no Airflow. Anonymous only: a
``HEAD /v2/<name>/manifests/<tag>``, and on a Bearer challenge the anonymous token flow, then the HEAD
once more. A registry problem never raises: it gives ``status="unknown"`` with a short reason, and the
caller decides whether unknown blocks a write.

A registry (or something answering in its place) chooses the URLs in its challenge and redirects; they are
not followed blindly, or the check would probe whatever address they name. A token ``realm`` is asked only
on the registry's own host or a host of ``token_hosts``; a redirect is followed only to the origin it came
from (scheme, host and port), a few times; what a token service answered besides a token is not reported.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from functools import partial
from typing import Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_airbyte_connectors.clients.bounded_http import DEADLINE_GRACE, TooLargeError, call_by, read_body
from airflow_airbyte_connectors.clients.connection_errors import describe_connection_error
from airflow_airbyte_connectors.configs import DOCKER_REPOSITORY_RE, DOCKER_TAG_RE
from airflow_airbyte_connectors.urls import without_userinfo

log = logging.getLogger(__name__)

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
# \b: a key starts only where a word starts, so a long run of word characters is scanned once, not once
# per start position (findall on 16 kB of letters took 1.6 s).
# Docker Hub's registry sends its clients to this token service.
DEFAULT_TOKEN_HOSTS = ("auth.docker.io",)
MAX_REDIRECTS = 3
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# A bare challenge value ends at a comma or white space.
_BARE_VALUE_END = re.compile(r"[,\s]")
# Docker Hub's challenge is about 150 characters; a longer one is read only this far.
MAX_CHALLENGE = 8192
_HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}")
_PORTS = {"http": 80, "https": 443}


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


def check_images(
    images: Iterable[tuple[str, str]],
    *,
    docker_hub_url: str = DOCKER_HUB_URL,
    registry_urls: Mapping[str, str] | None = None,
    token_hosts: Iterable[str] = DEFAULT_TOKEN_HOSTS,
    timeout: float = 5.0,
    max_workers: int = 4,
    session: requests.Session | None = None,
) -> dict[tuple[str, str], ImageCheck]:
    """Check that each ``(repository, tag)`` exists in its registry; one answer per distinct pair.

    :param docker_hub_url: base URL for Docker Hub images.
    :param registry_urls: base URL per registry host (``{"ghcr.io": "https://ghcr.io"}``); a host not
        listed is reached at ``https://<host>``.
    :param token_hosts: hosts whose token service any registry may send the check to; a registry's own
        host is always allowed.
    :param timeout: seconds one image may take, all its requests together (HEAD, token, HEAD).
    :param max_workers: images checked at the same time.
    :param session: a ``requests.Session`` to use (not closed here); by default one is made per call.

    Tags of one repository are checked one after the other by one worker, so they share one token.
    Worst case the call takes about ``timeout * (ceil(n / max_workers) + tags_per_repository_max)``;
    an image still unanswered then is reported unknown and its thread is left to end on its own.
    """
    wanted = list(dict.fromkeys(images))  # each image once, in the caller's order
    results: dict[tuple[str, str], ImageCheck] = {}
    groups: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for repository, tag in wanted:
        image = f"{repository}:{tag}"
        try:
            reference = parse_reference(repository)
        except ValueError:
            results[(repository, tag)] = ImageCheck(image, "unknown", f"{repository!r} is not a Docker image name")
            continue
        if not DOCKER_TAG_RE.match(tag):
            results[(repository, tag)] = ImageCheck(image, "unknown", f"{tag!r} is not a Docker tag")
            continue
        base = registry_base_url(reference, docker_hub_url, registry_urls or {})
        groups.setdefault((base, reference.registry, reference.name), []).append((repository, tag))
    if not groups:
        return {key: results[key] for key in wanted}

    workers = max(1, min(max_workers, len(groups)))
    own_session = session is None
    if session is None:
        session = requests.Session()
        # One pooled connection per worker, so concurrent checks of one registry reuse connections.
        adapter = HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    checker = _Checker(session, timeout, token_hosts)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-check")
    futures = {}
    try:
        futures = {
            executor.submit(checker.check_repository, base, registry, name, members): members
            for (base, registry, name), members in groups.items()
        }
        # A last guard (each image is already cut at its deadline, plus call_by's grace): greedy scheduling
        # finishes within total/workers + the longest group.
        longest = max(len(members) for members in groups.values())
        guard = (timeout + DEADLINE_GRACE) * (math.ceil(len(wanted) / workers) + longest) + 1.0
        wait_futures(futures, timeout=guard)
        for future, members in futures.items():
            if future.done() and future.exception() is None:
                results.update(future.result())
                continue
            for repository, tag in members:
                if (repository, tag) in checker.finished:
                    results[(repository, tag)] = checker.finished[(repository, tag)]
                elif future.done():
                    # A bug here must not stop the DAG from planning: report the image as unknown.
                    log.warning("Image check of %s:%s failed", repository, tag, exc_info=future.exception())
                    results[(repository, tag)] = ImageCheck(
                        f"{repository}:{tag}", "unknown", f"check failed: {type(future.exception()).__name__}"
                    )
                else:
                    results[(repository, tag)] = ImageCheck(
                        f"{repository}:{tag}", "unknown", f"timed out after {_seconds(timeout)} s"
                    )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        if own_session and all(f.done() for f in futures):
            session.close()
    return {key: results[key] for key in wanted}


def registry_base_url(reference: ImageReference, docker_hub_url: str, registry_urls: Mapping[str, str]) -> str:
    """The base URL a repository's registry is asked at: ``docker_hub_url`` for Docker Hub, else
    ``registry_urls[host]`` or ``https://<host>``."""
    if reference.is_docker_hub:
        return registry_urls.get(DOCKER_HUB, docker_hub_url).rstrip("/")
    return registry_urls.get(reference.registry, f"https://{reference.registry}").rstrip("/")


def same_origin(url: str, target: str) -> bool:
    """``target`` has ``url``'s scheme, host and port, and no user info: a request's credentials may go there."""
    here, there = urlsplit(url), urlsplit(target)
    try:
        origin = (there.scheme, (there.hostname or "").lower(), there.port or _PORTS.get(there.scheme))
        return "@" not in there.netloc and origin == (
            here.scheme,
            (here.hostname or "").lower(),
            here.port or _PORTS.get(here.scheme),
        )
    except ValueError:  # a port that is not a number
        return False


def _seconds(value: float) -> str:
    return f"{value:g}"


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


class RegistryCalls:
    """Requests to image registries that share a session and a token cache: the anonymous token flow, its realm
    checks and the same-origin redirect rule. ``timeout`` is the budget of one question, all its requests together
    (each request is given a ``deadline`` from ``time.monotonic()``)."""

    def __init__(self, session: requests.Session, timeout: float, token_hosts: Iterable[str] = DEFAULT_TOKEN_HOSTS):
        self.session = session
        self.timeout = timeout
        self.token_hosts = frozenset(host.strip().lower() for host in token_hosts if host.strip())
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()
        # Requests sent, by what was asked ("manifest", "token", "tags", "blob"): what a run cost.
        self._sent: Counter[str] = Counter()

    def sent_so_far(self) -> dict[str, int]:
        """Requests sent so far, by what was asked."""
        with self._lock:
            return dict(self._sent)

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
        self.check_realm(realm, registry_url)
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
        response = self.send("GET", realm, deadline, params=query, stream=True, what="token")
        try:
            if response.status_code != 200:
                # Its status and body stay out of the findings: the realm may be a service of someone else's.
                log.debug("Token service of %s answered HTTP %s", without_userinfo(registry_url), response.status_code)
                raise RegistryProblem("token service refused", "refused")
            body = self._token_body(response, deadline)
        finally:
            response.close()
        try:
            answer = json.loads(body)
        except ValueError:
            raise RegistryProblem("token service answered something that is not JSON", "invalid_answer") from None
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise RegistryProblem("token service answered without a token", "invalid_answer")
        with self._lock:
            self._tokens[key] = token
        return token

    def _token_body(self, response: requests.Response, deadline: float) -> bytes:
        late = lambda: RegistryProblem(f"timed out after {_seconds(self.timeout)} s", "timed_out")  # noqa: E731
        try:
            return read_body(response, deadline=deadline, limit=MAX_TOKEN_ANSWER_BYTES, late=late, truncate=False)
        except TooLargeError:
            limit = MAX_TOKEN_ANSWER_BYTES // 1024
            raise RegistryProblem(f"token service answer larger than {limit} KB", "too_large") from None
        except requests.Timeout:
            raise late() from None
        except requests.RequestException:
            raise RegistryProblem("token service answer broken off", "unreachable") from None

    def check_realm(self, realm: str, registry_url: str) -> None:
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

    def send(self, method: str, url: str, deadline: float, *, what: str = "manifest", **kwargs) -> requests.Response:
        """One request; a redirect is followed only to the same origin (scheme, host and port)."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.send_once(method, url, deadline, what=what, **kwargs)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECT_STATUS or not location:
                return response
            response.close()
            target = urljoin(url, location)
            # The request may carry a token: another port or scheme of the same host is another server.
            if not same_origin(url, target):
                raise RegistryProblem("registry redirected to another host, not followed", "redirected")
            url = target
            kwargs.pop("params", None)  # the Location carries its own query
        raise RegistryProblem("registry redirected too many times", "redirected")

    def send_once(self, method: str, url: str, deadline: float, *, what: str, **kwargs) -> requests.Response:
        """One request, no redirect followed, counted (:meth:`sent_so_far`) under ``what``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RegistryProblem(f"timed out after {_seconds(self.timeout)} s", "timed_out")
        with self._lock:
            self._sent[what] += 1
        try:
            # The image's remaining budget bounds both connecting and each read.
            return self.session.request(method, url, timeout=(remaining, remaining), allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise RegistryProblem(f"timed out after {_seconds(self.timeout)} s", "timed_out") from None
        except requests.exceptions.SSLError:
            raise RegistryProblem("registry unreachable: TLS handshake failed", "unreachable") from None
        except requests.ConnectionError as error:
            raise RegistryProblem(f"registry unreachable: {describe_connection_error(error)}", "unreachable") from None
        except requests.RequestException as error:
            raise RegistryProblem(f"request failed: {type(error).__name__}") from None


class _Checker(RegistryCalls):
    """The requests for one check_images call: shared session, per-call token cache."""

    def __init__(self, session: requests.Session, timeout: float, token_hosts: Iterable[str] = DEFAULT_TOKEN_HOSTS):
        super().__init__(session, timeout, token_hosts)
        # Results by image as they are decided, so a group cut off by the guard keeps what it had.
        self.finished: dict[tuple[str, str], ImageCheck] = {}

    def check_repository(
        self, base: str, registry: str, name: str, members: list[tuple[str, str]]
    ) -> dict[tuple[str, str], ImageCheck]:
        authorization: str | None = None  # a token from this repository's first tag serves the others
        answers = {}
        for repository, tag in members:
            image = f"{repository}:{tag}"
            deadline = time.monotonic() + self.timeout
            late = lambda: RegistryProblem(f"timed out after {_seconds(self.timeout)} s", "timed_out")  # noqa: E731
            try:
                # In a thread of its own: a registry trickling its headers holds this worker only until the deadline.
                check_tag = partial(self._check_tag, base, registry, name, tag, authorization, deadline)
                status, reason, authorization = call_by(deadline, check_tag, late)
            except RegistryProblem as problem:
                status, reason = "unknown", str(problem)
            check = ImageCheck(image, status, reason)
            log.debug("Image %s: %s (%s)", image, status, reason)
            answers[(repository, tag)] = check
            with self._lock:
                self.finished[(repository, tag)] = check
        return answers

    def _check_tag(
        self, base: str, registry: str, name: str, tag: str, authorization: str | None, deadline: float
    ) -> tuple[Status, str, str | None]:
        url = f"{base}/v2/{name}/manifests/{tag}"
        response = self._head(url, authorization, deadline)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            token = self.token(challenge, url, name, deadline)
            if f"Bearer {token}" != authorization:  # a token already refused is not tried twice
                authorization = f"Bearer {token}"
                response = self._head(url, authorization, deadline)
        status = response.status_code
        if status == 200:
            return "exists", f"tag {tag} found in {registry}", authorization
        if status == 404:
            return "missing", f"tag {tag} not found in {registry} (HTTP 404)", authorization
        if status in (401, 403):
            reason = f"registry refused anonymous access (HTTP {status}): private image, or no such repository?"
            return "unknown", reason, authorization
        if status == 429:
            return "unknown", "rate-limited by the registry (HTTP 429)", authorization
        return "unknown", f"unexpected answer HTTP {status}", authorization

    def _head(self, url: str, authorization: str | None, deadline: float) -> requests.Response:
        headers = {"Accept": MANIFEST_ACCEPT}
        if authorization:
            headers["Authorization"] = authorization
        return self.send("HEAD", url, deadline, headers=headers)
