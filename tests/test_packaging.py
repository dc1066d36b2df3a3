"""Packaging checks: pyproject extras, the conda and Binder environments, the TensorFlow hint."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_EXTRAS = {"cpu", "lab"}


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    return {Requirement(line).name.lower(): Requirement(line) for line in lines}


def _admits(requirement: Requirement, yes: list[str], no: list[str]) -> None:
    for version in yes:
        assert Version(version) in requirement.specifier, (str(requirement), version)
    for version in no:
        assert Version(version) not in requirement.specifier, (str(requirement), version)


# --- pyproject.toml ---------------------------------------------------------------------------


def test_cpu_extra_pins_tensorflow_cpu_2_21(pyproject):
    cpu = _requirements(pyproject["project"]["optional-dependencies"]["cpu"])
    assert set(cpu) == {"tensorflow-cpu"}
    assert cpu["tensorflow-cpu"].extras == set()
    _admits(cpu["tensorflow-cpu"], yes=["2.21.0", "2.21.3"], no=["2.20.0", "2.22.0", "3.0"])


def test_gpu_extra_pins_tensorflow_and_cuda_2_21(pyproject):
    gpu = _requirements(pyproject["project"]["optional-dependencies"]["gpu"])
    assert set(gpu) == {"tensorflow"}
    assert gpu["tensorflow"].extras == {"and-cuda"}
    _admits(gpu["tensorflow"], yes=["2.21.0", "2.21.3"], no=["2.20.0", "2.22.0", "3.0"])


def test_tensorflow_is_only_an_extra(pyproject):
    runtime = _requirements(pyproject["project"]["dependencies"])
    assert not {"tensorflow", "tensorflow-cpu", "tf-keras"} & set(runtime)


def test_runtime_dependencies(pyproject):
    runtime = _requirements(pyproject["project"]["dependencies"])
    for name in ("numpy", "scipy", "matplotlib", "ipympl", "scikit-learn", "tensorboard"):
        assert name in runtime, name
    _admits(runtime["ipywidgets"], yes=["8.1.5", "8.9"], no=["7.8.0", "9.0"])
    # TF 2.21 no longer pulls tensorboard in: it must match TensorFlow's minor version.
    _admits(runtime["tensorboard"], yes=["2.21.0"], no=["2.20.0", "2.22.0"])


def test_test_and_lab_extras(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    test = _requirements(extras["test"])
    assert {"pytest", "ruff", "pyyaml"} <= set(test)
    lab = _requirements(extras["lab"])
    assert {"jupyterlab", "voila"} <= set(lab)
    _admits(lab["jupyterlab"], yes=["4.2.0", "4.6.0"], no=["3.6.0", "5.0.0"])


# --- environment.yml, binder/ -----------------------------------------------------------------


def _load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def _conda_python(environment: dict) -> str:
    specs = [d for d in environment["dependencies"] if isinstance(d, str)]
    pythons = [d for d in specs if re.fullmatch(r"python(\W.*)?", d)]
    assert len(pythons) == 1, specs
    match = re.fullmatch(r"python\s*=\s*(\d+\.\d+)", pythons[0])
    assert match, f"pin Python as python=X.Y, not {pythons[0]!r}"
    assert "pip" in specs
    return match.group(1)


def _pip_section(environment: dict) -> list[str]:
    sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(sections) <= 1
    return sections[0] if sections else []


def _editable_install(arguments: list[str]) -> tuple[Path, set[str]]:
    """Return (project folder, extras) of a `-e PATH[extras]` pip argument list."""
    assert arguments[:1] == ["-e"] and len(arguments) == 2, arguments
    match = re.fullmatch(r"(?P<path>[^\[\]]+)\[(?P<extras>[\w,\- ]+)\]", arguments[1])
    assert match, arguments
    extras = {extra.strip() for extra in match.group("extras").split(",")}
    return Path(match.group("path")), extras


def _project_name(folder: Path) -> str:
    with open(folder / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["name"]


def test_conda_environment_installs_this_package(pyproject):
    environment = _load_yaml(ROOT / "environment.yml")
    assert environment["name"] == pyproject["project"]["name"]
    assert environment["channels"] == ["conda-forge"]
    python = _conda_python(environment)
    assert Version(python) in SpecifierSet(pyproject["project"]["requires-python"])
    assert Version(python) in SpecifierSet(">=3.10,<3.13")
    pip = _pip_section(environment)
    assert len(pip) == 1, "everything but Python comes from pyproject.toml"
    # conda runs pip from the environment file's folder.
    folder, extras = _editable_install(shlex.split(pip[0]))
    assert (ROOT / folder).resolve() == ROOT
    assert _project_name(ROOT / folder) == pyproject["project"]["name"]
    assert extras == EXPECTED_EXTRAS


def test_binder_matches_conda_environment(pyproject):
    root = _load_yaml(ROOT / "environment.yml")
    binder = _load_yaml(ROOT / "binder" / "environment.yml")
    assert _conda_python(binder) == _conda_python(root)
    assert binder["channels"] == root["channels"]
    # repo2docker installs the environment before it copies the repository in.
    assert _pip_section(binder) == []

    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    lines = [line.strip() for line in post_build.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == "#!/bin/bash"
    commands = [line for line in lines[1:] if line and not line.startswith("#")]
    assert "set -e" in commands or "set -euo pipefail" in commands
    installs = [shlex.split(c) for c in commands if re.match(r"(python3? -m )?pip3? install", c)]
    assert len(installs) == 1, commands
    arguments = [a for a in installs[0] if a not in {"python", "python3", "-m"}]
    arguments = [a for a in arguments[2:] if a not in {"--no-cache-dir", "--quiet", "-q"}]
    # postBuild runs from the repository root.
    folder, extras = _editable_install(arguments)
    assert (ROOT / folder).resolve() == ROOT
    assert _project_name(ROOT / folder) == pyproject["project"]["name"]
    assert extras == EXPECTED_EXTRAS


def test_ci_script_is_executable_bash():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


# --- a missing TensorFlow gets an install hint --------------------------------------------------

BLOCKERS = {
    # `import tensorflow` raises ModuleNotFoundError, as when no TensorFlow is installed.
    "not-installed": "import sys\nsys.modules['tensorflow'] = None\n",
    # A broken install: the package is found but raises ImportError (missing shared library).
    "broken": "",
}


@pytest.fixture
def broken_tensorflow(tmp_path: Path) -> Path:
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise ImportError('libtensorflow_framework.so.2: cannot open shared object file')\n"
    )
    return tmp_path


@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
@pytest.mark.parametrize("module", ["olexplore._tensorflow", "olexplore.engine"])
def test_import_without_tensorflow_names_the_extras(module, blocker, broken_tensorflow):
    code = BLOCKERS[blocker] + textwrap.dedent(
        f"""
        try:
            import {module}
        except ImportError as error:
            print("IMPORT-ERROR", error)
        else:
            print("IMPORTED")
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if blocker == "broken":
        env["PYTHONPATH"] = os.pathsep.join(
            [str(broken_tensorflow), str(ROOT), env.get("PYTHONPATH", "")]
        )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("IMPORT-ERROR"), result.stdout + result.stderr
    assert "olexplore[cpu]" in result.stdout
    assert "olexplore[gpu]" in result.stdout


