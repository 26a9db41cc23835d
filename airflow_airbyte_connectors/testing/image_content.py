"""What the image-registry stand-in holds: tags, multi-arch manifests and config blobs with ``created``.

A tag names an OCI index with three entries, in this order: linux/arm64, linux/amd64 and a build attestation
(``unknown/unknown``), as ``docker buildx`` publishes them. Each platform's manifest has its own config blob;
the arm64 one says it was built a day later, so a client that reads the wrong manifest gets a wrong date.
Everything is content-addressed (``sha256:`` of the exact bytes served). Seedable from a release history
(``connector-version-history.json``: per connector, rows of version and date).
"""

from __future__ import annotations

import bisect
import datetime
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_airbyte_connectors.config.configs import DOCKER_TAG_RE

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DEFAULT_CREATED = "2024-01-01T00:00:00Z"
# The time of day a history date is published at (histories give days only).
RELEASE_TIME = datetime.time(12, 0, tzinfo=datetime.UTC)

Created = str | datetime.date | None


class ImageContent:
    """Repositories, their tags and the manifests and blobs behind them; safe to change while served."""

    def __init__(self) -> None:
        self._tags: dict[str, dict[str, str]] = {}  # name -> tag -> digest of what the tag names
        self._sorted: dict[str, list[str]] = {}  # name -> its tags in lexical order (the order tags/list uses)
        self._objects: dict[str, tuple[str, bytes]] = {}  # digest -> (media type, bytes): manifests and blobs
        self._lock = threading.Lock()

    def add(self, name: str, tag: str, created: Created = DEFAULT_CREATED, *, multi_arch: bool = True) -> None:
        """Publish ``name:tag``. ``created``: an RFC 3339 time, a date (published at noon UTC) or None (the
        config has no ``created``). ``multi_arch=False``: the tag names a single Docker manifest."""
        stamp = _stamp(created)
        amd64 = self._platform_manifest("amd64", stamp, docker=not multi_arch)
        if multi_arch:
            later = _stamp(_next_day(created)) if created is not None else None
            arm64 = self._platform_manifest("arm64", later, docker=False)
            attestation = self._store(OCI_MANIFEST, {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})
            entries = [
                self._entry(arm64, {"architecture": "arm64", "os": "linux", "variant": "v8"}),
                self._entry(amd64, {"architecture": "amd64", "os": "linux"}),
                self._entry(attestation, {"architecture": "unknown", "os": "unknown"}),
            ]
            target = self._store(OCI_INDEX, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        else:
            target = amd64
        with self._lock:
            tags = self._tags.setdefault(name, {})
            if tag not in tags:
                bisect.insort(self._sorted.setdefault(name, []), tag)
            tags[tag] = target

    def remove(self, name: str, tag: str) -> None:
        with self._lock:
            if self._tags.get(name, {}).pop(tag, None) is not None:
                self._sorted[name].remove(tag)

    def has(self, name: str, tag: str) -> bool:
        with self._lock:
            return tag in self._tags.get(name, {})

    def has_repository(self, name: str) -> bool:
        with self._lock:
            return bool(self._tags.get(name))

    def tags(self, name: str) -> list[str]:
        with self._lock:
            return list(self._sorted.get(name, []))

    def page(self, name: str, n: int | None, last: str | None) -> tuple[list[str], bool]:
        """Tags after ``last`` in lexical order, at most ``n`` (None: all), and whether more follow."""
        with self._lock:
            ordered = self._sorted.get(name, [])
            start = bisect.bisect_right(ordered, last) if last else 0
            stop = len(ordered) if n is None else min(len(ordered), start + n)
            return ordered[start:stop], stop < len(ordered)

    def manifest(self, name: str, reference: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of the manifest a tag or digest names in ``name``."""
        with self._lock:
            tags = self._tags.get(name, {})
            digest = tags.get(reference) or (reference if reference in tags.values() else None)
            if digest is None and reference.startswith("sha256:") and tags:
                digest = reference  # a platform manifest: reachable from the repository's indexes
            found = self._objects.get(digest) if digest else None
        return found if found and found[0] != OCI_CONFIG and found[0] != DOCKER_CONFIG else None

    def blob(self, name: str, digest: str) -> bytes | None:
        with self._lock:
            found = self._objects.get(digest) if self._tags.get(name) else None
        return found[1] if found and found[0] in (OCI_CONFIG, DOCKER_CONFIG) else None

    def any_blob(self, digest: str) -> bytes | None:
        """A config blob by digest alone, as a CDN serves it (no repository in the path)."""
        with self._lock:
            found = self._objects.get(digest)
        return found[1] if found and found[0] in (OCI_CONFIG, DOCKER_CONFIG) else None

    def seed_history(self, history: Mapping[str, Any], repositories: Iterable[str] | None = None) -> int:
        """Publish every row of a release history whose version is a Docker tag (``0.4.56 (broken)`` is not);
        a row without a date gets a config without ``created``. Returns how many tags were published."""
        wanted = set(repositories) if repositories is not None else None
        published = 0
        for connector in history.get("connectors", []):
            repository = connector.get("dockerRepository", "")
            if wanted is not None and repository not in wanted:
                continue
            for row in connector.get("versions", []):
                version = str(row.get("version", ""))
                if DOCKER_TAG_RE.match(version):
                    date = row.get("date")
                    self.add(repository, version, datetime.date.fromisoformat(date) if date else None)
                    published += 1
        return published

    def _platform_manifest(self, architecture: str, created: str | None, *, docker: bool) -> str:
        config: dict[str, Any] = {"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}}
        if created is not None:
            config["created"] = created
        config_type, manifest_type = (DOCKER_CONFIG, DOCKER_MANIFEST) if docker else (OCI_CONFIG, OCI_MANIFEST)
        config_digest = self._store(config_type, config)
        with self._lock:
            size = len(self._objects[config_digest][1])
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": size},
            "layers": [],
        }
        return self._store(manifest_type, manifest)

    def _entry(self, digest: str, platform: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            size = len(self._objects[digest][1])
        return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": dict(platform)}

    def _store(self, media_type: str, document: Mapping[str, Any]) -> str:
        body = json.dumps(document, separators=(",", ":")).encode()
        digest = digest_of(body)
        with self._lock:
            self._objects[digest] = (media_type, body)
        return digest


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _stamp(created: Created) -> str | None:
    if created is None or isinstance(created, str):
        return created
    if isinstance(created, datetime.datetime):
        return created.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return datetime.datetime.combine(created, RELEASE_TIME).isoformat().replace("+00:00", "Z")


def _next_day(created: Created) -> Created:
    if isinstance(created, str):
        return datetime.datetime.fromisoformat(created.replace("Z", "+00:00")) + datetime.timedelta(days=1)
    assert created is not None
    return created + datetime.timedelta(days=1)
