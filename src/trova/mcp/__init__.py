"""``trova mcp``: an MCP server for agents, a client of a Trova (or Enrow) HTTP server.

It reaches the API only through :mod:`trova.client`, so the same server works against a Trova
server or ``https://api.enrow.io``. The tool names and arguments of Enrow's own MCP server are kept
(``find_phone``, ``get_phone_result``, ``find_phones_bulk``, ``get_phones_bulk_result``,
``get_account_info``) so agent configurations written for it keep working; Trova adds
``find_phone_and_wait``, ``explain_phone`` and ``find_phones_in_csv``.

Nothing is imported here: ``trova --help`` must not pay for the MCP SDK.
"""
