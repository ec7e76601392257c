"""The web app: sign in, upload a lead file, preview, find phones, download it enriched.

Served by ``trova serve`` on the API's own app (``install``), server-rendered, in English and
Italian, with every asset inside the package. It talks to the domain through the services the API
uses (accounts, batches) and reads lead files with the bulk tool's code (``trova.bulk``).
"""

from trova.web.site import install

__all__ = ["install"]
