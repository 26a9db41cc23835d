"""docs/architecture.md names every module of the package and every DAG file, so the map cannot drift."""

from __future__ import annotations

from pathlib import Path

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


# What a module of the pure core never imports, at any depth of its code: Airflow, and what talks to a network.
NOT_PURE = ("airflow", "requests", "urllib3", "tenacity", "socket", "http", "urllib.request")


def rooms() -> dict[str, str]:
    """Each module of the map's table with the room it stands in (``pure core``, ``talking to other systems``, ...)."""
    import re

    table = ARCHITECTURE.read_text().split("## The modules", 1)[1]
    room, found = "", {}
    for line in table.splitlines():
        if heading := re.match(r"\| \*\*(.+?)\*\* \|", line):
            room = heading.group(1)
        elif line.startswith("| `"):
            for module in re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", line.split("|")[1]):
                found[module] = room
    return found


def imports_of(path: Path, *, type_checking: bool = False) -> list[str]:
    """Every module ``path`` imports when it runs, also inside functions; those for type checking only too when
    ``type_checking``."""
    import ast

    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only and not type_checking:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and is_package(node.module):
            found += [f"{node.module}.{alias.name}" for alias in node.names]  # modules of a package
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def is_package(name: str | None) -> bool:
    """Whether ``name`` is this package or one of its sub-packages: then ``from name import x`` imports module x."""
    return (
        bool(name) and (name == PACKAGE.name or name.startswith(PACKAGE.name + ".")) and module_path(name).endswith("/")
    )


def module_path(name: str) -> str:
    """``airflow_airbyte_connectors.clients.image_registry`` -> ``clients/image_registry.py``; a package: its folder."""
    relative = "" if name == PACKAGE.name else name.removeprefix(PACKAGE.name + ".").replace(".", "/")
    return relative + ".py" if relative and (PACKAGE / f"{relative}.py").exists() else relative + "/"


def test_the_pure_core_imports_nothing_of_the_other_rooms():
    on_map = rooms()
    pure = sorted(module for module, room in on_map.items() if room == "pure core")
    assert len(pure) > 20 and "plan/planning.py" in pure and "config/configs.py" in pure
    crossings = []
    for module in pure:
        for name in imports_of(PACKAGE / module):
            if name.split(".")[0] == PACKAGE.name:
                target = module_path(name)
                if on_map.get(target) != "pure core":
                    crossings.append(f"{module} imports {target} ({on_map.get(target, 'not on the map')})")
            elif any(name == banned or name.startswith(banned + ".") for banned in NOT_PURE):
                crossings.append(f"{module} imports {name}")
    assert crossings == [], "the pure core reaches into other rooms:\n" + "\n".join(crossings)


def part_of(module: str) -> str:
    """The part a module belongs to: its sub-package (``plan``), or the module itself at the top (``settings``)."""
    return module.removeprefix(PACKAGE.name + ".").split(".")[0]


def test_the_parts_stand_in_layers():
    """A part (a sub-package, or a module at the top) imports only parts below it, for type checking too: no
    circle of parts, so each can be read, and changed, knowing only what is below it. The emulator (testing/)
    stands beside the product."""
    uses: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for name in imports_of(path, type_checking=True):
            if part == "testing" or not name.startswith(PACKAGE.name + ".") or part_of(name) in (part, "testing"):
                continue
            if (PACKAGE / module_path(name)).exists():  # a module or package, not a name such as __version__
                uses.setdefault(part, set()).add(part_of(name))
    assert {"config", "plan", "upgrades", "records"} <= set(uses) and "core" not in uses
    # Peel off, again and again, the parts that use no part left or that no part left uses: what stays stands in
    # a circle.
    left = {part: set(used) for part, used in uses.items()}
    for used in list(left.values()):
        left.update({part: set() for part in used if part not in left})
    while peeled := [
        part for part, used in left.items() if not used & set(left) or not any(part in other for other in left.values())
    ]:
        for part in peeled:
            del left[part]
    circle = {part: sorted(used & set(left)) for part, used in sorted(left.items())}
    assert circle == {}, f"parts in a circle, each with the parts of it that it imports: {circle}"
