"""Erasure, retention and the audit reports: the privacy operations that reach across the domains.

``privacy`` (below) screens and records; this package, above ``finder``, ``batches``, ``webhooks``
and ``accounts``, deletes and redacts what they hold and reads the audit back for operators.
"""
