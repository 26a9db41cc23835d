"""Tag lists and release dates against the image-registry stand-in over real HTTP: pagination, bounds, token
flow, multi-arch dates, the per-run cache and the requests each question costs."""

from __future__ import annotations

import datetime
import json
import threading
import time
import tracemalloc
from functools import cache
from typing import Any

import pytest

from airflow_airbyte_connectors.clients.image_registry import ImageTags, ReleaseDate, TagList
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.support import SHARED_AIRBYTE, unused_port

REPO = "airbyte/source-x"
TAGS_PATH = f"/v2/{REPO}/tags/list"
HISTORY = SHARED_AIRBYTE / "connector-version-history.json"


@cache
def history() -> dict[str, Any]:
    return json.loads(HISTORY.read_text(encoding="utf-8"))


def tags(count: int) -> list[str]:
    return [f"{i // 100}.{i % 100}.0" for i in range(count)]


def registry_with(count: int, **kwargs: Any) -> ImageRegistryEmulator:
    registry = ImageRegistryEmulator(max_lifetime=60, **kwargs)
    for tag in tags(count):
        registry.add_image(REPO, tag)
    return registry


def reader(registry: ImageRegistryEmulator, **kwargs: Any) -> ImageTags:
    kwargs.setdefault("timeout", 5.0)
    return ImageTags(docker_hub_url=registry.url, **kwargs)


def tag_pages(registry: ImageRegistryEmulator) -> list[tuple[int, dict[str, str]]]:
    return [(r.status, r.query) for r in registry.requests if r.path == TAGS_PATH]


