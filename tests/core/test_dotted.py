"""One helper imports the dotted paths of every option that accepts one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cachepolicy.dotted import import_dotted, is_dotted_path
from cachepolicy.errors import ConfigError
from cachepolicy.eviction.registry import resolve_policy
from cachepolicy.expiry.registry import resolve_expiry
from cachepolicy.serializers import resolve_serializer


@pytest.mark.parametrize("text", ["a.b", "pkg.mod.Name", "_x.y_2"])
def test_dotted_paths(text: str) -> None:
    assert is_dotted_path(text)


@pytest.mark.parametrize("text", ["", "a", ".", "..", ".x", "x.", "a..b", " a.b", "a.b ", "1a.b"])
def test_not_dotted_paths(text: str) -> None:
    assert not is_dotted_path(text)


def test_imports_the_named_object() -> None:
    assert import_dotted("collections.OrderedDict", option="o", accepted="a name") is (
        __import__("collections").OrderedDict
    )


def test_errors_name_the_option_and_suggest_a_name() -> None:
    with pytest.raises(ConfigError, match=r"Option 'colour' = 'nowhere\.Red' could not be") as e:
        import_dotted("nowhere.Red", option="colour", accepted="a colour", names=["red"])
    assert e.value.option == "colour"
    assert "Valid names: red." in str(e.value) and "No module named 'nowhere'" in str(e.value)
    with pytest.raises(ConfigError, match=r"is not a colour or a dotted path.*Did you mean 'red'"):
        import_dotted("Red.", option="colour", accepted="a colour", names=["red"])
    with pytest.raises(ConfigError, match=r"'collections\.Nope' could not be imported"):
        import_dotted("collections.Nope", option="colour", accepted="a colour")


def _redis_serializer(path: str) -> object:
    pytest.importorskip("redis")
    from cachepolicy.redis.serializers import resolve_redis_serializer

    return resolve_redis_serializer(path)


@pytest.mark.parametrize(
    ("option", "resolve"),
    [
        ("maxmemory_policy", resolve_policy),
        ("expiry", resolve_expiry),
        ("serializer", resolve_serializer),
        ("serializer", _redis_serializer),
    ],
    ids=["policy", "expiry", "serializer", "redis-serializer"],
)
def test_every_option_refuses_a_bad_path_the_same_way(
    option: str, resolve: Callable[[str], object]
) -> None:
    for path, words in [("no_such_module.X", "could not be imported"), ("a..b", "dotted path")]:
        with pytest.raises(ConfigError, match=f"Option '{option}' = '{path}'.*{words}") as e:
            resolve(path)
        assert e.value.option == option
