"""Build the Lambda deployment package: the code template.yaml runs and its
runtime dependencies, in one zip.

    python -m iac.package [--output build/lambda.zip]
        [--platform manylinux2014_aarch64|manylinux2014_x86_64|local ...]
        [--python-version 3.12] [--constraint FILE]

By default it builds for the runtime template.yaml declares
(``LAMBDA_RUNTIME`` on ``LAMBDA_ARCHITECTURE``, checked against the template
by tests/iac/test_package.py): pip installs binary wheels only, for that
platform and Python version (``--platform ... --python-version ...
--only-binary=:all: --implementation cp``), whatever machine builds it.
``--platform local`` builds for the Python running this command instead (a
package that imports here, as the tests use it).

The zip holds, at its root, the project's packages that the Lambda entry
point needs (``handlers`` and every first-party package it imports, found
by reading the imports: ``service`` and ``storage``) and the packages of
``[project].dependencies`` in pyproject.toml (``pip install --target``).
No tests, no caches, no ``__pycache__`` or compiled files, no console
scripts. Entries are sorted, dated 1980-01-01 and world-readable (Lambda
runs the code as another user), so two builds from the same sources and
the same dependency versions are byte-identical; ``--constraint`` pins the
versions (e.g. a ``pip freeze`` of a tested environment).
"""

from __future__ import annotations

import argparse
import ast
import os
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
#: What template.yaml's ``Globals.Function`` declares.
LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "arm64"
#: The Lambda entry point's package (``handlers.lambda_handler``).
ENTRY_PACKAGE = "handlers"
#: Wheels for ``LAMBDA_ARCHITECTURE``. The python3.12 runtime runs on Amazon
#: Linux 2023 (glibc 2.34), so wheels tagged manylinux_2_28 run there too.
LAMBDA_PLATFORMS = {
    "arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
}
LOCAL = "local"
#: Where the zip goes, relative to the project root: template.yaml's CodeUri.
DEFAULT_OUTPUT = Path("build") / "lambda.zip"
#: Lambda's limit on a function's unzipped code.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: The earliest time a zip entry can carry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Top-level entries of ``pip install --target`` that the function never uses.
SKIPPED_TOP_LEVEL = frozenset({"bin"})
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class PackageError(RuntimeError):
    """The package cannot be built as asked."""


def lambda_python_version() -> str:
    return LAMBDA_RUNTIME.removeprefix("python")


