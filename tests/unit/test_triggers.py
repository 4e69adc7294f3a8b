"""Signatures, JSON pointers, retry delays and the definitions of sensors, hooks and
notifications, including through the Python authoring functions."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from headwater import SensorResult, file_sensor, hook, load_recipe, notification, sensor
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.pointers import map_payload, resolve_pointer
from headwater.domain.signatures import sign, signature_matches
from headwater.domain.triggers import FileSensorDef, HookDef, NotificationDef
from headwater.errors import DefinitionError
from headwater.services.notifications import notification_retry_delay


def test_signature_is_github_style_hmac_sha256() -> None:
    body = b'{"a": 1}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign("key", body) == f"sha256={expected}"
    assert signature_matches("key", body, f"sha256={expected}")
    assert not signature_matches("key", body + b" ", f"sha256={expected}")
    assert not signature_matches("other", body, f"sha256={expected}")
    assert not signature_matches("key", body, expected)  # the prefix is part of it


def test_json_pointers_follow_rfc_6901() -> None:
    doc = {"a": {"b/c": [10, {"~d": "x"}]}, "": 1}
    assert resolve_pointer(doc, "") == doc
    assert resolve_pointer(doc, "/a/b~1c/0") == 10
    assert resolve_pointer(doc, "/a/b~1c/1/~0d") == "x"
    assert resolve_pointer(doc, "/") == 1
    for missing in ("/a/x", "/a/b~1c/2", "/a/b~1c/-1", "a"):
        with pytest.raises(KeyError):
            resolve_pointer(doc, missing)
    args, problems = map_payload(doc, {"n": "/a/b~1c/0", "gone": "/zzz"})
    assert args == {"n": 10}
    assert [p.path for p in problems] == ["gone"]


def test_notification_retries_double_up_to_an_hour() -> None:
    assert [notification_retry_delay(5, n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert notification_retry_delay(5, 30) == 3600


def test_a_notification_needs_exactly_one_target() -> None:
    with pytest.raises(PydanticValidationError, match="exactly one"):
        NotificationDef(name="n")
    with pytest.raises(PydanticValidationError, match="exactly one"):
        NotificationDef(name="n", url="http://h/", email_to=["a@b.c"])
    assert NotificationDef(name="n", email_to=["a@b.c"]).kind == "email"
    assert NotificationDef(name="n", url="https://h/").events == ["failed"]


def test_hook_mappings_must_be_json_pointers() -> None:
    with pytest.raises(PydanticValidationError, match="JSON pointer"):
        HookDef(name="h", pipeline="p", mapping={"day": "data.date"})


def test_python_definitions_register_in_the_current_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_SECRET", "from-env")
    registry = Registry()
    with use_registry(registry):
        file_sensor("inbox", pipeline="etl", url="/data/in/*.csv", interval_seconds=5)
        hook("crm", pipeline="etl", secret_env="CRM_SECRET", mapping={"day": "/date"})
        notification("ops", url="https://ops/", events=["failed", "succeeded"])

        @sensor(pipeline="etl", interval_seconds=60)
        def orders(cursor: str | None) -> SensorResult:
            return SensorResult(cursor=cursor)

        file_sensor("inbox", pipeline="etl", url="/data/in/*.csv", interval_seconds=5)  # again
    assert sorted(registry.sensors) == ["crm", "inbox", "orders"]
    assert registry.secrets == {"crm": "from-env"}
    assert registry.sensor_functions["orders"] is orders
    assert registry.sensors["orders"].function.endswith(
        ":test_python_definitions_register_in_the_current_registry.<locals>.orders"
    )
    assert registry.notifications["ops"].events == ["failed", "succeeded"]
    with use_registry(registry), pytest.raises(DefinitionError, match="two sensors"):
        file_sensor("inbox", pipeline="etl", url="/elsewhere/*")


def test_bad_python_definitions_name_the_field_and_the_line() -> None:
    with use_registry(Registry()), pytest.raises(DefinitionError) as caught:
        file_sensor("inbox", pipeline="etl", url="/in/*", interval_seconds=0)
    (problem,) = caught.value.problems
    assert problem.path == "interval_seconds"
    assert (
        problem.location.startswith("tests/unit/test_triggers.py:")
        or "test_triggers.py" in problem.location
    )


RECIPE = """\
name: nightly
params: {path: {type: string}}
tasks:
  - id: count
    command: "wc -c < $HW_ARG_PATH"
    params: {path: {type: string}}
    args: {path: {$param: path}}
sensors:
  - {kind: file, name: drops, url: "s3://bucket/in/*.csv", interval_seconds: 10}
  - {kind: hook, name: push, secret_env: PUSH_SECRET, mapping: {path: /file}}
"""


def test_recipes_define_file_sensors_and_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_SECRET", "p")
    (tmp_path / "nightly.yaml").write_text(RECIPE)
    registry = Registry()
    with use_registry(registry):
        load_recipe(tmp_path / "nightly.yaml")
    assert registry.sensors["drops"] == FileSensorDef(
        name="drops", pipeline="nightly", url="s3://bucket/in/*.csv", interval_seconds=10
    )
    assert registry.sensors["push"].pipeline == "nightly"
    assert registry.secrets == {"push": "p"}


def test_bad_recipe_sensors_name_their_path(tmp_path: Path) -> None:
    bad = RECIPE.replace("interval_seconds: 10", "interval_seconds: -1").replace(
        "kind: hook", "kind: cron"
    )
    (tmp_path / "nightly.yaml").write_text(bad)
    with use_registry(Registry()), pytest.raises(DefinitionError) as caught:
        load_recipe(tmp_path / "nightly.yaml")
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == ["$.sensors[0].interval_seconds", "$.sensors[1].kind"]
