"""The image pre-flight against the registry stand-in over real HTTP: answers, token flow, faults, bounds."""

from __future__ import annotations

import logging
import time

import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.clients.image_registry import (
    DEFAULT_TOKEN_HOSTS,
    DOCKER_HUB,
    MAX_REDIRECTS,
    ImageCheck,
    ImageReference,
    check_images,
    parse_reference,
)
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.support import unused_port

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
