"""What pyproject.toml promises: a runtime without TensorFlow, one TensorFlow in the train extra, and a README
headless install that lists exactly the runtime's requirements with the headless OpenCV in place of the GUI one.

(The install itself, in a fresh venv, is measured by hand for the README: it needs a package index.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
requirements = pytest.importorskip("packaging.requirements")

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = [
    {"platform_machine": machine, "platform_system": system, "sys_platform": sys_platform}
    for machine, system, sys_platform in (
        ("x86_64", "Linux", "linux"),
        ("aarch64", "Linux", "linux"),  # Raspberry Pi OS 64-bit
        ("arm64", "Darwin", "darwin"),
        ("AMD64", "Windows", "win32"),
    )
]


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(reqs: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Distribution names of the requirements that apply on ``env`` (all of them when None)."""
    parsed = [requirements.Requirement(r) for r in reqs]
    return [r.name.lower() for r in parsed if env is None or r.marker is None or r.marker.evaluate(env)]


def test_the_runtime_needs_no_tensorflow_and_opens_windows():
    runtime = _names(_project()["dependencies"])
    assert not [n for n in runtime if n.startswith(("tensorflow", "keras", "tf2onnx", "face-detection"))]
    assert "opencv-python" in runtime and "opencv-python-headless" not in runtime


@pytest.mark.parametrize("env", PLATFORMS, ids=lambda e: e["platform_machine"])
def test_the_train_extra_installs_exactly_one_tensorflow(env):
    train = _names(_project()["optional-dependencies"]["train"], env)
    assert len([n for n in train if n in ("tensorflow", "tensorflow-cpu")]) == 1, train


def test_the_readme_headless_install_lists_the_runtime_with_headless_opencv():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if "pip install" in line and "opencv-python-headless" in line)
    listed = {requirements.Requirement(r) for r in re.findall(r'"([^"]+)"', line)}
    runtime = {requirements.Requirement(r) for r in _project()["dependencies"]}
    want = {(r.name.replace("opencv-python", "opencv-python-headless"), str(r.specifier)) for r in runtime}
    assert {(r.name, str(r.specifier)) for r in listed} == want
    assert "pip install --no-deps ." in readme