def dependencies(root: Path = ROOT) -> list[str]:
    """``[project].dependencies`` of the project's pyproject.toml."""
    with (root / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    return list(project.get("dependencies", []))


#: Imports served by an optional extra, made only when it is used (inside
#: functions): the package leaves them out. ``opentelemetry`` (extra ``otel``):
#: handlers/tracing.py, only when an exporter is configured.
OPTIONAL_IMPORTS: Final = {"opentelemetry": "otel"}


def first_party(root: Path = ROOT) -> set[str]:
    """The project's top-level packages (directories with an ``__init__.py``)."""
    return {p.parent.name for p in root.glob("*/__init__.py")}


def imported_top_levels(package_dir: Path) -> set[str]:
    """Every top-level module name that a module of the package imports
    (at module level or inside functions); relative imports excluded."""
    names: set[str] = set()
    for path in sorted(package_dir.rglob("*.py")):
        if SKIPPED_DIRS & set(path.relative_to(package_dir).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def project_packages(root: Path = ROOT, entry: str = ENTRY_PACKAGE) -> list[str]:
    """``entry`` and the first-party packages it imports, transitively."""
    ours = first_party(root)
    found, pending = set(), [entry]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(sorted(imported_top_levels(root / name) & ours))
    if found & {"tests", "bench"}:
        raise PackageError(f"the function's code imports test or benchmark code: {sorted(found)}")
    return sorted(found)


def third_party_imports(root: Path, packages: Iterable[str]) -> set[str]:
    ours = first_party(root)
    names: set[str] = set()
    for package in packages:
        names |= imported_top_levels(root / package)
    return {n for n in names - ours if n not in sys.stdlib_module_names and n != "__future__"}


def installed_top_levels(target: Path) -> set[str]:
    """The importable top-level names in a ``pip install --target`` directory."""
    names = set()
    for entry in target.iterdir():
        if entry.is_dir() and not entry.name.endswith((".dist-info", ".data")):
            names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".pyd"):
            names.add(entry.name.split(".")[0])
    return names


def pip_command(
    target: Path,
    requirements: Sequence[str],
    *,
    platforms: Sequence[str] = (),
    python_version: str | None = None,
    constraint: Path | None = None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--no-compile",
        "--no-warn-conflicts",
        "--disable-pip-version-check",
        "--quiet",
    ]
    if platforms:
        for platform in platforms:
            command += ["--platform", platform]
        command += ["--python-version", python_version or lambda_python_version()]
        command += ["--only-binary=:all:", "--implementation", "cp"]
    if constraint is not None:
        command += ["--constraint", str(constraint)]
    return [*command, *requirements]


def _files(base: Path, top: Path, *, skip_top_level: frozenset[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if d not in SKIPPED_DIRS
            and not (here == base and d in skip_top_level)
            and not (here / d).is_symlink()
        ]
        for name in filenames:
            if name.endswith(SKIPPED_SUFFIXES) or (here == base and name in skip_top_level):
                continue
            yield here / name


def collect(project_root: Path, packages: Iterable[str], deps_dir: Path) -> dict[str, Path]:
    """Archive name -> file: the project's packages over the dependencies."""
    entries: dict[str, Path] = {}
    for path in _files(deps_dir, deps_dir, skip_top_level=SKIPPED_TOP_LEVEL):
        entries[path.relative_to(deps_dir).as_posix()] = path
    for package in packages:
        top = project_root / package
        for path in _files(project_root, top, skip_top_level=frozenset()):
            name = path.relative_to(project_root).as_posix()
            if name in entries:
                raise PackageError(f"{name} is both the project's and a dependency's")
            entries[name] = path
    return entries


def write_zip(entries: dict[str, Path], output: Path) -> int:
    """Write ``entries`` deterministically; the unzipped size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    total = 0
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            path = entries[name]
            data = path.read_bytes()
            total += len(data)
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # unix: the mode below is honoured
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
    partial.replace(output)
    return total


def build(
    output: Path,
    *,
    platforms: Sequence[str] | None = None,
    python_version: str | None = None,
    constraint: Path | None = None,
    root: Path = ROOT,
    log: bool = False,
) -> Path:
    """Build the zip at ``output``. ``platforms`` None: Lambda's (template.yaml's
    architecture and runtime); empty: the running Python's."""
    if platforms is None:
        platforms = LAMBDA_PLATFORMS[LAMBDA_ARCHITECTURE]
    if python_version is not None and not platforms:
        raise PackageError("--python-version needs a --platform other than local")
    packages = project_packages(root)
    with tempfile.TemporaryDirectory(prefix="bucketq-package-") as scratch:
        deps_dir = Path(scratch) / "deps"
        command = pip_command(
            deps_dir,
            dependencies(root),
            platforms=platforms,
            python_version=python_version,
            constraint=constraint,
        )
        if log:
            print("$ " + " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, cwd=root)
        missing = third_party_imports(root, packages) - installed_top_levels(deps_dir)
        missing -= set(OPTIONAL_IMPORTS)
        if missing:
            raise PackageError(
                f"{', '.join(packages)} import {sorted(missing)}, which no dependency "
                "in pyproject.toml installs"
            )
        size = write_zip(collect(root, packages, deps_dir), output)
    if size > MAX_UNZIPPED_BYTES:
        raise PackageError(f"{size} bytes unzipped: over Lambda's {MAX_UNZIPPED_BYTES}")
    if log:
        print(f"{output}: {', '.join(packages)} and dependencies, {size} bytes unzipped")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iac.package", description="Build the Lambda deployment zip."
    )
    parser.add_argument("--output", type=Path, default=ROOT / DEFAULT_OUTPUT)
    parser.add_argument(
        "--platform",
        action="append",
        help=(
            "a wheel platform tag (repeatable), or 'local' for the running Python; "
            f"default: {' '.join(LAMBDA_PLATFORMS[LAMBDA_ARCHITECTURE])} ({LAMBDA_ARCHITECTURE})"
        ),
    )
    parser.add_argument(
        "--python-version", help=f"with --platform; default {lambda_python_version()}"
    )
    parser.add_argument("--constraint", type=Path, help="a pip constraints file")
    args = parser.parse_args(argv)
    platforms: list[str] | None = args.platform
    if platforms is not None and LOCAL in platforms:
        if len(platforms) > 1:
            parser.error("--platform local goes alone")
        platforms = []
    if not (ROOT / "pyproject.toml").is_file():
        parser.error(f"no pyproject.toml at {ROOT}: run from a source checkout")
    try:
        build(
            args.output,
            platforms=platforms,
            python_version=args.python_version,
            constraint=args.constraint,
            log=True,
        )
    except (PackageError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
