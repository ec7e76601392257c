"""``trova bulk`` as a subprocess against a real ``trova serve``: order, numbers, resume, credits, errors."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.client.support import Deployment, contact, deployment
from tests.support.servers import run_trova, trova_command
from trova.bulk.engine import Journal, batch_body, build_plan, state_path
from trova.bulk.tabular import Table, auto_mapping
from trova.client import Client
from trova.finder.explain import RULE_TEXT

KNOWN = range(1, 301)
HEADER = ["id", "First Name", "Last Name", "Company", "Website", "LinkedIn"]


@dataclass(frozen=True)
class Expected:
    status: str
    phone: str = ""


def lead_row(i: int) -> tuple[list[str], Expected]:
    """Row ``i`` of the 7,500-row file and what the output must say about it."""
    if i % 50 == 1:
        return [str(i), "Bob", "", "", "", ""], Expected("invalid_input: Missing mandatory property")
    if i % 50 == 2:
        return [str(i), "", "", "", "", "https://example.com/in/bob"], Expected(
            "invalid_input: Invalid linkedin_url"
        )
    if i == 13:
        return [str(i), "A", "B", "C", "", "", "extra"], Expected(
            "invalid_input: wrong column count (expected 6, got 7)"
        )
    if i < 3000 and i % 10 == 0:
        person = contact(i // 10 + 1)
        return [str(i), "", "", "", "", person.linkedin_url.replace("https://www.", "")], Expected(
            "found", person.phone
        )
    if i < 3000 and i % 10 == 5:
        person = contact(i // 10 + 1)
        return [
            str(i),
            person.first_name,
            person.last_name,
            "",
            f"https://{person.company_domain}/",
            "",
        ], Expected("found", person.phone)
    j = i - 1 if i % 100 == 99 else i
    return [str(i), f"Unknown{j}", "Person", f"Nowhere {j} Ltd", "", ""], Expected("not_found")


ROWS = [lead_row(i) for i in range(7500)]


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def assert_complete(output: Path) -> None:
    rows = read_output(output)
    assert [r["id"] for r in rows] == [str(i) for i in range(7500)]
    assert [(r["phone_status"], r["phone"]) for r in rows] == [(e.status, e.phone) for _, e in ROWS]
    assert all((r["phone_country"], r["phone_line_type"]) == ("FR", "mobile") for r in rows if r["phone"])


@pytest.fixture(scope="module")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    env = {"TROVA_WEBHOOK_ALLOW_HTTP": "true", "TROVA_WEBHOOK_ALLOW_PRIVATE": "true"}
    with deployment(tmp_path_factory.mktemp("bulk"), env) as dep:
        dep.import_contacts(KNOWN)
        yield dep


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(cells for cells, _ in ROWS)
    return path


def bulk_args(trova: Deployment, key: str, source: Path, output: Path, *extra: str) -> list[str]:
    return [
        "bulk",
        str(source),
        "-o",
        str(output),
        "--api-key",
        key,
        "--base-url",
        trova.base_url,
        "--poll-interval",
        "0.1",
        *extra,
    ]


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_7500_rows_in_3_batches_keep_their_order_and_get_the_stored_numbers(
    trova: Deployment, leads: Path, tmp_path: Path
) -> None:
    key = trova.create_account("bulk-7500", 10_000_000)
    output = tmp_path / "out.csv"
    result = run_trova(*bulk_args(trova, key, leads, output), env=trova.env)
    assert_complete(output)
    assert trova.batches_of("bulk-7500") == 3
    assert "7,500 rows: 600 found" in result.stdout
    assert f"credits: {300 * 40:,} spent, {10_000_000 - 300 * 40:,} left" in result.stdout
    rows = read_output(output)
    assert list(rows[0])[-6:] == [
        "phone", "phone_country", "phone_line_type", "phone_sources", "phone_last_seen", "phone_status"
    ]
    found = [r for r in rows if r["phone_status"] == "found"]
    assert found and all(r["phone_sources"] == "crm" and len(r["phone_last_seen"]) == 10 for r in found)
    assert all(r["phone_sources"] == r["phone_last_seen"] == "" for r in rows if r["phone_status"] != "found")
    assert not state_path(output).exists(), "a complete run leaves no journal of found numbers behind"
    with Client(key, trova.base_url) as client:
        assert client.account().credits == 10_000_000 - 300 * 40


@pytest.mark.slow
def test_killed_after_the_first_batch_then_rerun_submits_no_batch_twice(
    trova: Deployment, leads: Path, tmp_path: Path
) -> None:
    key = trova.create_account("bulk-kill", 10_000_000)
    output = tmp_path / "out.csv"
    state = state_path(output)
    process = subprocess.Popen(
        trova_command(*bulk_args(trova, key, leads, output, "--max-in-flight", "1")),
        env={**os.environ, **trova.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (state.exists() and b'"done"' in state.read_bytes()):
            assert process.poll() is None, "trova bulk ended before its first batch finished"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert state.read_bytes().count(b'"done"') < 3
    assert not output.exists()
    run_trova(*bulk_args(trova, key, leads, output), env=trova.env)
    assert_complete(output)
    assert trova.batches_of("bulk-kill") == 3


def small_leads(path: Path, ids: list[int]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["linkedin_url"])
        writer.writerows([[f"https://www.linkedin.com/in/lead-{i:05d}"] for i in ids])
    return path


def test_a_batch_posted_but_not_recorded_is_not_posted_again(trova: Deployment, tmp_path: Path) -> None:
    """The crash between POST and journal write: the journal holds the key, the server the batch."""
    key = trova.create_account("bulk-lost-answer", 100_000)
    source = small_leads(tmp_path / "in.csv", list(range(1, 11)))
    output = tmp_path / "out.csv"
    table = Table.open(source)
    plan = build_plan(table, auto_mapping(table.columns), batch_size=4)
    journal = Journal(state_path(output), plan)
    journal.intend(0, "lost-answer-key")
    searches, custom = batch_body(plan, 0, "trova bulk")
    with Client(key, trova.base_url) as client:
        client.submit_bulk(searches, custom=custom, idempotency_key="lost-answer-key")
    run_trova(*bulk_args(trova, key, source, output, "--batch-size", "4"), env=trova.env)
    assert [r["phone"] for r in read_output(output)] == [contact(i).phone for i in range(1, 11)]
    assert trova.batches_of("bulk-lost-answer") == 3


def test_insufficient_credits_keep_the_rows_done_and_a_rerun_continues(
    trova: Deployment, tmp_path: Path
) -> None:
    trova_key = trova.create_account("bulk-poor", 4 * 40)
    source = small_leads(tmp_path / "in.csv", [1, 2, 3, 4, 9001, 9002, 9003, 9004, 9005, 9006])
    output = tmp_path / "out.csv"
    args = bulk_args(trova, trova_key, source, output, "--batch-size", "4")
    first = run_trova(*args, env=trova.env, check=False)
    assert first.returncode == 3
    [line] = error_lines(first.stderr)
    assert line.startswith("error: insufficient credits: 4 of 10 rows done")
    assert [r["phone_status"] for r in read_output(output)] == ["found"] * 4 + ["pending"] * 6
    assert state_path(output).exists()
    trova.topup("bulk-poor", 1_000)
    run_trova(*args, "--keep-state", env=trova.env)
    assert state_path(output).exists()
    rows = read_output(output)
    assert [r["phone_status"] for r in rows] == ["found"] * 4 + ["not_found"] * 6
    assert [r["phone"] for r in rows[:4]] == [contact(i).phone for i in range(1, 5)]
    assert trova.batches_of("bulk-poor") == 3


def test_dry_run_shows_mapping_counts_reasons_and_cost_and_sends_nothing(
    trova: Deployment, leads: Path, tmp_path: Path
) -> None:
    key = trova.create_account("bulk-dry", 0)
    output = tmp_path / "out.csv"
    result = run_trova(*bulk_args(trova, key, leads, output, "--dry-run"), env=trova.env)
    assert "LinkedIn" in result.stderr and "linkedin_url" in result.stderr
    text = " ".join(result.stdout.split())
    assert "rows: 7,500 usable: 7,199 unusable: 301" in text
    assert "unique searches: 7,124 in 3 batch(es)" in text
    assert "150 row(s): Missing mandatory property" in text
    assert "line 3: Missing mandatory property" in text
    assert "line 4: Invalid linkedin_url" in text
    assert "line 15: wrong column count (expected 6, got 7)" in text
    assert "maximum cost: 7,124 searches x 40 credits = 284,960 credits" in text
    assert not output.exists() and not state_path(output).exists()
    assert trova.batches_of("bulk-dry") == 0


def test_jsonl_with_a_manual_mapping_keeps_values_and_reports_bad_lines(
    trova: Deployment, tmp_path: Path
) -> None:
    key = trova.create_account("bulk-jsonl", 100_000)
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"who": contact(1).linkedin_url, "crm_id": 1, "tags": ["a"]}),
        "{not json",
        json.dumps({"who": "https://linkedin.com/in/nobody-here", "crm_id": 2}),
        "[1, 2]",
    ]
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    run_trova(*bulk_args(trova, key, source, output, "--map", "who=linkedin_url"), env=trova.env)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    last_seen = rows[0].pop("phone_last_seen")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", last_seen)
    assert rows[0] == {
        "who": contact(1).linkedin_url,
        "crm_id": 1,
        "tags": ["a"],
        "phone": contact(1).phone,
        "phone_country": "FR",
        "phone_line_type": "mobile",
        "phone_sources": "crm",
        "phone_status": "found",
    }
    assert rows[1]["phone_status"] == "invalid_input: not valid JSON" and rows[1]["input"] == "{not json"
    assert rows[2]["crm_id"] == 2 and rows[2]["phone_status"] == "not_found"
    assert rows[3]["phone_status"] == "invalid_input: not a JSON object"


class Receiver:
    """A real loopback webhook receiver."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


