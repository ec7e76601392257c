"""The MCP server: Enrow's phone tools under their own names, plus Trova's, on the official SDK.

The API key of a call is the caller's: on stdio the one given to ``trova mcp`` (``--api-key`` or
``TROVA_API_KEY``); over HTTP the request's ``x-api-key`` header (or ``Authorization: Bearer KEY``),
never a key of the server's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from trova.client import AsyncClient
from trova.mcp import tools
from trova.mcp.tools import RETRY, Reply, ToolFailure

SERVER_NAME = "trova"
MAX_WAIT_S = 600.0

INSTRUCTIONS = """\
Trova finds a person's phone number (Enrow-compatible API). Identify the person by a LinkedIn \
profile URL (best), or first_name + last_name + company_domain or company_name. Credits: each \
search reserves the server's price per phone (40 credits by default on Trova) and is refunded if \
nothing is found, so only found numbers cost credits. "not_found" means no number could be \
justified (unknown person, several people with these names at the company, or no valid personal \
line); it is a final answer, free, and retrying does not change it. Prefer find_phone_and_wait \
for one person, find_phones_bulk for up to 3,000 people, find_phones_in_csv for a file."""

COSTS = ("Costs: the server's price per phone (40 credits by default on Trova) is reserved per search "
         "and refunded when nothing is found, so only found numbers cost credits.")
NOT_FOUND = ('"not_found" is final: no number can be justified for this person (unknown, ambiguous '
             "namesakes at the company, or no valid personal line); it costs nothing.")
IDENTIFY = ("Identify the person by linkedin_url (recommended; decides alone), or first_name + last_name "
            "+ company_domain or company_name.")

WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)

LinkedinUrl = Annotated[str | None, Field(description="LinkedIn profile URL (recommended; takes precedence)")]
FirstName = Annotated[str | None, Field(description="First name")]
LastName = Annotated[str | None, Field(description="Last name")]
CompanyDomain = Annotated[str | None, Field(description="Company domain or website (e.g. acme.com)")]
CompanyName = Annotated[str | None, Field(description="Company name (e.g. Acme Inc.)")]


class PhoneSearch(BaseModel):
    """One person to find (the fields of Enrow's ``find_phones_bulk`` searches)."""

    model_config = ConfigDict(extra="forbid")

    linkedin_url: LinkedinUrl = None
    first_name: FirstName = None
    last_name: LastName = None
    company_domain: CompanyDomain = None
    company_name: CompanyName = None


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the API is and whose key a call uses.

    ``api_key`` is the stdio key; ``None`` in HTTP mode, where each request must carry its own.
    ``files_dir`` confines ``find_phones_in_csv`` to one directory (HTTP mode); ``None``: any path.
    """

    base_url: str
    api_key: str | None
    http: bool = False
    files_dir: Path | None = None


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The caller's key: ``x-api-key``, else ``Authorization: Bearer KEY``."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def error_result(failure: ToolFailure) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=failure.text)],
                          structured_content=failure.data, is_error=True)


def ok_result(reply: Reply) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=reply.text)], structured_content=reply.data)


class Tools:
    """The tools of one server; each opens a client with the calling request's key."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def api_key(self, ctx: Context[Any, Any]) -> str:
        if not self.connection.http:
            key = self.connection.api_key
        else:
            headers = ctx.headers
            key = key_from_headers({k.lower(): v for k, v in headers.items()}) if headers else None
        if not key:
            where = "the x-api-key header" if self.connection.http else "--api-key or TROVA_API_KEY"
            raise ToolFailure(f"no API key: pass it with {where}", 401)
        return key

    def client(self, ctx: Context[Any, Any]) -> AsyncClient:
        return AsyncClient(self.api_key(ctx), self.connection.base_url, retry=RETRY)

    async def run(
        self, ctx: Context[Any, Any], action: Callable[[AsyncClient], Awaitable[Reply]]
    ) -> CallToolResult:
        try:
            async with self.client(ctx) as client:
                return ok_result(await action(client))
        except ToolFailure as failure:
            return error_result(failure)

    # --- Enrow's tools ----------------------------------------------------------------------------

    async def find_phone(
        self, ctx: Context[Any, Any], linkedin_url: LinkedinUrl = None, first_name: FirstName = None,
        last_name: LastName = None, company_domain: CompanyDomain = None, company_name: CompanyName = None,
    ) -> CallToolResult:
        search = {"linkedin_url": linkedin_url, "first_name": first_name, "last_name": last_name,
                  "company_domain": company_domain, "company_name": company_name}
        return await self.run(ctx, lambda client: tools.find_phone(client, search))

    async def get_phone_result(
        self, ctx: Context[Any, Any],
        id: Annotated[str, Field(description="Search id returned by find_phone")],
    ) -> CallToolResult:
        return await self.run(ctx, lambda client: tools.get_phone_result(client, id))

    async def find_phones_bulk(
        self, ctx: Context[Any, Any],
        searches: Annotated[list[PhoneSearch], Field(description="The people to find: 1 to 3,000 searches")],
    ) -> CallToolResult:
        rows = [search.model_dump() for search in searches]
        return await self.run(ctx, lambda client: tools.find_phones_bulk(client, rows))

    async def get_phones_bulk_result(
        self, ctx: Context[Any, Any],
        id: Annotated[str, Field(description="Batch id returned by find_phones_bulk")],
    ) -> CallToolResult:
        return await self.run(ctx, lambda client: tools.get_phones_bulk_result(client, id))

    async def get_account_info(self, ctx: Context[Any, Any]) -> CallToolResult:
        return await self.run(ctx, tools.get_account_info)

    # --- Trova's tools ----------------------------------------------------------------------------

    async def find_phone_and_wait(
        self, ctx: Context[Any, Any], linkedin_url: LinkedinUrl = None, first_name: FirstName = None,
        last_name: LastName = None, company_domain: CompanyDomain = None, company_name: CompanyName = None,
        timeout_s: Annotated[float, Field(gt=0, le=MAX_WAIT_S, description=(
            "Seconds to wait for the answer (at most 600); if the search is still running then, the "
            "result says ongoing and carries the id for get_phone_result"))] = 60.0,
    ) -> CallToolResult:
        search = {"linkedin_url": linkedin_url, "first_name": first_name, "last_name": last_name,
                  "company_domain": company_domain, "company_name": company_name}
        return await self.run(ctx, lambda client: tools.find_phone_and_wait(client, search, timeout_s))

    async def explain_phone(
        self, ctx: Context[Any, Any],
        id: Annotated[str, Field(description="Search id returned by find_phone or find_phone_and_wait")],
    ) -> CallToolResult:
        return await self.run(ctx, lambda client: tools.explain_phone(client, id))

    async def find_phones_in_csv(
        self, ctx: Context[Any, Any],
        input_path: Annotated[str, Field(description=(
            "Lead file: CSV (, ; or tab), TSV or JSON Lines, gzip too"))],
        output_path: Annotated[str | None, Field(description=(
            "Where to write the enriched file (format from its suffix); default: INPUT-with-phones.csv "
            "beside the input"))] = None,
        column_map: Annotated[dict[str, str] | None, Field(description=(
            "Column name -> search field (linkedin_url, first_name, last_name, full_name, company_name, "
            "company_domain, or '-' to ignore a column), for columns the automatic mapping misses"))] = None,
        restart: Annotated[bool, Field(description=(
            "Forget the state of an earlier run of the same output and pay again"))] = False,
        poll_interval_s: Annotated[float, Field(ge=0.1, le=60, description=(
            "Seconds between progress checks"))] = 2.0,
    ) -> CallToolResult:
        from trova.mcp import csvfile

        try:
            key = self.api_key(ctx)
            if self.connection.http and self.connection.files_dir is None:
                raise ToolFailure("find_phones_in_csv is disabled on this HTTP server: it reads and writes "
                                  "files only when started with --files-dir DIR")
            job = csvfile.CsvJob.prepare(
                input_path, output_path, column_map or {}, restart=restart,
                files_dir=self.connection.files_dir,
            )
            reply = await job.run(key, self.connection.base_url, poll_interval_s, ctx.report_progress)
        except ToolFailure as failure:
            return error_result(failure)
        return ok_result(reply)


DESCRIPTIONS = {
    "find_phone": (
        f"Find one person's mobile phone number. {IDENTIFY} Asynchronous: returns a search id; poll "
        f"get_phone_result (or use find_phone_and_wait for one call). {COSTS}"
    ),
    "get_phone_result": (
        "Retrieve the result of a search started by find_phone: qualification ongoing (call again in a "
        f"few seconds), found (number, country, line_type) or not_found. {NOT_FOUND}"
    ),
    "find_phones_bulk": (
        "Find the phone numbers of many people in one batch: 1 to 3,000 searches (Trova refuses more; "
        f"split larger lists or use find_phones_in_csv). Each search: {IDENTIFY} Asynchronous: returns a "
        f"batch id; poll get_phones_bulk_result. {COSTS} Identical searches in a batch are charged once."
    ),
    "get_phones_bulk_result": (
        "Retrieve a batch started by find_phones_bulk: general.status ongoing (stats.finished of "
        "stats.requested done), then completed with results in search order (index, qualification, "
        f"number, country, line_type). {NOT_FOUND}"
    ),
    "get_account_info": "Get the account's credit balance and registered webhooks.",
    "find_phone_and_wait": (
        f"Find one person's phone number and wait for the final answer in one call. {IDENTIFY} Waits at "
        "most timeout_s seconds (default 60, at most 600); a search still running then is returned as "
        f"ongoing with its id for get_phone_result. {COSTS} {NOT_FOUND}"
    ),
    "explain_phone": (
        "Explain why a search found this number, or none: the normalised search keys, the candidate "
        "people, their numbers (line type, validity, sources, dates, why excluded) and the deciding rule. "
        "Needs a Trova server (Enrow has no such endpoint). Free."
    ),
    "find_phones_in_csv": (
        "Find the phone numbers of every row of a lead file (CSV, TSV or JSON Lines) and write the same "
        "rows with four added columns (phone, phone_country, phone_line_type, phone_status: found, "
        "not_found, invalid_input: reason, or pending). Columns are mapped automatically (column_map for "
        "the rest); identical people are searched once; batches of at most 3,000 searches; progress is "
        "reported as rows done. Resumable: calling it again with the same files continues where it "
        f"stopped without paying twice (state in OUTPUT.trova-state). {COSTS}"
    ),
}
TITLES = {
    "find_phone": "Find phone", "get_phone_result": "Get phone result",
    "find_phones_bulk": "Find phones (bulk)",
    "get_phones_bulk_result": "Get bulk phone results", "get_account_info": "Get account info",
    "find_phone_and_wait": "Find phone and wait", "explain_phone": "Explain a phone result",
    "find_phones_in_csv": "Find phones for a lead file",
}
WRITES = frozenset({"find_phone", "find_phones_bulk", "find_phone_and_wait", "find_phones_in_csv"})


def build_server(connection: Connection) -> MCPServer[Any]:
    """An MCP server whose tools call the API at ``connection.base_url``."""
    server: MCPServer[Any] = MCPServer(SERVER_NAME, title="Trova phone finder", instructions=INSTRUCTIONS,
                                       version=_version(), log_level="WARNING")
    handlers = Tools(connection)
    for name, description in DESCRIPTIONS.items():
        server.add_tool(
            getattr(handlers, name), name=name, title=TITLES[name], description=description,
            annotations=WRITE if name in WRITES else READ, structured_output=False,
        )
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trova")
    except PackageNotFoundError:
        return "0"
