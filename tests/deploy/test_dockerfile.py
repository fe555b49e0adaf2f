"""The Dockerfile builds a small, pinned, non-root image that runs the operator.

No container engine runs here, so these tests read the Dockerfile the way a reviewer
would: pinned base images, a numeric unprivileged user, the right entrypoint, and COPY
sources that exist and that .dockerignore lets through.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex

import helmchart

DOCKERFILE = helmchart.REPOSITORY / "Dockerfile"
DOCKERIGNORE = helmchart.REPOSITORY / ".dockerignore"


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


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    ignore = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    copies = [rest for keyword, rest in instructions()
              if keyword == "COPY" and not rest.startswith("--from")]

    sources = [source for copy in copies for source in shlex.split(copy)[:-1]]
    assert sources
    for source in sources:
        assert (helmchart.REPOSITORY / source).exists(), f"COPY {source}: no such file"
        assert _in_context(source.rstrip("/"), ignore), f"COPY {source}: .dockerignore drops it"


def _in_context(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path``: the last matching pattern decides."""
    kept = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
            kept = negated
    return kept
