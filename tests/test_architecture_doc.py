"""docs/architecture.md names every module of the package and every DAG file, so the map cannot drift."""

from __future__ import annotations

from tests.support import REPO_ROOT

PACKAGE = REPO_ROOT / "airflow_airbyte_connectors"
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"


def modules() -> list[str]:
    """Each module as the map names it: its path under the package (``clients/image_tags.py``) or under the
    repository for a DAG file (``dags/create_connectors.py``). The emulator is one entry (``testing/``)."""
    found = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and "testing" not in path.relative_to(PACKAGE).parts
    ]
    found += [path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "dags").glob("*.py")]
    return sorted(found)


def test_every_module_is_on_the_map():
    text = ARCHITECTURE.read_text()
    assert "`testing/`" in text
    missing = [module for module in modules() if f"`{module}`" not in text]
    assert missing == [], f"docs/architecture.md does not name {', '.join(missing)}"


def test_the_map_names_no_module_that_is_gone():
    import re

    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", ARCHITECTURE.read_text()))
    on_disk = set(modules())
    # Names in prose may point at other files of the repository (scripts, benchmarks): only package paths count.
    gone = sorted(
        n for n in named if n not in on_disk and ((PACKAGE / n).parent.is_dir() and not (PACKAGE / n).exists())
    )
    assert gone == [], f"docs/architecture.md names modules that do not exist: {', '.join(gone)}"
