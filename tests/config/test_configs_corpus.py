"""Every malformed basic_config is refused with a ``ConfigError`` that says what is wrong and where, in
bounded memory, and before anything is sent to Airbyte. How fast is measured in benchmarks/, not here.

The static cases live in ``tests/data/bad_configs/`` (its README explains the ``# expect:`` lines and the
``.expect`` sidecars); the cases that cannot be committed (a 50 MB file, a missing file, a directory, an
unreadable file, a symlink loop, a named pipe, a file just under the size limit...) are made here at run
time in ``tmp_path``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors.config import configs
from airflow_airbyte_connectors.config.configs import MAX_CONFIG_BYTES, MAX_YAML_DEPTH, ConfigError, get_configs

CORPUS = Path(__file__).parent.parent / "data" / "bad_configs"
CASES = sorted(CORPUS.glob("*.yaml"))
EXPECT = "# expect: "
MIN_CASES = 30

# A bound against pathological blow-ups (alias bombs, huge or deep files), not a performance target: the peak
# memory (tracemalloc) of a load. A count, so the machine's load does not change it.
MAX_PEAK_BYTES = 50 * 1024 * 1024

MANY_PROBLEMS = CORPUS / "many_problems.yaml"
MANY_PROBLEMS_MISTAKES = 9  # the mistakes made on purpose in many_problems.yaml

# Every problem is one line that starts with where it is: a path in the file, a line of it, or the file
# as a whole.
LOCATED = re.compile(
    r"(connectors(\.\w+|\[\d+\])*: "
    r"|YAML syntax: line \d+[,:] "
    r"|not UTF-8 text "
    r"|file (is|not) "
    r"|top level must be "
    r"|is a (directory|FIFO|character device|block device|socket)"
    r"|cannot read file: )"
)

# configs.py uses libyaml when PyYAML has it and falls back to the pure-Python loader otherwise: both must
# refuse the corpus the same way.
LOADERS = {"libyaml": getattr(yaml, "CSafeLoader", None), "pure-python": yaml.SafeLoader}


@pytest.fixture(params=list(LOADERS))
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if LOADERS[request.param] is None:
        pytest.skip("PyYAML is built without libyaml")
    monkeypatch.setattr(configs, "_SAFE_LOADER", LOADERS[request.param])
    return request.param


def expectations(case: Path) -> list[str]:
    """The regexes the error for ``case`` must match: its sidecar's lines, or its ``# expect:`` lines."""
    sidecar = case.with_suffix(".expect")
    if sidecar.exists():
        return [line for line in sidecar.read_text(encoding="utf-8").splitlines() if line.strip()]
    text = case.read_text(encoding="utf-8")
    return [line.removeprefix(EXPECT) for line in text.splitlines() if line.startswith(EXPECT)]


def refused(path: str | os.PathLike[str]) -> ConfigError:
    """The ConfigError loading ``path`` raises. Acceptance, or any other exception escaping (TypeError,
    RecursionError, MemoryError, a YAML or OS error...), fails the test: callers may rely on catching
    ConfigError alone."""
    try:
        get_configs("connectors", path=path)
    except ConfigError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the point is to see what escapes
        pytest.fail(f"{type(exc).__name__} escaped instead of ConfigError: {exc!r}"[:2000], pytrace=False)
    pytest.fail(f"{path} was accepted as a valid basic_config", pytrace=False)


def load_measured(path: str | os.PathLike[str]) -> tuple[ConfigError, int]:
    """Load ``path`` (which must be refused); return the ConfigError and the peak traced memory in bytes."""
    tracemalloc.start()
    try:
        error = refused(path)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


def assert_bounded(peak: int) -> None:
    assert peak < MAX_PEAK_BYTES, f"peak memory {peak / 2**20:.1f} MB (bound {MAX_PEAK_BYTES / 2**20:.0f} MB)"


def assert_located(error: ConfigError) -> None:
    for problem in error.problems:
        assert "\n" not in problem, f"a problem must be one line: {problem!r}"
        assert LOCATED.match(problem), f"a problem must start with where it is: {problem!r}"


