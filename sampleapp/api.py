"""The shop's API tier: forwards orders to the db and is healthy only while the db is."""

from __future__ import annotations

from collections.abc import Sequence

from sampleapp.service import Handler, Reply, Request, arguments, call, json_reply, serve


def handler(db_url: str) -> Handler:
    """The api's routes: /health, GET and POST /orders, GET /orders/<id>, all backed by the db at `db_url`."""
    db = db_url.rstrip("/")

    def handle(request: Request) -> Reply:
        if request.method == "GET" and request.path == "/health":
            answer = call(f"{db}/health", timeout=2.0)
            healthy = answer.status == 200
            return json_reply(200 if healthy else 503, {"status": "ok" if healthy else "db unhealthy"})
        if request.path == "/orders" and request.method == "POST":
            return call(f"{db}/orders", "POST", request.body)
        if request.path.startswith("/orders") and request.method == "GET":
            return call(f"{db}{request.path}")
        return json_reply(404, {"error": f"no route {request.method} {request.path}"})

    return handle


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the api service."""
    args = arguments("api", "The sample shop's API tier.", "db", argv)
    args.data.mkdir(parents=True, exist_ok=True)
    serve("api", args.port, handler(args.db))


if __name__ == "__main__":
    main()
