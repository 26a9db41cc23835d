"""The image-registry client against the registry stand-in over real HTTP: the pre-flight's answers, token flow,
faults and bounds; tag lists and release dates: pagination, bounds, multi-arch dates, the per-run cache and the
requests each question costs."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import tracemalloc
from functools import cache
from typing import Any

import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.clients.image_registry import (
    DEFAULT_TOKEN_HOSTS,
    DOCKER_HUB,
    MAX_REDIRECTS,
    ImageCheck,
    ImageReference,
    ImageRegistry,
    ReleaseDate,
    TagList,
    check_images,
    parse_reference,
)
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.support import SHARED_AIRBYTE, unused_port

REPO = "airbyte/source-pokeapi"
MANIFESTS = f"/v2/{REPO}/manifests/"


@pytest.fixture
def registry():
    with ImageRegistryEmulator([(REPO, "0.3.0"), (REPO, "0.2.0"), ("library/postgres", "16")], max_lifetime=60) as r:
        yield r


def hub(registry: ImageRegistryEmulator, images, **kwargs) -> dict[tuple[str, str], ImageCheck]:
    """Check images as Docker Hub images, with Docker Hub played by the stand-in."""
    kwargs.setdefault("timeout", 2.0)
    return check_images(images, docker_hub_url=registry.url, **kwargs)


class TestParseReference:
    @pytest.mark.parametrize(
        ("repository", "registry", "name"),
        [
            ("airbyte/source-pokeapi", DOCKER_HUB, "airbyte/source-pokeapi"),
            ("postgres", DOCKER_HUB, "library/postgres"),
            ("docker.io/postgres", DOCKER_HUB, "library/postgres"),
            ("docker.io/airbyte/source-x", DOCKER_HUB, "airbyte/source-x"),
            ("index.docker.io/library/postgres", DOCKER_HUB, "library/postgres"),
            ("ghcr.io/acme/x", "ghcr.io", "acme/x"),
            ("localhost:5000/x", "localhost:5000", "x"),
            ("localhost/x", "localhost", "x"),
            ("registry:5000/x", "registry:5000", "x"),
            ("registry/x", DOCKER_HUB, "registry/x"),
            ("my.registry.example:8443/team/sub/image", "my.registry.example:8443", "team/sub/image"),
        ],
        ids=[
            "hub-org",
            "hub-official",
            "docker-io-official",
            "docker-io-org",
            "index-docker-io",
            "ghcr",
            "localhost-port",
            "localhost",
            "host-port-no-dot",
            "no-dot-no-port-is-org",
            "deep-path",
        ],
    )
    def test_registry_and_name(self, repository, registry, name):
        assert parse_reference(repository) == ImageReference(registry, name)

    @pytest.mark.parametrize(
        "repository",
        ["", "Airbyte/Source", "https://ghcr.io/x", "x:1.0", "a//b", "ghcr.io/"],
        ids=["empty", "uppercase", "scheme", "with-tag", "empty-component", "host-only"],
    )
    def test_not_an_image_name(self, repository):
        with pytest.raises(ValueError, match="not a Docker image name"):
            parse_reference(repository)


class TestAnswers:
    def test_exists_and_missing(self, registry):
        results = hub(registry, [(REPO, "0.3.0"), (REPO, "9.9.9")])
        assert results[(REPO, "0.3.0")] == ImageCheck(f"{REPO}:0.3.0", "exists", f"tag 0.3.0 found in {DOCKER_HUB}")
        assert results[(REPO, "9.9.9")] == ImageCheck(
            f"{REPO}:9.9.9", "missing", f"tag 9.9.9 not found in {DOCKER_HUB} (HTTP 404)"
        )
        heads = [r for r in registry.requests if r.method == "HEAD"]
        assert sorted(r.path for r in heads) == [f"{MANIFESTS}0.3.0", f"{MANIFESTS}9.9.9"]
        assert registry.count("GET") == 0

    def test_official_image_is_asked_under_library(self, registry):
        assert hub(registry, [("postgres", "16")])[("postgres", "16")].status == "exists"
        assert [r.path for r in registry.requests] == ["/v2/library/postgres/manifests/16"]

    def test_other_registry_through_registry_urls(self, registry):
        registry.add_image("acme/x", "1.0")
        results = check_images(
            [("ghcr.io/acme/x", "1.0"), ("ghcr.io/acme/x", "2.0")], registry_urls={"ghcr.io": registry.url}, timeout=2
        )
        assert results[("ghcr.io/acme/x", "1.0")].status == "exists"
        assert results[("ghcr.io/acme/x", "2.0")] == ImageCheck(
            "ghcr.io/acme/x:2.0", "missing", "tag 2.0 not found in ghcr.io (HTTP 404)"
        )

    def test_results_keep_the_callers_order_and_keys(self, registry):
        images = [(REPO, "9.9.9"), ("postgres", "16"), (REPO, "0.3.0")]
        assert list(hub(registry, images)) == images

    def test_manifest_accept_headers_cover_multi_arch(self, registry):
        from airflow_airbyte_connectors.clients.image_registry import MANIFEST_ACCEPT

        for media_type in (
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ):
            assert media_type in MANIFEST_ACCEPT

    def test_nothing_to_check(self):
        assert check_images([]) == {}

    @pytest.mark.parametrize(
        ("image", "reason"),
        [
            (("Bad/Name", "1.0"), "'Bad/Name' is not a Docker image name"),
            (("airbyte/x", "1.0/../../x"), "'1.0/../../x' is not a Docker tag"),
        ],
        ids=["bad-name", "bad-tag"],
    )
    def test_invalid_reference_is_unknown_without_a_request(self, registry, image, reason):
        assert hub(registry, [image])[image] == ImageCheck(f"{image[0]}:{image[1]}", "unknown", reason)
        assert registry.requests == []


class TestTokenFlow:
    @pytest.fixture
    def registry(self):
        with ImageRegistryEmulator([(REPO, "0.3.0"), (REPO, "0.2.0")], require_token=True, max_lifetime=60) as r:
            yield r

    def test_challenge_then_token_then_head(self, registry):
        assert hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")].status == "exists"
        assert [(r.method, r.path, r.status, r.authorized) for r in registry.requests] == [
            ("HEAD", f"{MANIFESTS}0.3.0", 401, False),
            ("GET", "/token", 200, False),
            ("HEAD", f"{MANIFESTS}0.3.0", 200, True),
        ]
        token_request = registry.requests[1]
        assert token_request.query == {"service": "registry.test", "scope": f"repository:{REPO}:pull"}

    def test_tokens_stay_out_of_logs_and_results(self, registry, caplog):
        caplog.set_level(logging.DEBUG)  # urllib3 and the hook at their chattiest
        results = hub(registry, [(REPO, "0.3.0"), (REPO, "9.9.9")])
        (token,) = registry.tokens_issued
        assert registry.count("HEAD") == 3
        assert caplog.text
        assert token not in caplog.text
        assert token not in repr(results)

    def test_missing_tag_behind_token(self, registry):
        assert hub(registry, [(REPO, "9.9.9")])[(REPO, "9.9.9")].status == "missing"

    def test_token_reused_for_another_tag_of_the_same_repository(self, registry):
        results = hub(registry, [(REPO, "0.3.0"), (REPO, "0.2.0"), (REPO, "9.9.9")], max_workers=4)
        assert [results[(REPO, t)].status for t in ("0.3.0", "0.2.0", "9.9.9")] == ["exists", "exists", "missing"]
        # Tags of one repository go through one worker: one challenge, one token, then the token up front.
        assert registry.count("GET", "/token") == 1
        assert registry.count("HEAD") == 4
        assert [r.status for r in registry.requests if r.method == "HEAD"] == [401, 200, 200, 404]

    def test_each_repository_gets_its_own_scope(self, registry):
        registry.add_image("airbyte/destination-duckdb", "0.1.0")
        results = hub(registry, [(REPO, "0.3.0"), ("airbyte/destination-duckdb", "0.1.0")])
        assert {check.status for check in results.values()} == {"exists"}
        scopes = sorted(r.query["scope"] for r in registry.requests if r.path == "/token")
        assert scopes == ["repository:airbyte/destination-duckdb:pull", f"repository:{REPO}:pull"]

    def test_token_granting_nothing_is_unknown_after_one_retry(self, registry):
        registry.private.add(REPO)
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check.status == "unknown"
        assert check.reason == "registry refused anonymous access (HTTP 401): private image, or no such repository?"
        assert [(r.method, r.status) for r in registry.requests] == [("HEAD", 401), ("GET", 200), ("HEAD", 401)]

    def test_refused_token_is_not_fetched_again_for_the_next_tag(self, registry):
        registry.private.add(REPO)
        results = hub(registry, [(REPO, "0.3.0"), (REPO, "0.2.0")])
        assert {check.status for check in results.values()} == {"unknown"}
        assert registry.count("GET", "/token") == 1
        assert registry.count("HEAD") == 3  # 401, 401 with token; second tag: 401 with the same token

    def test_a_registry_that_challenged_once_gets_the_next_repositorys_token_first(self, registry):
        registry.add_image("airbyte/destination-duckdb", "0.1.0")
        results = hub(registry, [(REPO, "0.3.0"), ("airbyte/destination-duckdb", "0.1.0")], max_workers=1)
        assert {check.status for check in results.values()} == {"exists"}
        assert [(r.method, r.status) for r in registry.requests] == [
            ("HEAD", 401),
            ("GET", 200),
            ("HEAD", 200),
            ("GET", 200),  # the second repository's token, before its first request
            ("HEAD", 200),
        ]

    def test_one_token_cache_serves_the_check_and_the_reads(self, registry):
        with ImageRegistry(docker_hub_url=registry.url, timeout=2) as client:
            assert client.check_images([(REPO, "0.3.0")])[(REPO, "0.3.0")].status == "exists"
            assert client.list_tags(REPO).tags == ("0.2.0", "0.3.0")
            assert client.requests_sent == {"manifest": 2, "token": 1, "tags": 1}
        assert registry.count("GET", "/token") == 1

    def test_garbage_token_answer_is_unknown(self, registry):
        registry.garbage_token = True
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "token service answered something that is not JSON")
        assert registry.count("HEAD") == 1

    def test_token_service_delay_is_bounded_by_the_timeout(self, registry):
        registry.token_delay = 10
        started = time.monotonic()
        check = hub(registry, [(REPO, "0.3.0")], timeout=0.5)[(REPO, "0.3.0")]
        elapsed = time.monotonic() - started
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "timed out after 0.5 s")
        assert elapsed < 2.5  # a guard, not a measurement: the token wait alone would be 10 s


def as_localhost(url: str) -> str:
    """The same server under another host name: what a check sees as another host."""
    return url.replace("://127.0.0.1:", "://localhost:")


class TestWhereTheCheckGoes:
    """A registry names the token service and redirect targets; the check asks only where it may."""

    @pytest.fixture
    def registry(self):
        with ImageRegistryEmulator([(REPO, "0.3.0")], require_token=True, max_lifetime=60) as r:
            yield r

    @pytest.fixture
    def elsewhere(self):
        """Another service (an internal address a hostile registry would like probed)."""
        with ImageRegistryEmulator([(REPO, "0.3.0")], max_lifetime=60) as r:
            yield r

    def test_token_realm_on_another_host_is_not_asked(self, registry, elsewhere):
        registry.realm = f"{as_localhost(elsewhere.url)}/token"
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check == ImageCheck(
            f"{REPO}:0.3.0",
            "unknown",
            "registry's token service is on another host (localhost), not asked; "
            "[airbyte_connectors] image_token_hosts lists the hosts allowed",
        )
        assert elsewhere.requests == []
        assert [(r.method, r.status) for r in registry.requests] == [("HEAD", 401)]

    def test_token_realm_on_an_allowed_host_is_asked(self, registry):
        registry.realm = f"{as_localhost(registry.url)}/token"
        assert hub(registry, [(REPO, "0.3.0")], token_hosts=["localhost"])[(REPO, "0.3.0")].status == "exists"
        assert registry.count("GET", "/token") == 1

    def test_docker_hubs_token_service_is_allowed_by_default(self, monkeypatch):
        assert DEFAULT_TOKEN_HOSTS == ("auth.docker.io",)
        assert settings.image_token_hosts() == ["auth.docker.io"]
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_TOKEN_HOSTS", " auth.docker.io, auth.mirror.example ")
        assert settings.image_token_hosts() == ["auth.docker.io", "auth.mirror.example"]

    def test_token_service_refusal_says_nothing_of_its_answer(self, registry):
        registry.token_status = 500
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "token service refused")

    def test_redirect_to_another_host_is_not_followed(self, registry, elsewhere):
        registry.require_token = False
        registry.redirect_to = as_localhost(elsewhere.url)
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "registry redirected to another host, not followed")
        assert elsewhere.requests == []

    def test_token_service_redirecting_to_another_host_is_not_followed(self, registry, elsewhere):
        # A token service on the registry's host (another port) that sends the check on elsewhere.
        with ImageRegistryEmulator(max_lifetime=60) as token_service:
            token_service.redirect_to = as_localhost(elsewhere.url)
            registry.realm = f"{token_service.url}/v2/token"
            check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
            assert token_service.count("GET", "/v2/token") == 1
        assert check.reason == "registry redirected to another host, not followed"
        assert elsewhere.requests == []

    def test_redirect_to_another_port_of_the_same_host_gets_no_token(self, registry, elsewhere):
        # Same host, another port: another server, which must not receive the registry's token.
        registry.redirect_to = elsewhere.url
        results = hub(registry, [(REPO, "0.3.0")])
        assert results[(REPO, "0.3.0")].reason == "registry redirected to another host, not followed"
        assert registry.count("GET", "/token") == 1
        assert [r for r in elsewhere.requests if r.authorized] == []

    def test_redirects_on_the_same_host_are_followed_a_few_times(self, registry):
        registry.require_token = False
        registry.redirect_to, registry.redirect_loop = registry.url, True
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "registry redirected too many times")
        assert registry.count("HEAD") == MAX_REDIRECTS + 1

    def test_credentials_in_the_registry_url_are_shown_nowhere(self, registry, caplog):
        caplog.set_level(logging.DEBUG)
        registry.token_status = 503
        url = registry.url.replace("http://", "http://mirror-user:mirror-pw-5e@")
        results = check_images([(REPO, "0.3.0"), (REPO, "9.9.9")], docker_hub_url=url, timeout=2)
        assert {check.reason for check in results.values()} == {"token service refused"}
        assert caplog.text
        for shown in (caplog.text, repr(results)):
            assert "mirror-pw-5e" not in shown and "mirror-user" not in shown

    def test_redirect_on_the_same_host_is_followed(self, registry):
        registry.require_token = False
        registry.redirect_to = registry.url
        assert hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")].status == "exists"
        assert [(r.path, r.status) for r in registry.requests] == [
            (f"{MANIFESTS}0.3.0", 307),
            (f"/moved{MANIFESTS}0.3.0", 200),
        ]


class TestRegistryProblems:
    @pytest.mark.parametrize(
        ("switch", "reason"),
        [
            ("rate_limited", "rate-limited by the registry (HTTP 429)"),
            ("server_error", "unexpected answer HTTP 500"),
            ("forbidden", "registry refused anonymous access (HTTP 403): private image, or no such repository?"),
        ],
        ids=["429", "500", "403"],
    )
    def test_error_answers_are_unknown(self, registry, switch, reason):
        setattr(registry, switch, True)
        assert hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")] == ImageCheck(f"{REPO}:0.3.0", "unknown", reason)

    def test_connection_refused_is_unknown(self):
        port = unused_port()
        results = check_images([(REPO, "0.3.0")], docker_hub_url=f"http://127.0.0.1:{port}", timeout=2)
        assert results[(REPO, "0.3.0")] == ImageCheck(
            f"{REPO}:0.3.0", "unknown", "registry unreachable: connection refused"
        )

    def test_slow_registry_times_out_within_a_bound(self, registry):
        registry.delay = 10
        images = [(REPO, "0.3.0"), (REPO, "0.2.0"), ("postgres", "16"), ("airbyte/source-faker", "6.0.0")]
        started = time.monotonic()
        results = hub(registry, images, timeout=0.5, max_workers=2)
        elapsed = time.monotonic() - started
        assert {check.reason for check in results.values()} == {"timed out after 0.5 s"}
        assert {check.status for check in results.values()} == {"unknown"}
        # Four images, two workers, 0.5 s each: about 1-1.5 s; 5x the per-image timeout as a guard only.
        assert elapsed < 4 * 0.5 * 5

    def test_trickling_registry_is_cut_off(self, registry):
        # Each byte comes well within the read timeout, the answer would take ~10 s: the call's guard ends it.
        registry.trickle = 0.1
        started = time.monotonic()
        check = hub(registry, [(REPO, "0.3.0")], timeout=0.5)[(REPO, "0.3.0")]
        elapsed = time.monotonic() - started
        assert check == ImageCheck(f"{REPO}:0.3.0", "unknown", "timed out after 0.5 s")
        assert elapsed < 5  # the guard is 0.5 * (1 + 1) + 1 s

    def test_trickling_token_service_holds_a_worker_only_until_the_deadline(self, registry):
        # The token service drips its headers a byte every 0.1 s; each image gets 0.5 s, and the one worker is
        # free again for the next registry's image once the first one's deadline has passed.
        registry.add_image("airbyte/source-faker", "6.0.0")
        with (
            ImageRegistryEmulator(trickle=0.1, max_lifetime=60) as token_service,
            ImageRegistryEmulator([("acme/slow", "1.0.0")], require_token=True, max_lifetime=60) as slow,
        ):
            slow.realm = f"{token_service.url}/token"
            started = time.monotonic()
            results = check_images(
                [("slow.test/acme/slow", "1.0.0"), ("airbyte/source-faker", "6.0.0")],
                docker_hub_url=registry.url,
                registry_urls={"slow.test": slow.url},
                timeout=0.5,
                max_workers=1,
            )
            elapsed = time.monotonic() - started
        assert results[("slow.test/acme/slow", "1.0.0")].reason == "timed out after 0.5 s"
        assert results[("airbyte/source-faker", "6.0.0")].status == "exists"
        assert elapsed < 0.5 * 6  # a guard: 0.5 s and call_by's 1 s grace for the first image, then one HEAD

    def test_basic_auth_challenge_is_unknown(self, registry):
        registry.basic_auth = True
        check = hub(registry, [(REPO, "0.3.0")])[(REPO, "0.3.0")]
        assert check.status == "unknown"
        assert check.reason == "registry requires Basic authentication (HTTP 401); only anonymous checks are made"
        assert registry.count("GET") == 0


class TestOncePerImage:
    def test_same_image_twice_is_asked_once(self, registry):
        results = hub(registry, [(REPO, "0.3.0"), (REPO, "0.3.0"), ("postgres", "16"), ("postgres", "16")])
        assert list(results) == [(REPO, "0.3.0"), ("postgres", "16")]
        assert registry.count("HEAD", f"{MANIFESTS}0.3.0") == 1
        assert registry.count("HEAD") == 2

    def test_many_images_one_request_each(self, registry):
        images = [(REPO, f"0.{minor}.0") for minor in range(12)] + [(f"airbyte/source-{n}", "1.0") for n in range(12)]
        results = hub(registry, images, max_workers=3)
        assert len(results) == 24
        assert registry.count("HEAD") == 24
        assert sum(check.status == "exists" for check in results.values()) == 2  # 0.2.0 and 0.3.0


class TestChallengeParams:
    def test_docker_hubs_challenge(self):
        from airflow_airbyte_connectors.clients.image_registry import challenge_params

        text = 'realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"'
        assert challenge_params(text) == {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:a/b:pull,push",
        }
        assert challenge_params(' Realm=x, service="y"') == {"realm": "x", "service": "y"}

    @pytest.mark.parametrize("unit", ['="', "= ", "a=", '0"', ","], ids=["quotes", "spaces", "pairs", "words", ","])
    def test_only_the_first_characters_of_a_hostile_header_are_read(self, unit):
        from airflow_airbyte_connectors.clients.image_registry import MAX_CHALLENGE, challenge_params

        params = challenge_params(unit * (1 << 19) + 'realm="https://late.example/token"')
        assert "realm" not in params  # past MAX_CHALLENGE: a bound on the work, whatever the header holds
        assert len(challenge_params("x=" + "a" * (2 * MAX_CHALLENGE))["x"]) < MAX_CHALLENGE


# -- tag lists and release dates ------------------------------------------------------------------

READ_REPO = "airbyte/source-x"  # the tag-list and release-date reads' image
TAGS_PATH = f"/v2/{READ_REPO}/tags/list"
HISTORY = SHARED_AIRBYTE / "connector-version-history.json"


@cache
def history() -> dict[str, Any]:
    return json.loads(HISTORY.read_text(encoding="utf-8"))


def tags(count: int) -> list[str]:
    return [f"{i // 100}.{i % 100}.0" for i in range(count)]


def registry_with(count: int, **kwargs: Any) -> ImageRegistryEmulator:
    registry = ImageRegistryEmulator(max_lifetime=60, **kwargs)
    for tag in tags(count):
        registry.add_image(READ_REPO, tag)
    return registry


def reader(registry: ImageRegistryEmulator, **kwargs: Any) -> ImageRegistry:
    kwargs.setdefault("timeout", 5.0)
    return ImageRegistry(docker_hub_url=registry.url, **kwargs)


def tag_pages(registry: ImageRegistryEmulator) -> list[tuple[int, dict[str, str]]]:
    return [(r.status, r.query) for r in registry.requests if r.path == TAGS_PATH]


class TestTagLists:
    def test_5000_tags_over_50_pages_cost_50_requests(self):
        with registry_with(5000, page_cap=100) as registry, reader(registry) as client:
            listed = client.list_tags(READ_REPO)
            assert listed.complete and listed.pages == 50
            assert sorted(listed.tags) == sorted(tags(5000)) and len(set(listed.tags)) == 5000
            assert len(registry.requests) == 50 and client.requests_sent == {"tags": 50}

    def test_5000_tags_with_a_token_cost_50_pages_a_challenge_and_a_token(self):
        with registry_with(5000, page_cap=100, require_token=True) as registry, reader(registry) as client:
            assert len(client.list_tags(READ_REPO).tags) == 5000
            statuses = [status for status, _ in tag_pages(registry)]
            assert statuses == [401] + [200] * 50
            assert registry.count("GET", "/token") == 1 and len(registry.requests) == 52
            assert client.requests_sent == {"tags": 51, "token": 1}

    def test_later_repositories_skip_the_challenge(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            registry.add_image("airbyte/source-y", "1.0.0")
            assert client.list_tags(READ_REPO).complete and client.list_tags("airbyte/source-y").complete
            assert [(r.path, r.status) for r in registry.requests] == [
                (TAGS_PATH, 401),
                ("/token", 200),
                (TAGS_PATH, 200),
                ("/token", 200),
                ("/v2/airbyte/source-y/tags/list", 200),
            ]

    @pytest.mark.parametrize("absolute", [False, True], ids=["relative-link", "absolute-link"])
    def test_link_relative_or_absolute_on_the_same_host(self, absolute):
        with registry_with(250, page_cap=100) as registry, reader(registry) as client:
            registry.link_base = registry.url if absolute else None
            listed = client.list_tags(READ_REPO)
            assert (listed.pages, len(listed.tags), listed.problem) == (3, 250, None)
            assert [q.get("last") for _, q in tag_pages(registry)] == [None, "0.99.0", "1.99.0"]

    def test_link_to_another_host_is_not_followed(self):
        with registry_with(250, page_cap=100) as registry, reader(registry) as client:
            # The same server under another host name: following the link would be answered.
            registry.link_base = registry.url.replace("127.0.0.1", "localhost")
            listed = client.list_tags(READ_REPO)
            assert listed.kind == "redirected" and not listed.complete
            assert listed.problem == "registry's next-page link points to another host (localhost), not followed"
            assert (listed.pages, len(listed.tags)) == (1, 100)
            assert len(registry.requests) == 1

    def test_link_to_another_path_is_not_followed(self):
        with registry_with(250, page_cap=100) as registry, reader(registry) as client:
            registry.link_base = registry.url + "/token?x="
            assert client.list_tags(READ_REPO).kind == "redirected"
            assert len(registry.requests) == 1

    def test_server_capping_n(self):
        with registry_with(250, page_cap=100) as registry, reader(registry, page_size=1000) as client:
            listed = client.list_tags(READ_REPO)
            assert (listed.pages, len(listed.tags), listed.complete) == (3, 250, True)
            assert [q["n"] for _, q in tag_pages(registry)] == ["1000", "100", "100"]

    def test_page_limit_is_a_named_problem(self):
        with registry_with(100, page_cap=10) as registry, reader(registry, max_pages=3) as client:
            listed = client.list_tags(READ_REPO)
            assert (listed.kind, listed.problem) == (
                "too_many_pages",
                "more than 3 pages of tags (30 tags read), stopped",
            )
            assert len(listed.tags) == 30 and len(registry.requests) == 3

    def test_unreachable_is_a_named_problem(self):
        with ImageRegistry(docker_hub_url=f"http://127.0.0.1:{unused_port()}", timeout=2) as client:
            listed = client.list_tags(READ_REPO)
            assert (listed.kind, listed.tags, listed.pages) == ("unreachable", (), 0)
            assert listed.problem and listed.problem.startswith("registry unreachable")
            assert client.release_date(READ_REPO, "1.0.0").kind == "unreachable"

    @pytest.mark.parametrize(
        ("switch", "kind"),
        [("rate_limited", "rate_limited"), ("forbidden", "refused"), ("server_error", "failed")],
    )
    def test_refusals_are_named(self, switch, kind):
        with registry_with(5, **{switch: True}) as registry, reader(registry) as client:
            assert client.list_tags(READ_REPO).kind == kind

    def test_unknown_repository_and_bad_names(self):
        with registry_with(5) as registry, reader(registry) as client:
            missing = client.list_tags("airbyte/source-nope")
            assert (missing.kind, missing.problem) == ("not_found", "no such repository in the registry (HTTP 404)")
            assert client.list_tags("Bad/Name").kind == "bad_name"
            assert client.release_date(READ_REPO, "1.0/../x").kind == "bad_name"
            assert len(registry.requests) == 1

    def test_a_trickling_registry_is_cut_at_the_deadline(self):
        with registry_with(5, trickle=0.2) as registry, reader(registry, timeout=1.0) as client:
            started = time.monotonic()
            listed = client.list_tags(READ_REPO)
            assert listed.kind == "timed_out" and listed.problem == "timed out after 1 s"
            assert time.monotonic() - started < 3.0

    def test_a_trickling_token_service_is_cut_at_the_deadline(self):
        with (
            registry_with(5, require_token=True) as registry,
            ImageRegistryEmulator(trickle=0.1, max_lifetime=60) as token_service,
            reader(registry, timeout=0.5) as client,
        ):
            registry.realm = f"{token_service.url}/token"
            started = time.monotonic()
            listed = client.list_tags(READ_REPO)
            assert (listed.kind, listed.problem) == ("timed_out", "timed out after 0.5 s")
            assert time.monotonic() - started < 0.5 * 5  # the deadline and call_by's 1 s grace

    def test_other_registries_from_the_image_name(self):
        with registry_with(0) as registry:
            registry.add_image("acme/x", "1.0.0")
            with ImageRegistry(registry_urls={"ghcr.io": registry.url}, timeout=5) as client:
                assert client.list_tags("ghcr.io/acme/x").tags == ("1.0.0",)
            assert [r.path for r in registry.requests] == ["/v2/acme/x/tags/list"]


class TestTagListBounds:
    """A hostile registry answers pages of tags without end: a repository's list and the run's lists are bounded
    by bytes, and a list that reaches a bound is unread (nothing of it kept)."""

    def test_per_repository_bound(self):
        with registry_with(1, endless_tags=300_000) as registry, reader(registry, max_list_bytes=1024**2) as client:
            listed = client.list_tags(READ_REPO)
            assert (listed.kind, listed.tags, listed.complete) == ("too_large", (), False)
            assert listed.problem == "tag list larger than 1 MB (the per-repository bound), not kept"
            assert len(registry.requests) == 4  # 3 pages of ~300 KB, and the 4th read only to the bound

    def test_per_run_bound_then_nothing_is_asked(self):
        repositories = [f"airbyte/source-{n}" for n in range(3)]
        with (
            registry_with(0, endless_tags=300_000) as registry,
            reader(registry, max_list_bytes=1024**2, max_run_bytes=2 * 1024**2) as client,
        ):
            for repository in repositories:
                registry.add_image(repository, "1.0.0")
            first, second, third = (client.list_tags(repository) for repository in repositories)
            assert first.kind == "too_large"
            over = "tag lists of this run reached 2 MB (the per-run bound), not read"
            assert (second.kind, second.problem, second.tags) == ("over_budget", over, ())
            assert (third.kind, third.problem) == ("over_budget", over)
            assert not [r for r in registry.requests if r.path == "/v2/airbyte/source-2/tags/list"]

    def test_memory_follows_the_budget_not_the_answer(self):
        # Scaled down: 5 repositories of endless 50 KB pages, 256 KB per repository, 1 MB per run. Unbounded, each
        # list would be 100 pages (5 MB) and the run some 200 MB of str objects.
        repositories = [f"airbyte/source-{n}" for n in range(5)]
        with registry_with(0, endless_tags=50_000) as registry:
            for repository in repositories:
                registry.add_image(repository, "1.0.0")
            with reader(registry, timeout=60, max_list_bytes=256 * 1024, max_run_bytes=1024**2) as client:
                tracemalloc.start()
                try:
                    answers = [client.list_tags(repository) for repository in repositories]
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
        assert peak < 16 * 1024**2, f"peak {peak / 1024**2:.1f} MB"
        assert {answer.kind for answer in answers} == {"too_large", "over_budget"}


class TestReleaseDates:
    def test_multi_arch_reads_amd64_in_three_requests(self):
        with registry_with(0, require_token=True) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "1.8.0", datetime.date(2024, 7, 16))  # its arm64 image says 2024-07-17
            assert client.list_tags(READ_REPO).tags == ("1.8.0",)
            registry.clear_requests()
            assert client.release_date(READ_REPO, "1.8.0") == ReleaseDate(
                READ_REPO, "1.8.0", datetime.date(2024, 7, 16)
            )
            paths = [(r.method, r.path.split("/")[-2], r.status, r.authorized) for r in registry.requests]
            assert paths == [
                ("GET", "manifests", 200, True),
                ("GET", "manifests", 200, True),
                ("GET", "blobs", 200, True),
            ]
            assert registry.requests[0].path.endswith("/1.8.0")

    def test_first_read_of_a_repository_asks_for_its_token(self):
        with registry_with(0, require_token=True) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "1.0.0", "2025-03-01T23:30:00-02:00")  # 2025-03-02 in UTC
            assert client.release_date(READ_REPO, "1.0.0").released == datetime.date(2025, 3, 2)
            assert client.requests_sent == {"manifest": 3, "token": 1, "blob": 1}

    def test_an_expired_token_is_replaced_once(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            assert client.list_tags(READ_REPO).complete
            registry.expire_tokens()
            registry.clear_requests()
            assert client.release_date(READ_REPO, "0.1.0").released == datetime.date(2024, 1, 1)
            assert [(r.path.split("/")[-1], r.status) for r in registry.requests][:3] == [
                ("0.1.0", 401),
                ("token", 200),
                ("0.1.0", 200),
            ]
            assert len(registry.tokens_issued) == 2

    def test_no_token_in_answers(self):
        with registry_with(3, require_token=True, page_cap=1) as registry, reader(registry, max_pages=2) as client:
            answers = [
                client.list_tags(READ_REPO),
                client.release_date(READ_REPO, "0.1.0"),
                client.release_date(READ_REPO, "9.0.0"),
            ]
            assert registry.tokens_issued
            assert not [token for token in registry.tokens_issued if token in repr(answers)]

    def test_single_arch_image(self):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "0.1.0", datetime.date(2023, 5, 1), multi_arch=False)
            assert client.release_date(READ_REPO, "0.1.0").released == datetime.date(2023, 5, 1)
            assert len(registry.requests) == 2

    def test_missing_tag_and_missing_created(self):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "1.0.0", None)
            assert client.release_date(READ_REPO, "9.9.9").kind == "not_found"
            undated = client.release_date(READ_REPO, "1.0.0")
            assert (undated.released, undated.kind) == (None, "invalid_answer")
            assert undated.problem == "image config of 1.0.0 has no usable creation time"

    @pytest.mark.parametrize("created", ["1970-01-01T00:00:00Z", "2014-12-31T23:59:59Z", "2099-01-01T00:00:00Z"])
    def test_an_implausible_build_time_is_no_date(self, created):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "1.0.0", created)
            undated = client.release_date(READ_REPO, "1.0.0")
            assert (undated.released, undated.kind) == (None, "undated")
            assert undated.problem == (
                f"image config of 1.0.0 says it was built {created[:10]}, not a plausible date: release date unknown"
            )

    def test_release_date_reads_are_capped_per_run(self):
        with registry_with(3) as registry, reader(registry, max_dates=2) as client:
            assert [client.release_date(READ_REPO, tag).kind for tag in ("0.0.0", "0.1.0", "0.0.0")] == [
                None,
                None,
                None,
            ]
            capped = client.release_date(READ_REPO, "0.2.0")
            assert (capped.kind, capped.released) == ("capped", None) and client.dates_capped
            assert registry.count("GET", f"/v2/{READ_REPO}/manifests/0.2.0") == 0

    def test_bytes_not_matching_their_digest_are_refused(self):
        with registry_with(0, corrupt_blobs=True) as registry, reader(registry) as client:
            registry.add_image(READ_REPO, "1.0.0", datetime.date(2024, 1, 2))
            corrupt = client.release_date(READ_REPO, "1.0.0")
            assert (corrupt.released, corrupt.kind) == (None, "invalid_answer")
            assert corrupt.problem and corrupt.problem.startswith("answer does not match its digest sha256:")

    def test_blob_on_a_cdn_host_allowed_without_the_token(self):
        with registry_with(0, require_token=True) as registry:
            registry.add_image(READ_REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = registry.url.replace("127.0.0.1", "localhost")
            with reader(registry, blob_hosts=["localhost"]) as client:
                assert client.release_date(READ_REPO, "1.0.0").released == datetime.date(2024, 1, 2)
            cdn = [r for r in registry.requests if r.path.startswith("/cdn/")]
            assert len(cdn) == 1 and not cdn[0].authorized

    def test_blob_on_another_host_refused(self):
        with registry_with(0) as registry:
            registry.add_image(READ_REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = registry.url.replace("127.0.0.1", "localhost")
            with reader(registry, blob_hosts=[]) as client:
                refused = client.release_date(READ_REPO, "1.0.0")
            assert refused.kind == "redirected" and refused.released is None
            assert refused.problem == "registry redirected a blob read to another host (localhost), not followed"
            assert not [r for r in registry.requests if r.path.startswith("/cdn/")]

    def test_blob_on_another_port_of_the_registry_host_refused(self):
        with registry_with(0, require_token=True) as registry, registry_with(0) as elsewhere:
            registry.add_image(READ_REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = elsewhere.url
            with reader(registry) as client:
                refused = client.release_date(READ_REPO, "1.0.0")
            assert refused.kind == "redirected" and refused.released is None
            shown = elsewhere.url.removeprefix("http://")
            assert refused.problem == f"registry redirected a blob read to another host ({shown}), not followed"
            assert elsewhere.requests == []


class TestRedirectsKeepTheToken:
    """A redirect carrying the token is followed only to the registry's origin: another port is another server."""

    @pytest.mark.parametrize("question", ["tags", "date"])
    def test_not_to_another_port_of_the_same_host(self, question):
        with registry_with(3, require_token=True) as registry, registry_with(3) as elsewhere:
            registry.redirect_to = elsewhere.url
            with reader(registry) as client:
                answer = client.list_tags(READ_REPO) if question == "tags" else client.release_date(READ_REPO, "0.1.0")
            assert (answer.kind, answer.problem) == ("redirected", "registry redirected to another host, not followed")
            assert registry.count("GET", "/token") == 1
            assert [r.path for r in elsewhere.requests if r.authorized] == []

    def test_to_the_same_origin_with_the_token(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            registry.redirect_to = registry.url
            assert client.release_date(READ_REPO, "0.1.0").released == datetime.date(2024, 1, 1)
            assert [r.authorized for r in registry.requests if r.path.startswith("/moved/")] == [True, True, True]


class TestOneRun:
    def test_second_ask_sends_nothing(self):
        with registry_with(250, page_cap=100, require_token=True) as registry, reader(registry) as client:
            first, date = client.list_tags(READ_REPO), client.release_date(READ_REPO, "1.5.0")
            sent = len(registry.requests)
            assert client.list_tags(READ_REPO) is first and client.release_date(READ_REPO, "1.5.0") is date
            assert len(registry.requests) == sent

    def test_problems_are_kept_for_the_run_too(self):
        with ImageRegistry(docker_hub_url=f"http://127.0.0.1:{unused_port()}", timeout=2) as client:
            assert client.list_tags(READ_REPO) is client.list_tags(READ_REPO)
            assert client.requests_sent == {"tags": 1}

    def test_threads_asking_the_same_question_share_one_answer(self):
        with registry_with(500, page_cap=100, delay=0.05) as registry, reader(registry) as client:
            answers: list[TagList] = []
            threads = [threading.Thread(target=lambda: answers.append(client.list_tags(READ_REPO))) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len({id(answer) for answer in answers}) == 1 and len(registry.requests) == 5


class TestRealHistories:
    def test_histories_listed_and_dated(self):
        with ImageRegistryEmulator(page_cap=100, require_token=True, max_lifetime=60) as registry:
            published = registry.seed_history(history())
            with reader(registry) as client:
                github = client.list_tags("airbyte/source-github")
                assert github.complete and len(github.tags) == 237 and github.pages == 3
                assert {"1.8.0", "2.0.0", "1.9.0-rc.1"} <= set(github.tags)
                assert client.release_date("airbyte/source-github", "2.0.0").released == datetime.date(2025, 10, 22)
                snowflake = client.list_tags("airbyte/destination-snowflake")
                assert "0.4.56 (broken)" not in snowflake.tags
                jira_undated = client.release_date("airbyte/source-jira", "0.2.4")
                assert jira_undated.kind == "invalid_answer"
        rows = sum(len(c["versions"]) for c in history()["connectors"])
        assert published == rows - 1  # the one row whose version is not a Docker tag
