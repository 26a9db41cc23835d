"""The image-registry stand-in speaks Docker Registry v2 as registries do: tag pages, multi-arch manifests, blobs."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

import pytest
import requests

from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from airflow_airbyte_connectors.testing.image_content import OCI_INDEX, OCI_MANIFEST, ImageContent
from tests.support import SHARED_AIRBYTE

REPO = "airbyte/source-x"


@pytest.fixture
def registry():
    with ImageRegistryEmulator(max_lifetime=60) as r:
        for minor in range(12):
            r.add_image(REPO, f"1.{minor}.0", datetime.date(2024, 1, 1 + minor))
        yield r


def get(registry: ImageRegistryEmulator, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(registry.url + path, timeout=5, allow_redirects=False, **kwargs)


class TestTagPages:
    def test_pages_by_n_and_last_in_lexical_order(self, registry):
        first = get(registry, f"/v2/{REPO}/tags/list?n=5")
        assert first.json() == {"name": REPO, "tags": ["1.0.0", "1.1.0", "1.10.0", "1.11.0", "1.2.0"]}
        assert first.headers["Link"] == f'</v2/{REPO}/tags/list?n=5&last=1.2.0>; rel="next"'
        last = get(registry, f"/v2/{REPO}/tags/list?n=5&last=1.7.0")
        assert last.json()["tags"] == ["1.8.0", "1.9.0"] and "Link" not in last.headers

    def test_server_cap_and_absolute_links(self, registry):
        registry.page_cap, registry.link_base = 4, registry.url
        page = get(registry, f"/v2/{REPO}/tags/list?n=100")
        assert len(page.json()["tags"]) == 4
        assert page.headers["Link"] == f'<{registry.url}/v2/{REPO}/tags/list?n=4&last=1.11.0>; rel="next"'

    def test_all_tags_without_n_and_errors(self, registry):
        assert len(get(registry, f"/v2/{REPO}/tags/list").json()["tags"]) == 12
        assert get(registry, "/v2/airbyte/nope/tags/list").status_code == 404
        assert get(registry, f"/v2/{REPO}/tags/list?n=x").status_code == 400


class TestManifestsAndBlobs:
    def test_a_tag_is_an_index_of_arm64_amd64_and_an_attestation(self, registry):
        index = get(registry, f"/v2/{REPO}/manifests/1.3.0")
        assert index.headers["Content-Type"] == OCI_INDEX
        assert index.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(index.content).hexdigest()
        platforms = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index.json()["manifests"]]
        assert platforms == [("linux", "arm64"), ("linux", "amd64"), ("unknown", "unknown")]
        created = {}
        for entry in index.json()["manifests"][:2]:
            manifest = get(registry, f"/v2/{REPO}/manifests/{entry['digest']}")
            assert manifest.headers["Content-Type"] == OCI_MANIFEST and len(manifest.content) == entry["size"]
            blob = get(registry, f"/v2/{REPO}/blobs/{manifest.json()['config']['digest']}")
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == manifest.json()["config"]["digest"]
            created[entry["platform"]["architecture"]] = blob.json()["created"]
        assert created == {"amd64": "2024-01-04T12:00:00Z", "arm64": "2024-01-05T12:00:00Z"}

    def test_head_still_answers_the_image_check(self, registry):
        assert requests.head(f"{registry.url}/v2/{REPO}/manifests/1.3.0", timeout=5).status_code == 200
        assert requests.head(f"{registry.url}/v2/{REPO}/manifests/9.9.9", timeout=5).status_code == 404

    def test_blobs_redirected_to_a_cdn(self, registry):
        index = get(registry, f"/v2/{REPO}/manifests/1.3.0").json()
        config = get(registry, f"/v2/{REPO}/manifests/{index['manifests'][1]['digest']}").json()["config"]
        registry.blob_redirect = "http://cdn.test"
        moved = get(registry, f"/v2/{REPO}/blobs/{config['digest']}")
        assert (moved.status_code, moved.headers["Location"]) == (307, f"http://cdn.test/cdn/blobs/{config['digest']}")
        assert json.loads(get(registry, f"/cdn/blobs/{config['digest']}").content)["architecture"] == "amd64"

    def test_blobs_need_the_token_too(self, registry):
        registry.require_token = True
        assert get(registry, f"/v2/{REPO}/tags/list").status_code == 401
        assert get(registry, f"/v2/{REPO}/blobs/sha256:{'0' * 64}").status_code == 401


class TestContent:
    def test_removed_tag_leaves_the_list(self):
        content = ImageContent()
        for tag in ("b", "a", "c"):
            content.add("r", tag)
        content.remove("r", "b")
        assert content.tags("r") == ["a", "c"] and content.page("r", 1, "a") == (["c"], False)

    def test_seeded_from_real_histories(self):
        history = json.loads((SHARED_AIRBYTE / "connector-version-history.json").read_text(encoding="utf-8"))
        content = ImageContent()
        assert content.seed_history(history, ["airbyte/destination-snowflake"]) == 258
        assert "0.4.56 (broken)" not in content.tags("airbyte/destination-snowflake")
        assert content.tags("airbyte/source-github") == []
