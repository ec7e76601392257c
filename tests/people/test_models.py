"""The finder's values: a search's cached hash follows its keys, in this process and another."""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import replace

from trova.people.models import Search


def test_equal_searches_hash_alike_and_a_changed_key_changes_the_hash() -> None:
    search = Search("jane-doe", "jane", "doe", "acme.com", "acme")
    assert search == Search("jane-doe", "jane", "doe", "acme.com", "acme")
    assert hash(search) == hash(Search("jane-doe", "jane", "doe", "acme.com", "acme"))
    moved = replace(search, company_domain="acme.it")
    assert moved != search
    assert hash(moved) == hash(Search("jane-doe", "jane", "doe", "acme.it", "acme"))
    assert {search: 1}.get(Search("jane-doe", "jane", "doe", "acme.com", "acme")) == 1


def test_a_search_unpickled_in_another_process_keys_its_dicts() -> None:
    """String hashes are salted per process: a hash carried in the pickle would miss there."""
    search = Search(None, "jane", "doe", "acme.com", None, "jane doe")
    program = (
        "import pickle, sys\n"
        "from trova.people.models import Search\n"
        "search = pickle.loads(sys.stdin.buffer.read())\n"
        "print({Search(None, 'jane', 'doe', 'acme.com', None, 'jane doe'): 'found'}.get(search))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program],
        input=pickle.dumps(search),
        capture_output=True,
        check=True,
        env={"PYTHONHASHSEED": "random", "PATH": ""},
    )
    assert run.stdout.decode().strip() == "found"
