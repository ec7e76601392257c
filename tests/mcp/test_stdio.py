"""``trova mcp`` over stdio with the official MCP client, against a real ``trova serve``."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.client.support import PRICE, Deployment, contact
from tests.mcp.support import ProgressLog, call, data_of, poll, run, stdio_session, text_of

ENROW_TOOLS = {
    "find_phone",
    "get_phone_result",
    "find_phones_bulk",
    "get_phones_bulk_result",
    "get_account_info",
}
TROVA_TOOLS = {"find_phone_and_wait", "explain_phone", "find_phones_in_csv"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def test_tools_have_enrows_names_arguments_and_state_limits_and_costs(
    trova: Deployment, api_key: str
) -> None:
    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == ENROW_TOOLS | TROVA_TOOLS
        person = ["linkedin_url", "first_name", "last_name", "company_domain", "company_name"]
        assert list(tools["find_phone"].input_schema["properties"]) == person
        assert tools["get_phone_result"].input_schema["required"] == ["id"]
        assert tools["get_phones_bulk_result"].input_schema["required"] == ["id"]
        assert tools["find_phones_bulk"].input_schema["required"] == ["searches"]
        assert tools["get_account_info"].input_schema.get("properties", {}) == {}
        bulk = tools["find_phones_bulk"].description or ""
        assert "3,000" in bulk and "5,000" not in bulk
        for name in ("find_phone", "find_phones_bulk", "find_phone_and_wait", "find_phones_in_csv"):
            assert "only found numbers cost credits" in (tools[name].description or "")
        assert "not_found" in (tools["get_phone_result"].description or "")
        assert tools["get_phone_result"].annotations is not None
        assert tools["get_phone_result"].annotations.read_only_hint is True

    run(main)


def test_find_phone_then_get_phone_result_and_account_info(trova: Deployment, api_key: str) -> None:
    person = contact(1)

    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            before = await call(session, "get_account_info")
            started = await call(session, "find_phone", linkedin_url=person.linkedin_url)
            assert started["credits_used"] == PRICE
            result = await poll(
                session, "get_phone_result", lambda d: d["qualification"] != "ongoing", id=started["id"]
            )
            assert (result["qualification"], result["number"], result["country"]) == (
                "found",
                person.phone,
                "FR",
            )
            final = await session.call_tool("get_phone_result", {"id": started["id"]})
            assert text_of(final).startswith(f"found {person.phone}")
            after = await call(session, "get_account_info")
        assert before["credits"] == 10_000
        assert after["credits"] == 10_000 - PRICE

    run(main)


def test_find_phone_and_wait_answers_once_and_not_found_is_free(trova: Deployment, api_key: str) -> None:
    person = contact(2)

    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            found = await call(
                session,
                "find_phone_and_wait",
                first_name=person.first_name,
                last_name=person.last_name,
                company_domain=person.company_domain,
                timeout_s=120,
            )
            missing = await call(
                session,
                "find_phone_and_wait",
                first_name="Nobody",
                last_name="Known",
                company_name="Nowhere Ltd",
                timeout_s=120,
            )
            account = await call(session, "get_account_info")
        assert (found["qualification"], found["number"], found["credits_used"]) == (
            "found",
            person.phone,
            PRICE,
        )
        assert (missing["qualification"], missing["credits_used"]) == ("not_found", 0)
        assert "number" not in missing
        assert account["credits"] == 10_000 - PRICE

    run(main)


def test_explain_phone_says_why_this_number_and_why_none(trova: Deployment, api_key: str) -> None:
    person = contact(3)

    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            found = await call(
                session, "find_phone_and_wait", linkedin_url=person.linkedin_url, timeout_s=120
            )
            missing = await call(
                session, "find_phone_and_wait", linkedin_url="linkedin.com/in/nobody-at-all", timeout_s=120
            )
            why = await session.call_tool("explain_phone", {"id": found["id"]})
            why_not = await call(session, "explain_phone", id=missing["id"])
        explained = data_of(why)
        assert explained["id"] == found["id"]
        assert explained["result"] == {
            "qualification": "found",
            "number": person.phone,
            "country": "FR",
            "line_type": "mobile",
        }
        assert explained["explanation"]["rule"] == "linkedin"
        assert explained["explanation"]["search"]["linkedin_key"] == "lead-00003"
        [candidate] = explained["explanation"]["candidates"]
        assert [n["e164"] for n in candidate["numbers"] if n["chosen"]] == [person.phone]
        assert text_of(why).startswith("found: the LinkedIn profile is on record")
        assert why_not["result"] == {"qualification": "not_found"}
        assert why_not["explanation"]["rule"] == "no_person"
        assert why_not["explanation"]["candidates"] == []

    run(main)


def test_bulk_tools_return_results_in_search_order(trova: Deployment, api_key: str) -> None:
    people = [contact(4), contact(5)]

    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            started = await call(
                session,
                "find_phones_bulk",
                searches=[
                    {"linkedin_url": people[0].linkedin_url},
                    {"first_name": "Nobody", "last_name": "Known", "company_domain": "nowhere-ltd.com"},
                    {
                        "first_name": people[1].first_name,
                        "last_name": people[1].last_name,
                        "company_name": people[1].company_name,
                    },
                ],
            )
            assert started["credits_used"] == 3 * PRICE
            batch = await poll(
                session,
                "get_phones_bulk_result",
                lambda d: d["general"]["status"] != "ongoing",
                id=started["id"],
            )
        assert batch["general"]["status"] == "completed"
        results = batch["results"]
        assert [(r["index"], r["qualification"], r.get("number")) for r in results] == [
            (0, "found", people[0].phone),
            (1, "not_found", None),
            (2, "found", people[1].phone),
        ]
        assert results[2]["params"]["firstname"] == people[1].first_name  # sent under the API's name

    run(main)


def test_bad_arguments_and_api_refusals_are_tool_errors_with_the_apis_message(
    trova: Deployment, api_key: str
) -> None:
    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            nobody = await session.call_tool("find_phone", {"first_name": "Only"})
            unknown = await session.call_tool("get_phone_result", {"id": UNKNOWN_ID})
            unknown_batch = await session.call_tool("get_phones_bulk_result", {"id": "nope"})
            too_many = await session.call_tool(
                "find_phones_bulk",
                {"searches": [{"linkedin_url": f"linkedin.com/in/p{i}"} for i in range(3001)]},
            )
            bad_type = await session.call_tool("find_phone_and_wait", {"linkedin_url": "x", "timeout_s": -1})
            extra = await session.call_tool("find_phones_bulk", {"searches": [{"email": "a@b.c"}]})
            # the server is still alive after all of that
            account = await call(session, "get_account_info")
        assert nobody.is_error and text_of(nobody) == "Missing mandatory property (HTTP 400)"
        assert nobody.structured_content == {"message": "Missing mandatory property", "status": 400}
        assert unknown.is_error and text_of(unknown) == "Search not found (HTTP 404)"
        assert unknown_batch.is_error and text_of(unknown_batch) == "Bulk search not found (HTTP 404)"
        assert too_many.is_error
        assert text_of(too_many) == "Too many searches. Limit is currently at 3000 per batch. (HTTP 400)"
        assert bad_type.is_error and "timeout_s" in text_of(bad_type)
        assert extra.is_error and "email" in text_of(extra)
        assert account["credits"] == 10_000  # nothing was charged

    run(main)


def test_a_wrong_key_is_a_tool_error_not_a_crash(trova: Deployment) -> None:
    async def main() -> None:
        async with stdio_session(trova.base_url, "trova_wrong", trova.root) as session:
            first = await session.call_tool("get_account_info", {})
            second = await session.call_tool("find_phone", {"linkedin_url": contact(1).linkedin_url})
        assert first.is_error and second.is_error
        assert first.structured_content is not None and first.structured_content["status"] == 401

    run(main)


def write_leads(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First Name", "Last Name", "Org", "LinkedIn Profile", "Notes"])
        for i in (6, 7):
            person = contact(i)
            writer.writerow([person.first_name, person.last_name, person.company_name, "", f"note {i}"])
        writer.writerow(["", "", "", contact(8).linkedin_url, "by profile"])
        writer.writerow(["Nobody", "Known", "Nowhere Ltd", "", "unknown"])
        writer.writerow(["Bob", "", "", "", "unusable"])
        writer.writerow(["", "", "", contact(8).linkedin_url.upper(), "same person again"])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_find_phones_in_csv_writes_an_enriched_file_with_progress_and_resumes(
    trova: Deployment, api_key: str, tmp_path: Path
) -> None:
    leads, output = tmp_path / "leads.csv", tmp_path / "leads-with-phones.csv"
    write_leads(leads)
    progress, again = ProgressLog(), ProgressLog()

    async def main() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            arguments = {
                "input_path": str(leads),
                "column_map": {"Org": "company_name"},
                "poll_interval_s": 0.1,
            }
            first = data_of(
                await session.call_tool("find_phones_in_csv", arguments, progress_callback=progress)
            )
            second = data_of(
                await session.call_tool("find_phones_in_csv", arguments, progress_callback=again)
            )
            account = await call(session, "get_account_info")
        return first, second, account

    first, second, account = run(main)
    assert first["output_path"] == str(output)
    assert (first["rows"], first["found"], first["not_found"], first["invalid_input"]) == (6, 4, 1, 1)
    assert first["complete"] is True and first["batches"] == 1 and first["unique_searches"] == 4
    rows = read_csv(output)
    assert [r["Notes"] for r in rows] == [
        "note 6",
        "note 7",
        "by profile",
        "unknown",
        "unusable",
        "same person again",
    ]
    assert [(r["phone_status"], r["phone"]) for r in rows] == [
        ("found", contact(6).phone),
        ("found", contact(7).phone),
        ("found", contact(8).phone),
        ("not_found", ""),
        ("invalid_input: Missing mandatory property", ""),
        ("found", contact(8).phone),
    ]
    assert progress.updates, "no progress notification"
    assert progress.updates[-1][:2] == (6.0, 6.0)
    assert all(total == 6.0 for _, total, _ in progress.updates)
    assert [done for done, _, _ in progress.updates] == sorted(done for done, _, _ in progress.updates)
    # the second call resumes from the state file: same output, nothing searched or paid again
    assert second == first
    assert read_csv(output) == rows
    assert account["credits"] == 10_000 - 3 * PRICE


def test_find_phones_in_csv_refuses_a_file_it_cannot_use(
    trova: Deployment, api_key: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("Notes,Other\nhello,world\n")

    async def main() -> None:
        async with stdio_session(trova.base_url, api_key, trova.root) as session:
            missing = await session.call_tool(
                "find_phones_in_csv", {"input_path": str(tmp_path / "none.csv")}
            )
            useless = await session.call_tool("find_phones_in_csv", {"input_path": str(notes)})
        assert missing.is_error and "no such file" in text_of(missing)
        assert useless.is_error and "no column identifies a person" in text_of(useless)

    run(main)
