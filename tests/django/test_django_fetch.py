"""``scripts/fetch_conformance.py``'s Django part, offline: cache reuse, extraction, failures."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.modules import conformance_fetcher


@pytest.fixture(scope="module")
def fetcher() -> ModuleType:
    return conformance_fetcher()


def _sdist(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pip download in these tests fails at once instead of reaching an index."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")


def test_extracts_only_tests_cache_from_a_cached_sdist(
    fetcher: ModuleType, tmp_path: Path, offline_pip: None
) -> None:
    (tmp_path / "downloads").mkdir()
    _sdist(
        tmp_path / "downloads" / "Django-9.9.tar.gz",
        {
            "Django-9.9/tests/cache/__init__.py": b"",
            "Django-9.9/tests/cache/tests.py": b"# suite\n",
            "Django-9.9/tests/other/tests.py": b"# not wanted\n",
            "Django-9.9/django/__init__.py": b"# not wanted\n",
        },
    )
    tests_dir = fetcher.fetch_django_suite("9.9", root=tmp_path)
    assert tests_dir == tmp_path / "django-9.9" / "tests"
    assert (tests_dir / "cache" / "tests.py").read_text() == "# suite\n"
    assert not (tests_dir / "other").exists()
    assert not (tmp_path / "django-9.9" / "django").exists()
    # Second call: served from the extracted copy even with the sdist gone.
    (tmp_path / "downloads" / "Django-9.9.tar.gz").unlink()
    assert fetcher.fetch_django_suite("9.9", root=tmp_path) == tests_dir


def test_refuses_unsafe_member_paths(
    fetcher: ModuleType, tmp_path: Path, offline_pip: None
) -> None:
    (tmp_path / "downloads").mkdir()
    _sdist(
        tmp_path / "downloads" / "django-9.8.tar.gz",
        {"django-9.8/tests/cache/tests.py": b"", "django-9.8/../../escape.py": b"x"},
    )
    with pytest.raises(fetcher.ConformanceFetchError, match="unsafe path"):
        fetcher.fetch_django_suite("9.8", root=tmp_path)
    assert not (tmp_path / "django-9.8").exists()
    assert not (tmp_path.parent / "escape.py").exists()


def test_a_failed_download_is_a_full_sentence_error(
    fetcher: ModuleType, tmp_path: Path, offline_pip: None
) -> None:
    with pytest.raises(fetcher.ConformanceFetchError, match=r"Django 0\.0\.1 sdist with pip"):
        fetcher.fetch_django_suite("0.0.1", root=tmp_path)


def test_an_sdist_without_the_suite_is_reported(
    fetcher: ModuleType, tmp_path: Path, offline_pip: None
) -> None:
    (tmp_path / "downloads").mkdir()
    _sdist(tmp_path / "downloads" / "django-9.7.tar.gz", {"django-9.7/README": b""})
    with pytest.raises(fetcher.ConformanceFetchError, match=r"has no tests/cache/tests\.py"):
        fetcher.fetch_django_suite("9.7", root=tmp_path)
