"""notifykit._dists finds the entry points and versions importlib.metadata finds, in its order,
or says it cannot (and the caller asks importlib.metadata)."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import _dists
from notifykit.plugins import _load_entry_point


def _dist(site: Path, dirname: str, name: str, version: str, entry_points: str | None) -> None:
    info = site / dirname
    info.mkdir(parents=True)
    meta = "PKG-INFO" if dirname.lower().endswith("egg-info") else "METADATA"
    (info / meta).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nVersion: 9\n",
        encoding="utf-8",
    )
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def _from_importlib(group: str) -> list[tuple[str, str]]:
    return [
        (ep.name, ep.value)
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
        if ep.group == group
    ]


@pytest.fixture
def sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(
        first,
        "nk_a-1.0.dist-info",
        "nk-a",
        "1.0",
        "# a comment\n[console_scripts]\nnk-a = nk_a:main\n\n"
        "[nk_test_group]\n  one = nk_a.plugin  \ntwo=nk_a:obj.attr [extra]\n",
    )
    _dist(first, "NK.B-2.0.dist-info", "nk.b", "2.0", "[nk_test_group]\nthree = nk_b\n")
    _dist(first, "nk_c-0.1.egg-info", "nk-c", "0.1", "[nk_test_group]\nfour = nk_c\n")
    _dist(first, "nk_d-3.dist-info", "nk-d", "3", None)  # no entry points at all
    # the same name again further down the path: both are listed, the first wins a version
    _dist(second, "nk_a-0.9.dist-info", "nk-a", "0.9", "[nk_test_group]\none = nk_old\n")
    egg = tmp_path / "nk_e-5.egg"
    (egg / "EGG-INFO").mkdir(parents=True)
    (egg / "EGG-INFO" / "PKG-INFO").write_text("Name: nk-e\nVersion: 5.0\n", encoding="utf-8")
    (egg / "EGG-INFO" / "entry_points.txt").write_text("[nk_test_group]\nfive = nk_e\n")
    for path in (egg, second, first):
        monkeypatch.syspath_prepend(str(path))
    importlib.invalidate_caches()
    return [first, second, egg]


def test_entry_points_are_importlib_metadata_s_in_its_order(sites: list[Path]) -> None:
    found = _dists.entry_points("nk_test_group")
    assert found is not None
    assert [(e.name, e.value) for e in found] == _from_importlib("nk_test_group")
    # (a directory's distributions come in the order the file system lists them)
    assert sorted((e.name, e.value) for e in found) == [
        ("five", "nk_e"),
        ("four", "nk_c"),
        ("one", "nk_a.plugin"),
        ("one", "nk_old"),
        ("three", "nk_b"),
        ("two", "nk_a:obj.attr [extra]"),
    ]
    assert [e.value for e in found].index("nk_a.plugin") < [e.value for e in found].index("nk_old")
    assert found[-1].value == "nk_e"  # an egg's own directory, last on the path
    # every group of every installed distribution, too
    groups = {ep.group for d in importlib.metadata.distributions() for ep in d.entry_points}
    for group in groups:
        got = _dists.entry_points(group)
        assert got is not None and [(e.name, e.value) for e in got] == _from_importlib(group)


def test_versions_are_importlib_metadata_s(sites: list[Path]) -> None:
    for name in ("nk-a", "NK_A", "nk.b", "nk-b", "nk-c", "nk-d", "pluggy", "jinja2", "PyYAML"):
        assert _dists.version(name) == importlib.metadata.version(name), name
    assert _dists.version("nk-a") == "1.0"  # the header's, not the body's "Version: 9"
    assert _dists.version("nk-no-such-distribution") is None


def test_a_zip_on_the_path_or_another_finder_is_left_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _dists.entry_points("nk_test_group") is not None
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("nk_z-1.dist-info/entry_points.txt", "[nk_test_group]\nz = nk_z\n")
    monkeypatch.syspath_prepend(str(archive))
    assert _dists.entry_points("nk_test_group") is None
    assert _dists.version("nk-z") is None
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(archive)])

    class Finder:
        @staticmethod
        def find_distributions(*args: object, **kwargs: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    assert _dists.entry_points("nk_test_group") is None


def test_a_lazy_distribution_is_read_on_first_use(sites: list[Path]) -> None:
    found = _dists.entry_points("nk_test_group")
    assert found is not None
    [path] = [e.dist_path for e in found if e.value == "nk_a.plugin"]
    dist = _dists.LazyDistribution(path)
    assert "nk_a-1.0.dist-info" in repr(dist)
    assert (dist.metadata["Name"], dist.version) == ("nk-a", "1.0")


@pytest.mark.parametrize(
    "value",
    [
        "os.path",
        "os.path:join",
        "os : path.join [extra]",
        "os:path.join[extra]",
        "os.path :join",
        "os:\tpath",
        "os\n",
        "os ",
        " os",
        "os:",
        "os:path:join",
        ":path",
        "",
        "not a module",
        "os:pa th",
        "nk_no_such_module_ü",
    ],
)
def test_an_entry_point_loads_as_importlib_metadata_loads_it(value: str) -> None:
    def load(loader: Callable[[], object]) -> tuple[str, object]:
        try:
            return "loaded", loader()
        except Exception:
            return "refused", None

    expected = load(importlib.metadata.EntryPoint(name="x", value=value, group="g").load)
    assert load(lambda: _load_entry_point(value)) == expected
