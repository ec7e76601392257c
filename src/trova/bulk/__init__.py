"""The ``trova bulk`` tool: a lead file in, the same file with phone numbers out.

A client-side tool built on :mod:`trova.client` (it talks to a Trova server, or Enrow, over HTTP):
:mod:`trova.bulk.tabular` reads and writes lead files (CSV, TSV, JSON Lines, gzip), and
:mod:`trova.bulk.engine` plans the searches, runs them as batches with a crash-safe journal, and
writes the result. It uses the same search rules (``trova.people``) and header aliases
(``trova.people.columns``) as the server, and nothing of the server's storage or domains.
"""