def test_webhook_is_set_on_every_batch(trova: Deployment, tmp_path: Path) -> None:
    key = trova.create_account("bulk-webhook", 100_000)
    source = small_leads(tmp_path / "in.csv", [1, 2, 3])
    receiver = Receiver()
    try:
        run_trova(
            *bulk_args(
                trova, key, source, tmp_path / "out.csv", "--batch-size", "2", "--webhook", receiver.url
            ),
            env=trova.env,
        )
        deadline = time.monotonic() + 60
        while len(receiver.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        receiver.httpd.shutdown()
        receiver.httpd.server_close()
    assert sorted(b["custom"]["batch"] for b in receiver.bodies) == [1, 2]
    assert {b["event"] for b in receiver.bodies} == {"bulk_phone_search_finished"}


def test_fatal_errors_are_one_line_and_a_non_zero_exit(
    trova: Deployment, leads: Path, tmp_path: Path
) -> None:
    missing = run_trova(
        *bulk_args(trova, "k", tmp_path / "nope.csv", tmp_path / "o.csv"), env=trova.env, check=False
    )
    assert missing.returncode == 1
    assert error_lines(missing.stderr) == [f"error: {tmp_path / 'nope.csv'}: no such file"]
    source = small_leads(tmp_path / "in.csv", [1, 2])
    bad_key = run_trova(
        *bulk_args(trova, "wrong-key", source, tmp_path / "o.csv"), env=trova.env, check=False
    )
    assert bad_key.returncode == 1
    [line] = error_lines(bad_key.stderr)
    assert "This apikey is not valid" in line


def test_a_changed_input_is_refused_instead_of_mixing_results(trova: Deployment, tmp_path: Path) -> None:
    key = trova.create_account("bulk-changed", 100_000)
    source = small_leads(tmp_path / "in.csv", [1, 2])
    output = tmp_path / "out.csv"
    run_trova(*bulk_args(trova, key, source, output, "--keep-state"), env=trova.env)
    small_leads(source, [2, 1])
    changed = run_trova(*bulk_args(trova, key, source, output), env=trova.env, check=False)
    assert changed.returncode == 1
    [line] = error_lines(changed.stderr)
    assert "belongs to a different input" in line
    assert [r["phone"] for r in read_output(output)] == [contact(1).phone, contact(2).phone]


def test_a_kept_journal_holds_no_number_and_a_rerun_reads_the_results_from_the_server(
    trova: Deployment, tmp_path: Path
) -> None:
    key = trova.create_account("bulk-no-numbers-kept", 100_000)
    ids = [1, 2, 3, 9001]
    source = small_leads(tmp_path / "in.csv", ids)
    output = tmp_path / "out.csv"
    run_trova(*bulk_args(trova, key, source, output, "--batch-size", "2", "--keep-state"), env=trova.env)
    kept = state_path(output).read_bytes()
    assert kept.count(b'"done"') == 2
    for i in ids[:3]:
        phone = contact(i).phone
        assert phone.encode() not in kept and phone[3:].encode() not in kept
    with Client(key, trova.base_url) as client:
        credits = client.account().credits
    output.unlink()
    run_trova(*bulk_args(trova, key, source, output, "--batch-size", "2"), env=trova.env)
    rows = read_output(output)
    assert [r["phone"] for r in rows] == [contact(i).phone for i in ids[:3]] + [""]
    assert [r["phone_sources"] for r in rows] == ["crm"] * 3 + [""]
    assert trova.batches_of("bulk-no-numbers-kept") == 2
    assert not state_path(output).exists()
    with Client(key, trova.base_url) as client:
        assert client.account().credits == credits


def test_why_says_why_each_row_found_no_number(trova: Deployment, tmp_path: Path) -> None:
    key = trova.create_account("bulk-why", 100_000)
    source = tmp_path / "in.csv"
    known, other = contact(4), contact(5)
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["first_name", "last_name", "company_name", "linkedin_url"])
        writer.writerow(["", "", "", known.linkedin_url])
        writer.writerow(["Nobody", "Atall", "Nowhere Ltd", ""])
        writer.writerow(["Bob", "", "", ""])
        writer.writerow(["", "", "", "https://www.linkedin.com/in/no-such-lead"])
        writer.writerow([other.first_name, other.last_name, other.company_name, ""])
    output = tmp_path / "out.csv"
    result = run_trova(*bulk_args(trova, key, source, output, "--why"), env=trova.env)
    rows = read_output(output)
    assert [r["phone_status"] for r in rows] == [
        "found", "not_found", "invalid_input: Missing mandatory property", "not_found", "found"
    ]
    nobody = RULE_TEXT["no_person"].split(" (docs/")[0]
    assert [r["phone_why"] for r in rows] == ["", nobody, "Missing mandatory property", nobody, ""]
    assert "credits: 80 spent, 99,920 left" in result.stdout
    without = run_trova(*bulk_args(trova, key, source, tmp_path / "plain.csv"), env=trova.env)
    assert "phone_why" not in read_output(tmp_path / "plain.csv")[0] and without.returncode == 0
