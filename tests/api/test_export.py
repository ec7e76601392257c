"""``GET /phone/bulk/export`` (extension): a batch's results as CSV, streamed, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx

from tests.api.conftest import Api
from trova.api.routes.export import PAGE_ROWS
from trova.people.models import Answer

FOUND = {
    f"lead-{i}": Answer(person_key=f"p:{i}", number=f"+3361234{i:04d}", country="FR", line_type="mobile",
                        sources=("crm", "vendor"), last_seen=dt.date(2026, 11, 2))
    for i in range(0, PAGE_ROWS * 2 + 100, 7)
}
SIZE = PAGE_ROWS * 2 + 100  # three pages


def searches() -> list[dict[str, str]]:
    rows = [{"linkedin_url": f"https://www.linkedin.com/in/lead-{i}"} for i in range(SIZE - 2)]
    rows.append({"firstname": "Élodie", "lastname": "Durand", "company_name": "Acme, \"Corp\""})
    rows.append({"full_name": "Ada Lovelace", "company_domain": "example.com"})
    return rows


def export(http: httpx.Client, batch_id: str, **params: str) -> httpx.Response:
    return http.get("/phone/bulk/export", params={"id": batch_id, **params})


def test_the_export_has_every_result_of_the_batch_in_index_order(api: Api) -> None:
    key = api.account("exporter", "--credits", str(40 * SIZE))
    with api.client(key) as http:
        batch_id = http.post("/phone/bulk", json={"searches": searches()}).json()["id"]
        ongoing = export(http, batch_id)
        api.work(FOUND)
        done = export(http, batch_id, format="csv")
        results = http.get("/phone/bulk", params={"id": batch_id}).json()["results"]

    assert ongoing.status_code == 200
    assert {row["phone_status"] for row in csv.DictReader(io.StringIO(ongoing.text))} == {"pending"}

    assert done.status_code == 200
    assert done.headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in done.headers, "the body is streamed"
    assert done.headers["content-disposition"] == f'attachment; filename="trova-{batch_id}.csv"'
    reader = csv.DictReader(io.StringIO(done.text))
    assert reader.fieldnames == [
        "index", "id",
        "linkedin_url", "first_name", "last_name", "full_name", "company_name", "company_domain",
        "phone", "phone_country", "phone_line_type", "phone_sources", "phone_last_seen", "phone_status",
    ]
    rows = list(reader)
    assert [int(row["index"]) for row in rows] == list(range(SIZE))
    for row, result in zip(rows, sorted(results, key=lambda r: r["index"]), strict=True):
        assert row["id"] == result["id"]
        assert row["phone_status"] == result["qualification"]
        assert row["phone"] == result.get("number", "")
        assert row["phone_country"] == result.get("country", "")
        assert row["phone_line_type"] == result.get("line_type", "")
        assert row["phone_sources"] == ";".join(result.get("sources", []))
        assert row["phone_last_seen"] == result.get("last_seen", "")
        assert row["linkedin_url"] == result["params"].get("linkedin_url", "")
    assert sum(row["phone_status"] == "found" for row in rows) == len(FOUND)
    assert (rows[-2]["first_name"], rows[-2]["last_name"], rows[-2]["company_name"]) == (
        "Élodie", "Durand", 'Acme, "Corp"'
    )
    assert (rows[-1]["full_name"], rows[-1]["company_domain"]) == ("Ada Lovelace", "example.com")


def test_the_export_is_refused_as_get_phone_bulk_refuses(api: Api) -> None:
    key = api.account("export-owner", "--credits", "100")
    with api.client(key) as http:
        one = [{"linkedin_url": "linkedin.com/in/a"}]
        batch_id = http.post("/phone/bulk", json={"searches": one}).json()["id"]
        single_id = http.post("/phone/single", json={"linkedin_url": "linkedin.com/in/a"}).json()["id"]
        bad_format = export(http, batch_id, format="xlsx")
        of_single = export(http, single_id)
        not_uuid = export(http, "nope")
        missing = http.get("/phone/bulk/export")
        missing_bulk = http.get("/phone/bulk")
    with api.client(api.account("export-stranger", "--credits", "100")) as http:
        theirs = export(http, batch_id)
        theirs_bulk = http.get("/phone/bulk", params={"id": batch_id})
    with api.client() as anonymous:
        no_key = export(anonymous, batch_id)
        no_key_bulk = anonymous.get("/phone/bulk", params={"id": batch_id})

    assert (bad_format.status_code, bad_format.json()) == (
        400, {"message": "Unknown format 'xlsx': format must be csv"}
    )
    for answer in (theirs, of_single, not_uuid):
        assert (answer.status_code, answer.json()) == (theirs_bulk.status_code, theirs_bulk.json())
    assert theirs.status_code == 404
    assert (missing.status_code, missing.json()) == (missing_bulk.status_code, missing_bulk.json())
    assert no_key.status_code == 401
    assert (no_key.status_code, no_key.json()) == (no_key_bulk.status_code, no_key_bulk.json())


def test_the_export_is_in_the_openapi_document(api: Api) -> None:
    with api.client() as http:
        operation = http.get("/openapi.json").json()["paths"]["/phone/bulk/export"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    assert [p["name"] for p in operation["parameters"]] == ["id", "format"]
    assert "text/csv" in operation["responses"]["200"]["content"]
