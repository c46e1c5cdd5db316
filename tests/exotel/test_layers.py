"""The client's layers (docs/client.md, "The client's modules") import only what they may, and
what callers imported from ``notifykit_exotel.client`` before the split is still there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import notifykit.http
import notifykit_exotel

PACKAGE = Path(notifykit_exotel.__file__).parent


def _siblings_imported(module: str) -> set[str]:
    """The package's modules that ``module`` imports (at any depth, lazily or not)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import parsers
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("notifykit_exotel."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith("notifykit_exotel.")
            )
    return found


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # the request loop knows no Exotel resource, no verb and no argument rule
        ("_request", {"client", "parsers", "_validate", "wire", "models", "callbacks"}),
        # the checks send nothing
        ("_validate", {"client", "_request", "parsers", "transport", "callbacks"}),
        # the parsers never see HTTP
        ("parsers", {"client", "_request", "_validate", "transport", "retry", "callbacks"}),
    ],
)
def test_each_layer_imports_only_below_it(module: str, forbidden: set[str]) -> None:
    assert _siblings_imported(module) & forbidden == set()


def test_the_client_is_the_verbs_over_the_request_layer() -> None:
    from notifykit_exotel._request import ClientBase
    from notifykit_exotel.client import ExotelClient

    assert issubclass(ExotelClient, ClientBase)
    own = {name for name in vars(ExotelClient) if not name.startswith("__")}
    assert own >= {"send_sms", "send_bulk_sms", "call_number", "call_flow", "sms_details"}
    assert not own & {"_request", "_attempt", "_answer", "_transport", "_scrub"}


def test_names_imported_from_the_client_module_before_the_split_remain() -> None:
    from notifykit_exotel import _request, client, parsers

    for name in ("ExotelClient", "BulkMessage", "REGIONS", "DEFAULT_TIMEOUT", "MAX_REDIRECTS"):
        assert hasattr(client, name), name
    assert client.__version__ == notifykit_exotel.__version__
    assert client._bulk_items is parsers.bulk_items
    assert client._calls_page is parsers.calls_page
    assert client._first_sms is parsers.first_sms
    assert client._retry_after is _request.retry_after is notifykit.http.retry_after
    assert notifykit_exotel.ExotelClient is client.ExotelClient