class TestCorpus:
    def test_corpus_cannot_silently_shrink(self):
        assert len(CASES) >= MIN_CASES, f"only {len(CASES)} cases in {CORPUS}"

    def test_every_case_says_what_its_error_must_say(self):
        for case in CASES:
            patterns = expectations(case)
            assert patterns, f"{case.name}: no '{EXPECT}' line and no {case.stem}.expect sidecar"
            for pattern in patterns:
                re.compile(pattern)
            if case.with_suffix(".expect").exists():
                assert EXPECT.encode() not in case.read_bytes(), f"{case.name}: expectations in two places"
        for sidecar in CORPUS.glob("*.expect"):
            assert sidecar.with_suffix(".yaml").exists(), f"{sidecar.name} has no case"

    @pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
    def test_each_malformed_file_is_refused_saying_what_and_where(self, case: Path, loader: str):
        error, peak = load_measured(case)
        text = str(error)
        missing = [pattern for pattern in expectations(case) if not re.search(pattern, text, re.MULTILINE)]
        assert not missing, f"{case.name} ({loader}): {missing} not found in:\n{text}"
        assert str(case) in text, "the message names the file"
        assert_located(error)
        assert_bounded(peak)

    def test_several_mistakes_are_all_reported_each_with_its_path(self):
        patterns = expectations(MANY_PROBLEMS)
        assert len(patterns) == MANY_PROBLEMS_MISTAKES
        error, _ = load_measured(MANY_PROBLEMS)
        assert len(error.problems) == MANY_PROBLEMS_MISTAKES, "\n".join(error.problems)
        assert f"({MANY_PROBLEMS_MISTAKES} problems):" in str(error)
        for pattern in patterns:
            # re.match: the problem starts with the path
            matching = [problem for problem in error.problems if re.match(pattern, problem)]
            assert len(matching) == 1, f"{pattern!r} matches {matching}"