class TestTagLists:
    def test_5000_tags_over_50_pages_cost_50_requests(self):
        with registry_with(5000, page_cap=100) as registry, reader(registry) as client:
            listed = client.list_tags(REPO)
            assert listed.complete and listed.pages == 50
            assert sorted(listed.tags) == sorted(tags(5000)) and len(set(listed.tags)) == 5000
            assert len(registry.requests) == 50 and client.requests_sent == {"tags": 50}

    def test_5000_tags_with_a_token_cost_50_pages_a_challenge_and_a_token(self):
        with registry_with(5000, page_cap=100, require_token=True) as registry, reader(registry) as client:
            assert len(client.list_tags(REPO).tags) == 5000
            statuses = [status for status, _ in tag_pages(registry)]
            assert statuses == [401] + [200] * 50
            assert registry.count("GET", "/token") == 1 and len(registry.requests) == 52
            assert client.requests_sent == {"tags": 51, "token": 1}

    def test_later_repositories_skip_the_challenge(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            registry.add_image("airbyte/source-y", "1.0.0")
            assert client.list_tags(REPO).complete and client.list_tags("airbyte/source-y").complete
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
            listed = client.list_tags(REPO)
            assert (listed.pages, len(listed.tags), listed.problem) == (3, 250, None)
            assert [q.get("last") for _, q in tag_pages(registry)] == [None, "0.99.0", "1.99.0"]

    def test_link_to_another_host_is_not_followed(self):
        with registry_with(250, page_cap=100) as registry, reader(registry) as client:
            # The same server under another host name: following the link would be answered.
            registry.link_base = registry.url.replace("127.0.0.1", "localhost")
            listed = client.list_tags(REPO)
            assert listed.kind == "redirected" and not listed.complete
            assert listed.problem == "registry's next-page link points to another host (localhost), not followed"
            assert (listed.pages, len(listed.tags)) == (1, 100)
            assert len(registry.requests) == 1

    def test_link_to_another_path_is_not_followed(self):
        with registry_with(250, page_cap=100) as registry, reader(registry) as client:
            registry.link_base = registry.url + "/token?x="
            assert client.list_tags(REPO).kind == "redirected"
            assert len(registry.requests) == 1

    def test_server_capping_n(self):
        with registry_with(250, page_cap=100) as registry, reader(registry, page_size=1000) as client:
            listed = client.list_tags(REPO)
            assert (listed.pages, len(listed.tags), listed.complete) == (3, 250, True)
            assert [q["n"] for _, q in tag_pages(registry)] == ["1000", "100", "100"]

    def test_page_limit_is_a_named_problem(self):
        with registry_with(100, page_cap=10) as registry, reader(registry, max_pages=3) as client:
            listed = client.list_tags(REPO)
            assert (listed.kind, listed.problem) == (
                "too_many_pages",
                "more than 3 pages of tags (30 tags read), stopped",
            )
            assert len(listed.tags) == 30 and len(registry.requests) == 3

    def test_unreachable_is_a_named_problem(self):
        with ImageTags(docker_hub_url=f"http://127.0.0.1:{unused_port()}", timeout=2) as client:
            listed = client.list_tags(REPO)
            assert (listed.kind, listed.tags, listed.pages) == ("unreachable", (), 0)
            assert listed.problem and listed.problem.startswith("registry unreachable")
            assert client.release_date(REPO, "1.0.0").kind == "unreachable"

    @pytest.mark.parametrize(
        ("switch", "kind"),
        [("rate_limited", "rate_limited"), ("forbidden", "refused"), ("server_error", "failed")],
    )
    def test_refusals_are_named(self, switch, kind):
        with registry_with(5, **{switch: True}) as registry, reader(registry) as client:
            assert client.list_tags(REPO).kind == kind

    def test_unknown_repository_and_bad_names(self):
        with registry_with(5) as registry, reader(registry) as client:
            missing = client.list_tags("airbyte/source-nope")
            assert (missing.kind, missing.problem) == ("not_found", "no such repository in the registry (HTTP 404)")
            assert client.list_tags("Bad/Name").kind == "bad_name"
            assert client.release_date(REPO, "1.0/../x").kind == "bad_name"
            assert len(registry.requests) == 1

    def test_a_trickling_registry_is_cut_at_the_deadline(self):
        with registry_with(5, trickle=0.2) as registry, reader(registry, timeout=1.0) as client:
            started = time.monotonic()
            listed = client.list_tags(REPO)
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
            listed = client.list_tags(REPO)
            assert (listed.kind, listed.problem) == ("timed_out", "timed out after 0.5 s")
            assert time.monotonic() - started < 0.5 * 5  # the deadline and call_by's 1 s grace

    def test_other_registries_from_the_image_name(self):
        with registry_with(0) as registry:
            registry.add_image("acme/x", "1.0.0")
            with ImageTags(registry_urls={"ghcr.io": registry.url}, timeout=5) as client:
                assert client.list_tags("ghcr.io/acme/x").tags == ("1.0.0",)
            assert [r.path for r in registry.requests] == ["/v2/acme/x/tags/list"]


class TestTagListBounds:
    """A hostile registry answers pages of tags without end: a repository's list and the run's lists are bounded
    by bytes, and a list that reaches a bound is unread (nothing of it kept)."""

    def test_per_repository_bound(self):
        with registry_with(1, endless_tags=300_000) as registry, reader(registry, max_list_bytes=1024**2) as client:
            listed = client.list_tags(REPO)
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
            registry.add_image(REPO, "1.8.0", datetime.date(2024, 7, 16))  # its arm64 image says 2024-07-17
            assert client.list_tags(REPO).tags == ("1.8.0",)
            registry.clear_requests()
            assert client.release_date(REPO, "1.8.0") == ReleaseDate(REPO, "1.8.0", datetime.date(2024, 7, 16))
            paths = [(r.method, r.path.split("/")[-2], r.status, r.authorized) for r in registry.requests]
            assert paths == [
                ("GET", "manifests", 200, True),
                ("GET", "manifests", 200, True),
                ("GET", "blobs", 200, True),
            ]
            assert registry.requests[0].path.endswith("/1.8.0")

    def test_first_read_of_a_repository_asks_for_its_token(self):
        with registry_with(0, require_token=True) as registry, reader(registry) as client:
            registry.add_image(REPO, "1.0.0", "2025-03-01T23:30:00-02:00")  # 2025-03-02 in UTC
            assert client.release_date(REPO, "1.0.0").released == datetime.date(2025, 3, 2)
            assert client.requests_sent == {"manifest": 3, "token": 1, "blob": 1}

    def test_an_expired_token_is_replaced_once(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            assert client.list_tags(REPO).complete
            registry.expire_tokens()
            registry.clear_requests()
            assert client.release_date(REPO, "0.1.0").released == datetime.date(2024, 1, 1)
            assert [(r.path.split("/")[-1], r.status) for r in registry.requests][:3] == [
                ("0.1.0", 401),
                ("token", 200),
                ("0.1.0", 200),
            ]
            assert len(registry.tokens_issued) == 2

    def test_no_token_in_answers(self):
        with registry_with(3, require_token=True, page_cap=1) as registry, reader(registry, max_pages=2) as client:
            answers = [client.list_tags(REPO), client.release_date(REPO, "0.1.0"), client.release_date(REPO, "9.0.0")]
            assert registry.tokens_issued
            assert not [token for token in registry.tokens_issued if token in repr(answers)]

    def test_single_arch_image(self):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(REPO, "0.1.0", datetime.date(2023, 5, 1), multi_arch=False)
            assert client.release_date(REPO, "0.1.0").released == datetime.date(2023, 5, 1)
            assert len(registry.requests) == 2

    def test_missing_tag_and_missing_created(self):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(REPO, "1.0.0", None)
            assert client.release_date(REPO, "9.9.9").kind == "not_found"
            undated = client.release_date(REPO, "1.0.0")
            assert (undated.released, undated.kind) == (None, "invalid_answer")
            assert undated.problem == "image config of 1.0.0 has no usable creation time"

    @pytest.mark.parametrize("created", ["1970-01-01T00:00:00Z", "2014-12-31T23:59:59Z", "2099-01-01T00:00:00Z"])
    def test_an_implausible_build_time_is_no_date(self, created):
        with registry_with(0) as registry, reader(registry) as client:
            registry.add_image(REPO, "1.0.0", created)
            undated = client.release_date(REPO, "1.0.0")
            assert (undated.released, undated.kind) == (None, "undated")
            assert undated.problem == (
                f"image config of 1.0.0 says it was built {created[:10]}, not a plausible date: release date unknown"
            )

    def test_release_date_reads_are_capped_per_run(self):
        with registry_with(3) as registry, reader(registry, max_dates=2) as client:
            assert [client.release_date(REPO, tag).kind for tag in ("0.0.0", "0.1.0", "0.0.0")] == [None, None, None]
            capped = client.release_date(REPO, "0.2.0")
            assert (capped.kind, capped.released) == ("capped", None) and client.dates_capped
            assert registry.count("GET", f"/v2/{REPO}/manifests/0.2.0") == 0

    def test_bytes_not_matching_their_digest_are_refused(self):
        with registry_with(0, corrupt_blobs=True) as registry, reader(registry) as client:
            registry.add_image(REPO, "1.0.0", datetime.date(2024, 1, 2))
            corrupt = client.release_date(REPO, "1.0.0")
            assert (corrupt.released, corrupt.kind) == (None, "invalid_answer")
            assert corrupt.problem and corrupt.problem.startswith("answer does not match its digest sha256:")

    def test_blob_on_a_cdn_host_allowed_without_the_token(self):
        with registry_with(0, require_token=True) as registry:
            registry.add_image(REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = registry.url.replace("127.0.0.1", "localhost")
            with reader(registry, blob_hosts=["localhost"]) as client:
                assert client.release_date(REPO, "1.0.0").released == datetime.date(2024, 1, 2)
            cdn = [r for r in registry.requests if r.path.startswith("/cdn/")]
            assert len(cdn) == 1 and not cdn[0].authorized

    def test_blob_on_another_host_refused(self):
        with registry_with(0) as registry:
            registry.add_image(REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = registry.url.replace("127.0.0.1", "localhost")
            with reader(registry, blob_hosts=[]) as client:
                refused = client.release_date(REPO, "1.0.0")
            assert refused.kind == "redirected" and refused.released is None
            assert refused.problem == "registry redirected a blob read to another host (localhost), not followed"
            assert not [r for r in registry.requests if r.path.startswith("/cdn/")]

    def test_blob_on_another_port_of_the_registry_host_refused(self):
        with registry_with(0, require_token=True) as registry, registry_with(0) as elsewhere:
            registry.add_image(REPO, "1.0.0", datetime.date(2024, 1, 2))
            registry.blob_redirect = elsewhere.url
            with reader(registry) as client:
                refused = client.release_date(REPO, "1.0.0")
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
                answer = client.list_tags(REPO) if question == "tags" else client.release_date(REPO, "0.1.0")
            assert (answer.kind, answer.problem) == ("redirected", "registry redirected to another host, not followed")
            assert registry.count("GET", "/token") == 1
            assert [r.path for r in elsewhere.requests if r.authorized] == []

    def test_to_the_same_origin_with_the_token(self):
        with registry_with(3, require_token=True) as registry, reader(registry) as client:
            registry.redirect_to = registry.url
            assert client.release_date(REPO, "0.1.0").released == datetime.date(2024, 1, 1)
            assert [r.authorized for r in registry.requests if r.path.startswith("/moved/")] == [True, True, True]


class TestOneRun:
    def test_second_ask_sends_nothing(self):
        with registry_with(250, page_cap=100, require_token=True) as registry, reader(registry) as client:
            first, date = client.list_tags(REPO), client.release_date(REPO, "1.5.0")
            sent = len(registry.requests)
            assert client.list_tags(REPO) is first and client.release_date(REPO, "1.5.0") is date
            assert len(registry.requests) == sent

    def test_problems_are_kept_for_the_run_too(self):
        with ImageTags(docker_hub_url=f"http://127.0.0.1:{unused_port()}", timeout=2) as client:
            assert client.list_tags(REPO) is client.list_tags(REPO)
            assert client.requests_sent == {"tags": 1}

    def test_threads_asking_the_same_question_share_one_answer(self):
        with registry_with(500, page_cap=100, delay=0.05) as registry, reader(registry) as client:
            answers: list[TagList] = []
            threads = [threading.Thread(target=lambda: answers.append(client.list_tags(REPO))) for _ in range(4)]
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