# --- one version, typing, pinned linters, make targets, docs ---------------------------------


def test_one_version_string(pyproject):
    """pyproject reads the version from olexplore/__init__.py; the installed metadata agrees."""
    from importlib.metadata import version

    import olexplore

    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "olexplore.__version__"
    }
    init = (ROOT / "olexplore" / "__init__.py").read_text(encoding="utf-8")
    assert re.findall(r'^__version__ = "([^"]+)"$', init, re.M) == [olexplore.__version__]
    assert version("olexplore") == olexplore.__version__, "reinstall: pip install -e ."


def test_the_package_is_typed(pyproject):
    assert (ROOT / "olexplore" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["olexplore"]


def _installed(name: str) -> str:
    from importlib.metadata import version

    return version(name)


@pytest.mark.parametrize("tool", ["ruff", "pyright"])
def test_linters_are_pinned_to_the_installed_version(pyproject, tool):
    test = _requirements(pyproject["project"]["optional-dependencies"]["test"])
    (pin,) = test[tool].specifier
    assert pin.operator == "==", f"pin {tool} exactly, not {test[tool]}"
    assert pin.version == _installed(tool)


def test_pyright_settings(pyproject):
    settings = pyproject["tool"]["pyright"]
    assert settings["typeCheckingMode"] == "basic"
    assert settings["pythonVersion"] == "3.11"


def _make(*arguments: str) -> str:
    done = subprocess.run(
        ["make", "-n", "--always-make", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _pytest_line(dry_run: str) -> str:
    (line,) = [line for line in dry_run.splitlines() if " -m pytest " in line]
    return line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_targets():
    typecheck = _make("typecheck").splitlines()
    assert typecheck[-1] == ".venv/bin/pyright olexplore"  # the whole package
    assert (
        _make("typecheck", "TYPECHECK_PATHS=olexplore/runs")
        .splitlines()[-1]
        .endswith("pyright olexplore/runs")
    )
    test = _make("test")
    lint = test.index("ruff check .")
    assert lint < test.index("pyright olexplore") < test.index(" -m pytest ")
    full, fast = _pytest_line(test), _pytest_line(_make("test-fast"))
    assert " -m pytest " in full and "not browser" not in full  # make test runs everything
    marker = ' -m "not browser and not slow" '
    assert marker in fast
    assert fast.replace(marker, " ") == full  # otherwise the same pytest command
    assert "ruff" not in _make("test-fast") and "pyright" not in _make("test-fast")


def _cited_docs() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for path in sorted((ROOT / "olexplore").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for doc in re.findall(r"(?<![\w./])docs/[\w./-]+\.md", text):
            cited.setdefault(doc, []).append(str(path.relative_to(ROOT)))
    return cited


def test_every_cited_doc_is_in_the_repository():
    cited = _cited_docs()
    assert "docs/contrib-spec.md" in cited  # the scan finds the citations
    missing = {doc: files for doc, files in cited.items() if not (ROOT / doc).is_file()}
    assert not missing, f"cited but not in the repository: {missing}"
