"""``[[sources]]`` validation, the JSON path language, the templates, and the CLI's answer to bad config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import run_trova
from trova.errors import SourceConfigError
from trova.people.normalise import search_from_params
from trova.settings import Settings, SourceConfig
from trova.sources.config import EnrowOptions, HttpOptions, missing_secrets, parse_sources
from trova.sources.http import render_body, render_url, template_values
from trova.sources.jsonpath import select


def parse(*entries: dict[str, Any]) -> list[tuple[str, str]]:
    return [(spec.name, spec.kind) for spec in parse_sources([SourceConfig(**entry) for entry in entries])]


def enrow(**extra: Any) -> dict[str, Any]:
    return {"name": "up", "kind": "enrow", "base_url": "https://api.enrow.io/", "api_key_env": "K", **extra}


def test_local_goes_first_unless_placed() -> None:
    assert parse(enrow()) == [("local", "local"), ("up", "enrow")]
    assert parse(enrow(), {"name": "mine", "kind": "local"}) == [("up", "enrow"), ("mine", "local")]


def test_the_issue_example_reads_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "trova.toml"
    config.write_text(
        '[[sources]]\nname = "local"\nkind = "local"\n\n'
        '[[sources]]\nname = "upstream"\nkind = "enrow"\nbase_url = "https://api.enrow.io"\n'
        'api_key_env = "ENROW_API_KEY"\n'
    )
    monkeypatch.setenv("TROVA_CONFIG", str(config))
    specs = parse_sources(Settings().sources)
    assert [(s.name, s.kind) for s in specs] == [("local", "local"), ("upstream", "enrow")]
    options = specs[1].options
    assert isinstance(options, EnrowOptions)
    assert (options.base_url, options.max_per_call, options.negative_ttl_days) == (
        "https://api.enrow.io",
        3000,
        30,
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "x", "kind": "ftp"},
            "source 'x': unknown kind 'ftp' "
            "(expected one of local, enrow, http, pdl, prospeo, lusha, kaspr, fullenrich, apollo)",
        ),
        (enrow(deadline=5), "source 'up' (enrow): deadline: Extra inputs are not permitted"),
        (
            enrow(max_per_call=3001),
            "source 'up' (enrow): max_per_call: Input should be less than or equal to 3000",
        ),
        (
            enrow(base_url="api.enrow.io"),
            "source 'up' (enrow): base_url: Value error, base_url must be an http(s) URL",
        ),
        (
            {"name": "h", "kind": "http", "url": "http://x/{first_name}"},
            "source 'h' (http): numbers_path: Field required",
        ),
    ],
)
def test_bad_entries_are_refused_with_their_name(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(SourceConfigError) as raised:
        parse(entry)
    assert raised.value.message == message


def test_names_are_unique() -> None:
    with pytest.raises(SourceConfigError, match="source names must be unique: up repeated"):
        parse(enrow(), enrow())


def test_bad_json_path_is_a_config_error() -> None:
    with pytest.raises(SourceConfigError, match=r"invalid JSON path 'data\.\.x'"):
        parse({"name": "h", "kind": "http", "url": "http://x/", "numbers_path": "data..x"})


def test_missing_secrets_are_named() -> None:
    [_, spec] = parse_sources(
        [
            SourceConfig.model_validate(
                {"name": "h", "kind": "http", "url": "http://x/?k=${KEY_A}", "headers": {"A": "${KEY_B}"},
                 "numbers_path": "n"}
            )
        ]
    )
    assert missing_secrets(spec, {"KEY_A": "1"}) == ["KEY_B"]


def test_json_path_pairs_by_wildcard_position() -> None:
    document = {"data": {"phones": [{"number": "1", "type": "m"}, {"number": "2"}, {"type": "x"}]}}
    numbers = select(document, "$.data.phones[*].number")
    types = {m.positions: m.value for m in select(document, "data.phones[*].type")}
    assert [(m.value, types.get(m.positions)) for m in numbers] == [("1", "m"), ("2", None)]
    assert [m.value for m in select({"a": [[1, 2], [3]]}, "a[*][-1]")] == [2, 3]
    assert [m.value for m in select({"a": {"x": {"n": 1}, "y": {"n": 2}}}, "a.*.n")] == [1, 2]
    assert [m.value for m in select({"a b": 1}, '["a b"]')] == [1]
    assert select({"a": 1}, "a.b[0]") == []


def test_templates_encode_values_and_leave_absent_fields_empty() -> None:
    search = search_from_params({"linkedin_url": "https://www.linkedin.com/in/Zoë-D/"})
    values = template_values(search)
    url = render_url("http://p/x?li={linkedin_key}&f={first_name}&k=${K}", values, {"K": "a&b"})
    assert url == "http://p/x?li=zo%C3%AB-d&f=&k=a&b"
    body = render_body({"p": "{linkedin_url}", "n": "{first_name}", "l": ["x {linkedin_key}"]}, values, {})
    assert body == {"p": "https://www.linkedin.com/in/zo%C3%AB-d", "n": None, "l": ["x zoë-d"]}


def test_http_options_defaults() -> None:
    options = HttpOptions.model_validate({"url": "https://p/", "numbers_path": "n"})
    assert (options.method, options.concurrency, options.rate_limit_per_s, options.not_found_statuses) == (
        "GET",
        4,
        None,
        (404,),
    )


def test_cli_reports_bad_config_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "trova.toml"
    config.write_text('[[sources]]\nname = "up"\nkind = "enrow"\nbase_url = "https://e"\n')
    env = {"TROVA_CONFIG": str(config), "TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    result = run_trova("sources", "list", env=env, check=False)
    assert result.returncode == 2  # a configuration error (docs: exit 2 for usage and configuration)
    assert result.stderr == "error: source 'up' (enrow): api_key_env: Field required\n"
    serve = run_trova("serve", "--port", "1", env=env, check=False)
    assert serve.returncode == 2
    assert serve.stderr.strip().splitlines()[-1] == "error: source 'up' (enrow): api_key_env: Field required"
