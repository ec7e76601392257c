"""The import pipeline on both dialects: what lands in the store, linking rules, idempotency, reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from trova.contacts import repository as contacts_repo
from trova.contacts.models import RowProblem
from trova.errors import ImportFileRefused
from trova.ingest import parallel
from trova.ingest.service import import_paths
from trova.store import Database
from trova.store.tables import (
    companies,
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)

HEADER = "linkedin_url,first_name,last_name,company_name,company_domain,phone,country,observed_at,source\n"


@dataclass(frozen=True)
class StoredPerson:
    linkedin_key: str | None
    names: frozenset[tuple[str, str]]
    company_names: frozenset[str]
    company_domains: frozenset[str]
    numbers: frozenset[str]


def csv_file(tmp_path: Path, *rows: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def stored_people(db: Database) -> list[StoredPerson]:
    """Every person of the store with what the store links to them (sorted for comparison): a weak
    group that has an owner is shown as part of its owner (docs/finder.md §2.6)."""
    with db.read() as conn:
        found = []
        owned = sa.select(people.c.id).where(people.c.owner_id == sa.bindparam("pid"))
        alone = sa.select(people.c.id, people.c.linkedin_key).where(people.c.owner_id.is_(None))
        for person in conn.execute(alone):
            ids = [person.id, *conn.execute(owned, {"pid": person.id}).scalars()]
            names = conn.execute(
                sa.select(person_names.c.first_key, person_names.c.last_key).where(
                    person_names.c.person_id.in_(ids)
                )
            )
            linked = sa.select(person_companies.c.company_id).where(person_companies.c.person_id.in_(ids))
            keys = conn.execute(
                sa.select(company_names.c.name_key).where(company_names.c.company_id.in_(linked))
            )
            domains = conn.execute(
                sa.select(company_domains.c.domain).where(company_domains.c.company_id.in_(linked))
            )
            numbers = conn.execute(
                sa.select(sa.func.coalesce(phone_observations.c.e164, phone_observations.c.raw)).where(
                    phone_observations.c.person_id.in_(ids)
                )
            )
            found.append(
                StoredPerson(
                    person.linkedin_key,
                    frozenset((row.first_key, row.last_key) for row in names),
                    frozenset(keys.scalars()),
                    frozenset(domains.scalars()),
                    frozenset(numbers.scalars()),
                )
            )
    return sorted(found, key=lambda p: (sorted(p.numbers), p.linkedin_key or ""))


def count(db: Database, table: sa.Table) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_row_becomes_a_person_a_company_and_an_observation(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "https://www.linkedin.com/in/%C3%89lodie-M/,Élodie,Martin-Durand,ACME SAS,https://careers.acme.co.uk/x,"
        "06 12 34 56 78,fr,2024-05-01T10:30:00+02:00,",
    )
    report = import_paths(db, [path])
    assert (report.rows_read, report.records_stored, report.people_created, report.people_updated) == (
        1,
        1,
        1,
        0,
    )
    assert stored_people(db) == [
        StoredPerson(
            "élodie-m",
            frozenset({("elodie", "martin durand")}),
            frozenset({"acme"}),
            frozenset({"acme.co.uk"}),
            frozenset({"+33612345678"}),
        )
    ]
    with db.read() as conn:
        row = conn.execute(sa.select(phone_observations)).one()
    assert (row.valid, row.line_type, row.region, row.raw, row.country_hint, row.source) == (
        True,
        "mobile",
        "FR",
        "06 12 34 56 78",
        "FR",
        "contacts.csv",
    )
    assert row.observed_at == dt.datetime(2024, 5, 1, 8, 30)


def test_importing_twice_adds_nothing_and_duplicate_rows_count_once(db: Database, tmp_path: Path) -> None:
    row = "linkedin.com/in/ada,Ada,Lovelace,Acme,,+1 570 555 1234,,2024-01-02,crm"
    path = csv_file(tmp_path, row, row, row.replace("2024-01-02", "2024-01-02T08:00:00"))
    first = import_paths(db, [path])
    assert (first.records_stored, first.duplicates, first.people_created) == (1, 2, 1)
    second = import_paths(db, [path])
    assert (second.rows_read, second.records_stored, second.duplicates, second.people_created) == (3, 0, 3, 0)
    assert second.people_updated == 0
    assert count(db, phone_observations) == 1 and count(db, people) == 1


def test_rows_without_a_date_are_dated_now_and_still_imported_once(db: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "linkedin.com/in/ada,,,,,+15705551234,,,")
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    import_paths(db, [path])
    import_paths(db, [path])
    with db.read() as conn:
        observed = conn.execute(sa.select(phone_observations.c.observed_at)).scalars().all()
    assert len(observed) == 1 and observed[0] >= before - dt.timedelta(seconds=1)


def test_bad_rows_are_skipped_with_their_line_and_reason(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "linkedin.com/in/ada,,,,,+15705551234,,2024-01-02,",
        "linkedin.com/in/bob,,,,,,,2024-01-02,",
        ",Carl,Sagan,,,+15705551235,,,",
        "https://www.linkedin.com/company/acme,,,,,+15705551236,,,",
        "linkedin.com/in/dan,,,,,+15705551237,,yesterday,",
        "linkedin.com/in/eve,,,,,+15705551238",
    )
    seen: list[RowProblem] = []
    report = import_paths(db, [path], on_problem=seen.append)
    assert [str(problem) for problem in report.problems] == [
        "contacts.csv:3: no number",
        "contacts.csv:4: no person (names without a company name or domain)",
        "contacts.csv:5: no person (linkedin_url is not a profile URL)",
        "contacts.csv:6: bad date ('yesterday')",
        "contacts.csv:7: wrong column count (6 fields, header has 9)",
    ]
    assert seen == list(report.problems)
    assert dict(report.skipped) == {"no number": 1, "no person": 2, "bad date": 1, "wrong column count": 1}
    assert (report.rows_read, report.rows_skipped, report.records_stored) == (6, 5, 1)


def test_several_numbers_national_forms_and_unusable_numbers_are_all_kept(
    db: Database, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        'linkedin.com/in/ada,,,,,"06 12 34 56 78; (+33) 6-12-34-56-79 | 0033 6 12 34 56 80 ext. 12",FR,,',
        "linkedin.com/in/bob,,,,,(201) 555-0123,US,,",
        'linkedin.com/in/cat,,,,,"0800 123 456 | n/a | +33 6 12",FR,,',
    )
    report = import_paths(db, [path])
    assert report.records_stored == 7
    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                phone_observations.c.raw,
                phone_observations.c.e164,
                phone_observations.c.valid,
                phone_observations.c.line_type,
            ).order_by(phone_observations.c.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("06 12 34 56 78", "+33612345678", True, "mobile"),
        ("(+33) 6-12-34-56-79", "+33612345679", True, "mobile"),
        ("0033 6 12 34 56 80 ext. 12", "+33612345680", True, "mobile"),
        ("(201) 555-0123", "+12015550123", True, "fixed_line_or_mobile"),
        ("0800 123 456", "+33800123456", True, "toll_free"),
        ("n/a", None, False, None),
        ("+33 6 12", "+33612", False, "unknown"),
    ]


def test_rows_join_by_profile_else_by_unique_names_and_company(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "linkedin.com/in/ada,Ada,Lovelace,Acme Inc.,acme.com,+15705550001,,,",
        "https://fr.linkedin.com/in/ADA/details/,,,,,+15705550002,,,",
        ",ADA,lovelace,ACME,,+15705550003,,,",
        ",Ada,Lovelace,,https://www.acme.com/about,+15705550004,,,",
        ",Ada,Lovelace,Other Corp,,+15705550005,,,",
    )
    import_paths(db, [path])
    assert stored_people(db) == [
        StoredPerson(
            "ada",
            frozenset({("ada", "lovelace")}),
            frozenset({"acme"}),
            frozenset({"acme.com"}),
            frozenset({f"+1570555000{i}" for i in range(1, 5)}),
        ),
        StoredPerson(
            None,
            frozenset({("ada", "lovelace")}),
            frozenset({"other"}),
            frozenset(),
            frozenset({"+15705550005"}),
        ),
    ]


def test_a_weak_record_belongs_to_a_profile_only_while_it_is_the_only_namesake(
    db: Database, tmp_path: Path
) -> None:
    """The issue's case: the record without a profile, imported first, is not kept by the first
    profile of that name once a second one arrives (docs/finder.md §2.6)."""
    import_paths(db, [csv_file(tmp_path, ",Ada,Lovelace,Acme,,+15705550001,,,", name="a.csv")])
    import_paths(
        db, [csv_file(tmp_path, "linkedin.com/in/ada,Ada,Lovelace,Acme,,+15705550002,,,", name="b.csv")]
    )
    assert [(p.linkedin_key, sorted(p.numbers)) for p in stored_people(db)] == [
        ("ada", ["+15705550001", "+15705550002"]),
    ]
    import_paths(
        db, [csv_file(tmp_path, "linkedin.com/in/ada-2,Ada,Lovelace,Acme,,+15705550003,,,", name="c.csv")]
    )
    assert [(p.linkedin_key, sorted(p.numbers)) for p in stored_people(db)] == [
        (None, ["+15705550001"]),
        ("ada", ["+15705550002"]),
        ("ada-2", ["+15705550003"]),
    ]
    import_paths(db, [csv_file(tmp_path, ",Ada,Lovelace,Acme,,+15705550004,,,", name="d.csv")])
    assert count(db, people) == 3, "the weak group of Ada at Acme takes the new record"


def test_a_company_is_known_by_every_name_and_domain_linked_to_it(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        ",Ada,Lovelace,Acme & Sons Ltd,,+15705550001,,,",
        ",Bob,Babbage,,acme.co.uk,+15705550002,,,",
        ",Cat,Curie,ACME AND SONS,https://www.acme.co.uk,+15705550003,,,",
        ",Dan,Dirac,Acme and Sons Limited,,+15705550004,,,",
        ",Eve,Euler,Acme Holdings,https://shop.acme.co.uk,+15705550005,,,",
    )
    import_paths(db, [path])
    assert count(db, companies) == 2, "acme.co.uk, and the company known only by the name"
    with db.read() as conn:
        assert set(conn.execute(sa.select(company_names.c.name_key)).scalars()) == {
            "acme and sons",
            "acme holdings",
        }
        assert set(conn.execute(sa.select(company_domains.c.domain)).scalars()) == {"acme.co.uk"}


def test_people_split_by_row_order_are_merged_once_rows_connect_them(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        ",Ada,Lovelace,Acme,,+15705550001,,,",
        ",Ada,Lovelace,,acme.com,+15705550002,,,",
        "linkedin.com/in/ada,,,,,+15705550003,,,",
        "linkedin.com/in/ada,Ada,Lovelace,,,+15705550004,,,",
        "linkedin.com/in/ada,,,Acme,,+15705550005,,,",
        ",Ada,Lovelace,Acme,acme.com,+15705550006,,,",
    )
    import_paths(db, [path], chunk_rows=2)
    [ada] = stored_people(db)
    assert ada.linkedin_key == "ada" and len(ada.numbers) == 6
    assert ada.company_names == {"acme"} and ada.company_domains == {"acme.com"}
    assert count(db, companies) == 2, "acme.com, and Acme known by its name alone"


def test_namesakes_with_two_profiles_stay_two_people(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "linkedin.com/in/jan-1,Jan,Jansen,Acme,acme.nl,+31612345671,,,",
        "linkedin.com/in/jan-2,Jan,Jansen,Acme,acme.nl,+31612345672,,,",
        "linkedin.com/in/jan-2,Jan,Jansen,Acme,acme.nl,+31612345673,,,",
    )
    import_paths(db, [path])
    assert [(p.linkedin_key, len(p.numbers)) for p in stored_people(db)] == [("jan-1", 1), ("jan-2", 2)]


def test_source_comes_from_the_row_then_the_option_then_the_file_name(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path, "linkedin.com/in/ada,,,,,+15705550001,,,crm", "linkedin.com/in/bob,,,,,+15705550002,,,"
    )
    import_paths(db, [path], source="vendor-x")
    import_paths(db, [csv_file(tmp_path, "linkedin.com/in/cat,,,,,+15705550003,,,", name="z.csv")])
    with db.read() as conn:
        sources = conn.execute(
            sa.select(phone_observations.c.source).order_by(phone_observations.c.id)
        ).scalars()
        assert list(sources) == ["crm", "vendor-x", "z.csv"]


def test_dry_run_reports_the_same_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        ",Ada,Lovelace,Acme,,+15705550001,,,",
        "linkedin.com/in/ada,Ada,Lovelace,Acme,,+15705550002,,,",
        "linkedin.com/in/bob,,,,,+15705550003,,,",
        "linkedin.com/in/bob,,,,,+15705550003,,,",
        "linkedin.com/in/bob,,,,,,,,",
    )
    dry = import_paths(db, [path], dry_run=True, chunk_rows=2)
    assert count(db, people) == 0 and count(db, phone_observations) == 0
    real = import_paths(db, [path], chunk_rows=2)
    assert dry.dry_run and not real.dry_run
    # A dry run cannot know the owners of weak groups: it counts Ada's record without a profile as
    # one more person (docs/import.md §8.2).
    assert (dry.people_created, real.people_created) == (3, 2)
    for report in (dry, real):
        assert (report.rows_read, report.records_stored, report.duplicates) == (5, 3, 1)
        assert report.problems == (RowProblem("contacts.csv", 6, "no number"),)


def test_a_file_that_is_not_contacts_is_refused_before_anything_is_written(
    db: Database, tmp_path: Path
) -> None:
    good = csv_file(tmp_path, "linkedin.com/in/ada,,,,,+15705550001,,,")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    with pytest.raises(ImportFileRefused, match=r"photo\.jpg: binary file"):
        import_paths(db, [good, binary])
    assert count(db, people) == 0 and count(db, phone_observations) == 0


def test_an_empty_file_is_refused_before_anything_is_written(db: Database, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("linkedin_url,phone\nlinkedin.com/in/ada,+33612345678\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileRefused, match=r"^empty\.csv: empty \(no header line\)$"):
        import_paths(db, [good, empty])
    assert count(db, people) == 0 and count(db, phone_observations) == 0


def test_worker_processes_build_the_same_store(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        f"linkedin.com/in/p{i},P{i},Q{i},Co {i % 7},,+1570555{i:04d},,2024-01-{1 + i % 28:02d},"
        for i in range(600)
    ]
    path = csv_file(
        tmp_path, *rows, "linkedin.com/in/zz,,,,,,,,", "linkedin.com/in/p1,,,,,+15705550001,,2024-01-02,"
    )
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    report = import_paths(db, [path], workers=2, chunk_rows=50)
    assert (report.rows_read, report.records_stored, report.duplicates, report.people_created) == (
        602,
        600,
        1,
        600,
    )
    assert [str(problem) for problem in report.problems] == ["contacts.csv:602: no number"]
    assert count(db, person_companies) == 600 and count(db, companies) == 7


@pytest.mark.parametrize("chunk_rows", [1, 100])
def test_people_merged_later_in_the_import_are_not_counted_as_created(
    db: Database, tmp_path: Path, chunk_rows: int
) -> None:
    """A name-only company and a domain-only company turn out to be one: their two namesakes merge."""
    path = csv_file(
        tmp_path,
        ",Milo,Polizzi,Studio Montanari,,+39 312 366 7302,IT,2021-07-24,",
        ",Milo,Polizzi,,http://studio-montanari.it,312.379.2172,IT,2023-04-27,",
        ",Milo,Polizzi,STUDIO MONTANARI,https://www.studio-montanari.it/,+39 312 366 7302,IT,2019-02-13,",
    )
    report = import_paths(db, [path], chunk_rows=chunk_rows)
    assert len(stored_people(db)) == 1, "the group at the name alone belongs to the one at the domain"
    assert (report.people_created, report.records_stored) == (1, 3)
    again = import_paths(db, [path], chunk_rows=chunk_rows)
    assert (again.people_created, again.duplicates) == (0, 3)


@pytest.mark.postgres
def test_a_chunk_racing_another_writer_is_linked_again_from_what_that_writer_stored(
    pg_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another import stores the chunk's number after the chunk found it unknown and before it
    writes: the chunk's insert fails and the chunk is linked again, finding the number known.
    PostgreSQL only: SQLite's write lock admits no writer between a chunk's reads and its writes."""
    path = csv_file(tmp_path, ",Ann,Lee,Acme,acme.com,+1 570 555 0100,US,2024-01-02,crm")
    other = Database(pg_db.url)
    read_unknown = contacts_repo.existing_dedupe_keys
    reads: list[int] = []

    def unknown_then_stored_by_another(conn: sa.Connection, keys: Iterable[str]) -> set[str]:
        found = read_unknown(conn, keys)
        reads.append(len(found))
        if len(reads) == 1:
            assert import_paths(other, [path], workers=0).records_stored == 1
        return found

    monkeypatch.setattr(contacts_repo, "existing_dedupe_keys", unknown_then_stored_by_another)
    report = import_paths(pg_db, [path], workers=0)
    other.dispose()
    assert reads == [0, 0, 1], "read: this import's, the other's, this import's again"
    assert (report.records_stored, report.duplicates, report.people_created) == (0, 1, 0)
    assert count(pg_db, phone_observations) == 1 and count(pg_db, people) == 1
