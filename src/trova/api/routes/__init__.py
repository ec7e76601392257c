"""The API's routers, one per endpoint group; ``trova.api.app`` includes them."""
