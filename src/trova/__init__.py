"""Trova: a self-hosted phone-number finder that speaks the Enrow phone API."""

__version__ = "0.1.0"
