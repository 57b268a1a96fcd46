"""The shop's web tier: an HTML page of the orders the api returns, healthy only while the api is."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from sampleapp.service import Handler, Reply, Request, arguments, call, html_reply, json_reply, serve


def render(orders: list[dict[str, Any]]) -> str:
    """The shop's page listing `orders`."""
    rows = "".join(
        f"<tr><td>{order['id']}</td><td>{html.escape(str(order['item']))}</td><td>{order['qty']}</td></tr>"
        for order in orders
    )
    return (
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Orders</h1>"
        f"<p>{len(orders)} orders</p><table><tr><th>id</th><th>item</th><th>qty</th></tr>{rows}</table>"
        "</body></html>\n"
    )


def _page(api: str) -> Reply:
    """The orders page, or a 502 page when the api does not answer with orders."""
    answer = call(f"{api}/orders")
    if answer.status != 200:
        return html_reply(502, f"<!doctype html><p>orders unavailable (api answered {answer.status})</p>\n")
    return html_reply(200, render(json.loads(answer.body)))


def handler(api_url: str) -> Handler:
    """The web tier's routes: GET /, /health and POST /orders, backed by the api at `api_url`."""
    api = api_url.rstrip("/")

    def handle(request: Request) -> Reply:
        if request.method == "GET" and request.path == "/":
            return _page(api)
        if request.method == "GET" and request.path == "/health":
            healthy = call(f"{api}/health", timeout=4.0).status == 200
            return json_reply(200 if healthy else 503, {"status": "ok" if healthy else "api unhealthy"})
        if request.method == "POST" and request.path == "/orders":
            return call(f"{api}/orders", "POST", request.body)
        return json_reply(404, {"error": f"no route {request.method} {request.path}"})

    return handle


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the web service."""
    args = arguments("web", "The sample shop's web tier.", "api", argv)
    args.data.mkdir(parents=True, exist_ok=True)
    serve("web", args.port, handler(args.api))


if __name__ == "__main__":
    main()
