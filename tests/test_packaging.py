"""environment.yml lists the same dependencies as pyproject.toml (conda is not available to test it)."""

from __future__ import annotations

import tomllib

import yaml

from gpucompare.core import paths


def test_environment_yml_matches_pyproject():
    root = paths.repo_root()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted


def test_readme_starts_with_the_two_commands():
    text = (paths.repo_root() / "README.md").read_text()
    blocks = text.split("```")
    first_code = blocks[1].strip().splitlines()
    assert [ln for ln in first_code if ln and not ln.startswith(("bash", "sh", "#"))] == [
        "make report",
        "make test",
    ]