class TestGeneratedCases:
    """Cases that cannot be committed: made in tmp_path at run time."""

    def test_50_mb_file_is_refused_without_parsing_it(self, tmp_path: Path):
        path = tmp_path / "basic_config.yaml"
        entry = "    - {name: x, dockerRepository: a/b, dockerImageTag: '1', documentationUrl: 'https://x'}\n"
        with path.open("w") as handle:
            handle.write("connectors:\n  source_definitions:\n")
            handle.write(entry * (50 * 1024 * 1024 // len(entry)))
        size = path.stat().st_size
        assert size > MAX_CONFIG_BYTES
        error, peak = load_measured(path)
        assert error.problems == [f"file is {size} bytes; the limit is {MAX_CONFIG_BYTES} bytes"]
        assert_bounded(peak)
        assert peak < MAX_CONFIG_BYTES, "the file was read although its size alone refuses it"

    def test_missing_file(self, tmp_path: Path):
        path = tmp_path / "configs" / "basic_config.yaml"
        error, _ = load_measured(path)
        assert str(error) == f"Invalid basic_config {path} (1 problem):\n  - file not found"

    def test_directory_instead_of_a_file(self, tmp_path: Path):
        error, _ = load_measured(tmp_path)
        assert error.problems == ["is a directory, expected a YAML file"]
        assert str(tmp_path) in str(error)

    def test_symlink_loop(self, tmp_path: Path):
        loop = tmp_path / "basic_config.yaml"
        loop.symlink_to(loop)
        error, peak = load_measured(loop)
        assert len(error.problems) == 1
        assert re.fullmatch(r"cannot read file: .*symbolic links.*", error.problems[0]), error.problems
        assert_bounded(peak)

    def test_path_with_a_nul_byte(self, tmp_path: Path):
        # The path can come from a DAG run's conf: a NUL in it must not escape as a bare ValueError.
        error, _ = load_measured(f"{tmp_path}/basic\x00config.yaml")
        assert len(error.problems) == 1
        assert re.search(r"null byte|NUL", error.problems[0]), error.problems
        assert_located(error)

    def test_named_pipe_streaming_past_the_limit(self, tmp_path: Path):
        """A FIFO (like /dev/stdin) has st_size 0 and opening it blocks until a writer comes: it is refused
        unopened, even with a writer streaming 50 MB into it."""
        pipe = tmp_path / "basic_config.yaml"
        os.mkfifo(pipe)
        # Not UTF-8 at byte 12, so a loader that reads it all fails at once instead of parsing 50 MB.
        head, chunk, chunks = b"connectors: \xff\n", b"#" * (1 << 20), 50
        stop = threading.Event()
        writer = threading.Thread(target=feed_pipe, args=(pipe, head, chunk, chunks, stop), daemon=True)
        writer.start()
        try:
            error, peak = load_measured(pipe)
        finally:
            stop.set()
            writer.join(timeout=5)
        assert error.problems == ["is a FIFO (named pipe), expected a YAML file"]
        assert_bounded(peak)

    def test_file_just_under_the_limit_full_of_tiny_mistakes(self, tmp_path: Path):
        """A file within MAX_CONFIG_BYTES is still refused within the bounds: the size limit must bound the
        work, and a problem per 2 bytes of input must not become hundreds of MB of messages."""
        head = b"connectors:\n  source_definitions: ["
        mistakes = (MAX_CONFIG_BYTES - len(head) - len(b"x]\n")) // 2
        path = tmp_path / "basic_config.yaml"
        path.write_bytes(head + b"x," * mistakes + b"x]\n")
        assert path.stat().st_size <= MAX_CONFIG_BYTES
        result = run_bounded_child(path, "default")
        assert result["outcome"] == "ConfigError", result
        assert LOCATED.match(result["first_problem"]), result
        assert_bounded(result["peak"])

    def test_values_of_1_mb_are_refused_and_quoted_short(self, tmp_path: Path):
        """A 1 MB URL (in the shape that made the old URL pattern backtrack for about an hour) and 600 kB in
        every other field: each is refused by its length, and no problem echoes more than a short quote of it."""
        big = "a" * (600 * 1024)
        path = tmp_path / "basic_config.yaml"
        path.write_text(
            "connectors:\n  source_definitions:\n"
            f"    - name: {big}\n"
            f"      dockerRepository: airbyte/{big}\n"
            f"      dockerImageTag: v{big}\n"
            f"      documentationUrl: 'https://{'a' * (1 << 20)} x'\n"
            f"      sourceDefinitionId: {big}\n"
            f"    - name: Other\n      dockerRepository: airbyte/{big}\n"
            f"      dockerImageTag: '1.0'\n      documentationUrl: https://x.example\n"
        )
        error, peak = load_measured(path)
        assert [problem.split(": ")[0] for problem in error.problems] == [
            f"connectors.source_definitions[0].{field}"
            for field in ("name", "dockerRepository", "dockerImageTag", "documentationUrl", "sourceDefinitionId")
        ] + ["connectors.source_definitions[1].dockerRepository"] * 2
        assert "is too long: the limit is 256 characters" in error.problems[3]
        assert "already used by connectors.source_definitions[0]" in error.problems[6]
        for problem in error.problems:
            assert len(problem) < 250, problem[:300]
        assert_located(error)
        assert_bounded(peak)

    @pytest.mark.parametrize(
        "content",
        [f"connectors: *{'a' * 100_000}\n", f"connectors: !{'t' * 100_000} x\n"],
        ids=["undefined-alias", "unknown-tag"],
    )
    def test_a_long_alias_or_tag_is_quoted_short(self, tmp_path: Path, loader: str, content: str):
        path = tmp_path / "basic_config.yaml"
        path.write_text(content)
        error, _ = load_measured(path)
        assert len(error.problems) == 1
        assert re.match(r"YAML syntax: line 1, column 13: .{1,250}$", error.problems[0]), error.problems[0][:300]
        assert_located(error)

    def test_deep_nesting_with_the_pure_python_loader(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        """5000 nested lists (10 kB): libyaml stops at 1000 levels; the pure-Python fallback must too, refused by
        the streaming pre-scan at the first bracket past MAX_YAML_DEPTH, before its composer recurses 5000 deep
        (a RecursionError after its scanner's quadratic time: 20 s here)."""
        monkeypatch.setattr(configs, "_SAFE_LOADER", LOADERS["pure-python"])
        prefix = "  source_definitions: "
        path = tmp_path / "basic_config.yaml"
        path.write_text(f"connectors:\n{prefix}" + "[" * 5000 + "]" * 5000 + "\n")
        (problem,) = refused(path).problems
        found = re.fullmatch(
            rf"YAML syntax: line 2, column (\d+): nested more than {MAX_YAML_DEPTH} levels deep", problem
        )
        assert found, problem
        # Where it stopped: within the first MAX_YAML_DEPTH + 1 brackets, not at the end of the 5000.
        assert int(found[1]) <= len(prefix) + MAX_YAML_DEPTH + 1


def feed_pipe(pipe: Path, head: bytes, chunk: bytes, chunks: int, stop: threading.Event) -> None:
    """Write ``head`` then ``chunks`` x ``chunk`` into the FIFO once a reader opens it; stop when the reader
    goes away, or when ``stop`` is set before any reader came."""
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or stop.is_set():
                return
            time.sleep(0.005)
    os.set_blocking(fd, True)
    try:
        for data in [head] + [chunk] * chunks:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError:  # EPIPE: the reader stopped reading, as it should
        pass
    finally:
        os.close(fd)


# Cases that blow up are loaded in a child process (a traced load), so a blow-up costs at most CHILD_SECONDS
# and CHILD_ADDRESS_SPACE instead of the test session (or the machine). CHILD_SECONDS stops a hang, it measures
# nothing: a blow-up here takes minutes to hours, a refusal well under a second even on a loaded machine.
CHILD_SECONDS = 120
CHILD_ADDRESS_SPACE = 2 * 1024**3
CHILD = textwrap.dedent(
    """
    import json, sys, tracemalloc
    import yaml
    from airflow_airbyte_connectors.config import configs

    if sys.argv[2] == "pure-python":
        configs._SAFE_LOADER = yaml.SafeLoader

    def load():
        try:
            configs.get_configs("connectors", path=sys.argv[1])
        except configs.ConfigError as exc:
            return "ConfigError", exc.problems[0] if exc.problems else ""
        except Exception as exc:
            return type(exc).__name__ + " escaped", repr(exc)
        return "accepted", ""

    tracemalloc.start()
    outcome, first = load()
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"outcome": outcome, "first_problem": first[:300], "peak": peak}))
    """
)


def run_bounded_child(path: Path, loader: str) -> dict[str, Any]:
    def limit_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))

    # The child imports the same configs module as this process.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(configs.__file__).parents[2]), *sys.path])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), loader],
            capture_output=True,
            text=True,
            timeout=CHILD_SECONDS,
            env=env,
            preexec_fn=limit_memory if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still loading after {CHILD_SECONDS} s: killed", pytrace=False)
    if done.returncode != 0 or not done.stdout.strip():
        pytest.fail(f"the child failed (exit {done.returncode}): {done.stderr[-2000:]}", pytrace=False)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_prepare_sends_nothing_to_airbyte_for_any_bad_input(monkeypatch: pytest.MonkeyPatch):
    """prepare (the DAG's first task) stops at the config: it never even builds the Airbyte hook.

    The hook module is replaced by one whose hook refuses to be built, so this runs without Airflow or an
    emulator; any request would have had to go through that hook.
    """
    from airflow_airbyte_connectors.tasks.prepare import prepare

    reached: list[str] = []

    class RefusingHook:
        def __init__(self, *args: Any, **kwargs: Any):
            raise LookupError("prepare built an Airbyte hook")

    stub = types.ModuleType("airflow_airbyte_connectors.hooks.airbyte_definitions")
    stub.AirbyteDefinitionsHook = RefusingHook  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, stub.__name__, stub)
    for case in CASES:
        try:
            prepare(config_path=str(case))
        except ConfigError:
            pass
        except LookupError:
            reached.append(case.name)
    assert reached == [], f"prepare got as far as Airbyte for: {reached}"
