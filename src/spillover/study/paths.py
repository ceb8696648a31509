"""Where a study's files are: one rule for every path a spec names.

A relative path in a study spec is relative to the study folder (the folder
that holds its TOML files). A path that starts with ``data_raw/`` names the
raw-data folder instead: ``$SPILLOVER_DATA_RAW`` when that is set, else the
nearest ``data_raw/`` folder above the study folder (in a source checkout,
the repository's). ``package:NAME/sub/file`` is a file shipped inside the
installed package ``NAME`` (e.g. ``package:libpysal/examples/us_income/
usjoin.csv``), so that examples run offline on data a dependency bundles. Every step (data, geometry, weights files, the manifest)
resolves through :class:`StudyPaths`, so a run never mixes two raw-data
folders and the manifest hashes the files that were read.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spillover.errors import DataError, SpecificationError, format_error

RAW = "data_raw"
PACKAGE = "package:"


@dataclass(frozen=True)
class StudyPaths:
    """Path resolution of one study folder (see the module docstring)."""

    folder: Path

    @classmethod
    def of(cls, models: str | Path) -> StudyPaths:
        p = Path(models).resolve()
        return cls(p if p.is_dir() else p.parent)

    def data_raw(self) -> Path:
        """The raw-data folder: ``$SPILLOVER_DATA_RAW`` or the nearest ``data_raw/`` above the study."""
        env = os.environ.get("SPILLOVER_DATA_RAW")
        if env:
            root = Path(env).resolve()
            if not root.is_dir():
                raise DataError(format_error("SPILLOVER_DATA_RAW is not a folder", file=str(root)))
            return root
        for parent in (self.folder, *self.folder.parents):
            if (parent / RAW).is_dir():
                return (parent / RAW).resolve()
        raise DataError(format_error(
            f"no {RAW}/ folder above the study folder", file=str(self.folder),
            hint=f"the spec names {RAW}/... files: run from a source checkout that has {RAW}/, or set "
                 "SPILLOVER_DATA_RAW to that folder"))

    def resolve(self, rel: str, *, key: str, must_exist: bool = True) -> Path:
        """The file a spec value names; :class:`SpecificationError` naming ``key`` when it is not there."""
        if str(rel).startswith(PACKAGE):
            return self._package_file(str(rel), key)
        p = PurePosixPath(str(rel).replace("\\", "/"))
        if p.is_absolute():
            path = Path(str(rel))
        elif p.parts and p.parts[0] == RAW:
            path = self.data_raw().joinpath(*p.parts[1:])
        else:
            path = self.folder.joinpath(*p.parts)
        if must_exist and not path.exists():
            raise SpecificationError(format_error(f"{key} = {str(rel)!r}: file not found", file=str(path),
                                                  hint=f"paths are relative to the study folder {self.folder}; "
                                                       f"{RAW}/... names the raw-data folder"))
        return path

    @staticmethod
    def _package_file(rel: str, key: str) -> Path:
        name, _, inner = rel[len(PACKAGE):].partition("/")
        if not name or importlib.util.find_spec(name) is None:
            raise SpecificationError(format_error(f"{key} = {rel!r}: package {name!r} is not installed",
                                                  hint="write package:NAME/path/inside/the/package"))
        path = Path(str(importlib.resources.files(name).joinpath(inner)))
        if not path.exists():
            raise SpecificationError(format_error(f"{key} = {rel!r}: no such file in package {name!r}",
                                                  file=str(path)))
        return path

    def label(self, path: Path) -> str:
        """A machine-independent name of ``path`` for the manifest: ``data_raw/...``, ``package:...`` or
        relative to the study."""
        path = Path(path).resolve()
        for pkg_root in _site_roots():
            try:
                inner = path.relative_to(pkg_root)
            except ValueError:
                continue
            return PACKAGE + inner.as_posix()
        try:
            return f"{RAW}/" + path.relative_to(self.data_raw()).as_posix()
        except (ValueError, DataError):
            pass
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return os.path.relpath(path, self.folder).replace(os.sep, "/")


def _site_roots() -> list[Path]:
    """Folders that hold installed packages (site-packages), for ``package:`` labels."""
    import site
    import sysconfig

    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return [Path(r).resolve() for r in roots if r]
