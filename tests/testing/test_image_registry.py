"""The image-registry stand-in speaks Docker Registry v2 as registries do: tag pages, multi-arch manifests, blobs."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

import pytest
import requests
import yaml

from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from airflow_airbyte_connectors.testing.__main__ import build_image_registry, build_image_registry_parser, main
from airflow_airbyte_connectors.testing.image_content import OCI_INDEX, OCI_MANIFEST, ImageContent
from tests.support import REPO_ROOT, SHARED_AIRBYTE

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


class TestCommand:
    """``airbyte-emulator image-registry``: the stand-in from the command line, seeded from a release history."""

    @staticmethod
    def tags(registry: ImageRegistryEmulator, repository: str) -> list[str]:
        return get(registry, f"/v2/{repository}/tags/list").json()["tags"]

    def test_publishes_the_history_shipped_with_the_package_by_default(self):
        args = build_image_registry_parser().parse_args(["--port", "0"])
        assert args.history == "builtin" and args.host == "127.0.0.1"
        with build_image_registry(args) as registry:
            assert {"2.1.14", "2.7.1"} <= set(self.tags(registry, "airbyte/source-github"))
            # Every Docker Hub image of the example basic_config is there at its tag: its plan finds them all.
            example = yaml.safe_load((REPO_ROOT / "examples" / "basic_config.yaml").read_text())["connectors"]
            for entry in example["source_definitions"] + example["destination_definitions"]:
                if entry["dockerRepository"].startswith("airbyte/"):
                    assert entry["dockerImageTag"] in self.tags(registry, entry["dockerRepository"]), entry

    def test_publishes_a_history_file_each_version_built_on_its_day(self, tmp_path):
        history = {"connectors": [{"dockerRepository": REPO, "versions": [{"version": "1.2.3", "date": "2025-02-03"}]}]}
        (tmp_path / "history.json").write_text(json.dumps(history))
        args = build_image_registry_parser().parse_args(["--port", "0", "--history", str(tmp_path / "history.json")])
        with build_image_registry(args) as registry:
            assert self.tags(registry, REPO) == ["1.2.3"]
            index = get(registry, f"/v2/{REPO}/manifests/1.2.3").json()
            (amd64,) = [m for m in index["manifests"] if m["platform"]["architecture"] == "amd64"]
            config = get(registry, f"/v2/{REPO}/manifests/{amd64['digest']}").json()["config"]
            assert get(registry, f"/v2/{REPO}/blobs/{config['digest']}").json()["created"] == "2025-02-03T12:00:00Z"

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (None, "cannot read the file"),
            ("{", "not JSON (line 1"),
            ('{"connectors": [{"versions": []}]}', "expected connectors, each with dockerRepository"),
        ],
        ids=["missing", "not-json", "not-a-history"],
    )
    def test_an_unusable_history_is_one_line_and_exit_2(self, tmp_path, capsys, content, message):
        path = tmp_path / "history.json"
        if content is not None:
            path.write_text(content)
        assert main(["image-registry", "--port", "0", "--max-lifetime", "1", "--history", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"airbyte-emulator: history {path}: ") and message in err and err.count("\n") == 1
