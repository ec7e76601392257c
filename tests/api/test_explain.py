"""``GET /phone/single/explain`` (Trova extension): the explanation of a search, redacted for callers."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api
from trova.batches.step import BatchStep
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.settings import Settings
from trova.store import Database

CONTACTS = """linkedin_url,first_name,last_name,company_name,company_domain,phone,country,source
https://www.linkedin.com/in/grace-hopper,Grace,Hopper,Navy Labs,navylabs.com,+1 570 555 0101,US,crm
https://www.linkedin.com/in/grace-hopper,Grace,Hopper,Navy Labs,navylabs.com,+1 800 555 0199,US,crm
https://www.linkedin.com/in/john-smith-1,John,Smith,Twin Corp,twincorp.com,+33 6 12 34 56 01,FR,crm
https://www.linkedin.com/in/john-smith-2,John,Smith,Twin Corp,twincorp.com,+33 6 12 34 56 02,FR,crm
https://www.linkedin.com/in/john-smith-3,John,Smith,Elsewhere,elsewhere.com,+33 6 12 34 56 03,FR,crm
"""


def resolve(api: Api) -> None:
    """Run the workers with the real finder (the contact store), in this process."""
    db = Database(api.url)
    try:
        settings = Settings(database_url=api.url)
        jobs.run_until_idle(db, settings, BatchStep(db, settings, Finder(db)))
    finally:
        db.dispose()


def test_explain_found_not_found_and_refusals(api: Api, tmp_path: Path) -> None:
    contacts = tmp_path / "explain-contacts.csv"
    contacts.write_text(CONTACTS)
    api.cli("import", str(contacts))
    key = api.account("explainer", "--credits", "1000")
    with api.client(key) as http:
        found = http.post("/phone/single", json={"linkedin_url": "linkedin.com/in/grace-hopper"}).json()["id"]
        ambiguous = http.post(
            "/phone/single",
            json={"first_name": "John", "last_name": "Smith", "company_domain": "twincorp.com"},
        ).json()["id"]
        resolve(api)
        why = http.get("/phone/single/explain", params={"id": found})
        why_not = http.get("/phone/single/explain", params={"id": ambiguous.upper()})
        unknown = http.get("/phone/single/explain", params={"id": "00000000-0000-4000-8000-000000000000"})
        not_uuid = http.get("/phone/single/explain", params={"id": "nope"})
        missing = http.get("/phone/single/explain")
    with api.client() as anonymous:
        no_key = anonymous.get("/phone/single/explain", params={"id": found})
    other = api.account("explainer-other")
    with api.client(other) as http:
        not_theirs = http.get("/phone/single/explain", params={"id": found})

    assert why.status_code == 200
    body = why.json()
    assert body["id"] == found
    assert body["result"] == {
        "qualification": "found",
        "number": "+15705550101",
        "country": "US",
        "line_type": "fixed_line_or_mobile",
    }
    explanation = body["explanation"]
    assert (explanation["rule"], explanation["number"]) == ("linkedin", "+15705550101")
    [grace] = explanation["candidates"]
    assert grace["chosen"] is True and grace["has_linkedin"] is True
    numbers = grace["numbers"]
    assert [n.get("e164") for n in numbers if n["chosen"]] == ["+15705550101"]
    # the toll-free number the finder never returns is described, not given
    [toll_free] = [n for n in numbers if not n["chosen"]]
    assert "e164" not in toll_free and "raw" not in toll_free
    assert toll_free["excluded"] == "toll_free"

    assert why_not.status_code == 200
    body = why_not.json()
    assert body["result"] == {"qualification": "not_found"}
    assert body["explanation"]["rule"] == "ambiguous"
    assert len(body["explanation"]["candidates"]) == 2
    assert all("e164" not in n for c in body["explanation"]["candidates"] for n in c["numbers"])
    assert body["explanation"]["namesakes_elsewhere"] == 1
    assert "+33612345601" not in why_not.text and "+33612345603" not in why_not.text

    assert (unknown.status_code, unknown.json()) == (404, {"message": "Search not found"})
    assert (not_uuid.status_code, not_uuid.json()) == (404, {"message": "Search not found"})
    assert (not_theirs.status_code, not_theirs.json()) == (404, {"message": "Search not found"})
    assert (missing.status_code, missing.json()) == (400, {"message": "Missing id in the query params"})
    assert no_key.status_code == 401


def test_explain_is_in_the_openapi_document_with_the_api_key(api: Api) -> None:
    with api.client() as http:
        document = http.get("/openapi.json").json()
    operation = document["paths"]["/phone/single/explain"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    assert operation["parameters"][0]["name"] == "id"


def test_one_search_of_a_bulk_batch_is_explained_by_its_result_id(api: Api, tmp_path: Path) -> None:
    contacts = tmp_path / "explain-bulk-contacts.csv"
    contacts.write_text(CONTACTS)
    api.cli("import", str(contacts))
    key = api.account("bulk-explainer", "--credits", "1000")
    searches = [
        {"linkedin_url": "linkedin.com/in/grace-hopper"},
        {"first_name": "John", "last_name": "Smith", "company_domain": "twincorp.com"},
    ]
    with api.client(key) as http:
        batch_id = http.post("/phone/bulk", json={"searches": searches}).json()["id"]
        resolve(api)
        results = http.get("/phone/bulk", params={"id": batch_id}).json()["results"]
        ids = [result["id"] for result in sorted(results, key=lambda r: r["index"])]
        answers = [http.get("/phone/single/explain", params={"id": search_id}) for search_id in ids]
        the_batch = http.get("/phone/single/explain", params={"id": batch_id})
    with api.client(api.account("bulk-explainer-other")) as http:
        not_theirs = http.get("/phone/single/explain", params={"id": ids[1]})
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["id"] for a in answers] == ids
    assert [a.json()["explanation"]["rule"] for a in answers] == ["linkedin", "ambiguous"]
    assert answers[1].json()["result"] == {"qualification": "not_found"}
    assert (the_batch.status_code, the_batch.json()) == (404, {"message": "Search not found"})
    assert (not_theirs.status_code, not_theirs.json()) == (404, {"message": "Search not found"})
