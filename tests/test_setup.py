"""`make setup` installs requirements-dev.txt constrained by requirements-lock.txt: the lock must
pin every package the requirement files name, at a version they allow."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT


def requirements(name: str) -> list[Requirement]:
    found = []
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def lock() -> dict[str, str]:
    pins = {}
    for requirement in requirements("requirements-lock.txt"):
        (spec,) = requirement.specifier  # exactly one `==version` per line
        assert spec.operator == "==" and not requirement.extras and not requirement.marker, requirement
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_lock_pins_every_requirement_at_an_allowed_version():
    pins = lock()
    named = requirements("requirements.txt") + requirements("requirements-dev.txt")
    assert len(named) > 15
    for requirement in named:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements-lock.txt: run `make setup` then `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (str(requirement), pins[name])


def test_the_lock_leaves_out_what_is_installed_without_dependencies():
    pins = lock()
    assert "d2l" not in pins and "rnn-course" not in pins  # d2l: --no-deps (its pins cannot install)
    assert "torch" in pins and "nbgrader" in pins and len(pins) > 100  # the whole environment
