"""The Dockerfile builds a small, pinned, non-root image that runs the operator.

No container engine runs here, so these tests read the Dockerfile the way a reviewer
would: pinned base images, a numeric unprivileged user, the right entrypoint, and COPY
sources that exist and that .dockerignore lets through.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import helmchart
import pytest

REPOSITORY = helmchart.REPOSITORY
DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments gone."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = []
    for line in lines:
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def build_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for keyword, arg in instructions()
                if keyword == "ARG" and "=" in arg)


def stages() -> list[str]:
    """The base image of each stage, with build arguments substituted."""
    args = build_args()
    images = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_every_stage_starts_from_a_base_image_pinned_to_a_patch_version() -> None:
    images = stages()

    assert len(images) >= 2, "expected a multi-stage build"
    for image in images:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image), image


def test_the_image_runs_as_a_numeric_non_root_user_matching_the_chart() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    values = helmchart.CHART / "values.yaml"

    assert users, "no USER instruction: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) > 0
    assert not group or group.isdigit()
    assert f"runAsUser: {user}" in values.read_text()


def test_the_entrypoint_runs_the_operator() -> None:
    entrypoints = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]

    assert entrypoints
    assert json.loads(entrypoints[-1]) == ["dask-plugin-operator", "run"]


def test_the_package_is_installed_with_pip_in_the_build_stage() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]

    assert any(re.search(r"pip install \.", run) for run in runs)


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def in_context(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path``, as Docker decides it.

    A pattern applies to a path when it matches the path or one of its parent directories;
    the last pattern that applies decides, and a leading ``!`` keeps instead of dropping.
    """
    parts = Path(path).parts
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    kept = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!").strip("/").replace("**", "*")
        if any(fnmatch.fnmatchcase(candidate, bare) for candidate in candidates):
            kept = negated
    return kept


def build_context(target: Path) -> None:
    """Copy into ``target`` the files that ``docker build .`` would send."""
    patterns = dockerignore_patterns()
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPOSITORY, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    for name in tracked:
        source, copy = REPOSITORY / name, target / name
        if not in_context(name, patterns):
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            # Docker sends links as links: a link out of the context would dangle.
            copy.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, copy)


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    copies = [rest for keyword, rest in instructions()
              if keyword == "COPY" and not rest.startswith("--from")]

    sources = [source for copy in copies for source in shlex.split(copy)[:-1]]
    assert sources
    for source in sources:
        assert (REPOSITORY / source).exists(), f"COPY {source}: no such file"
        assert in_context(source.rstrip("/"), patterns), f"COPY {source}: .dockerignore drops it"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = dockerignore_patterns()

    for path in (".venv/bin/python", ".tools/helm", ".git/HEAD", "tests/deploy/rbac.py",
                 "operator/dask_plugin_operator/__pycache__/cli.cpython-311.pyc"):
        assert not in_context(path, patterns), path
    assert in_context("operator/dask_plugin_operator/cli.py", patterns)


@pytest.mark.timeout(300)
def test_the_package_builds_from_the_build_context_alone(tmp_path: Path) -> None:
    context, wheels = tmp_path / "context", tmp_path / "wheels"
    build_context(context)

    # What the build stage's `pip install .` does first: build the wheel, isolated.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--quiet", "--wheel-dir", str(wheels), str(context)],
        capture_output=True, text=True, timeout=240,
    )
    assert built.returncode == 0, f"The build context does not build:\n{built.stderr}"
    (wheel,) = wheels.glob("dask_plugin_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert "dask_plugin_operator/cli.py" in names
    for crd in (REPOSITORY / "crds").glob("*.yaml"):
        assert f"dask_plugin_operator/crds/{crd.name}" in names
    assert "dask-plugin-operator = dask_plugin_operator.cli:main" in scripts
