"""Secrets commands: `standby codec-server` for the Temporal UI, `standby keygen` for the worker's proof keys."""

import sys

import click

from standby.cli import err, main
from standby.codec import EncryptionCodec
from standby.codec_server import CodecServer
from standby.config import Settings, SettingsError


@main.command("codec-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8888, show_default=True, type=click.IntRange(0, 65535), help="port to listen on")
@click.option("--cors-origin", help="the Temporal UI's origin allowed to call it, e.g. http://localhost:8233")
def codec_server(host: str, port: int, cors_origin: str | None) -> None:
    """Decode (and encode) payloads for the Temporal UI with the keys of STANDBY_CODEC_KEYS."""
    settings = Settings.from_env()
    try:
        keys = settings.keyring()
    except SettingsError as error:
        err.print(str(error), markup=False)
        sys.exit(1)
    if keys is None:
        err.print("STANDBY_CODEC_KEYS is not set: there is nothing to decode; set it as on the worker", markup=False)
        sys.exit(1)
    try:
        server = CodecServer((host, port), EncryptionCodec(keys), cors_origin, settings.namespace)
    except OSError as error:
        err.print(f"cannot listen on {host}:{port}: {error.strerror or error}", markup=False)
        sys.exit(1)
    err.print(f"codec server for namespace {settings.namespace} on {server.url} (keys {', '.join(keys.ids)}); "
              f"set it as the UI's codec endpoint" + ("" if cors_origin else "; --cors-origin is needed for a browser"),
              markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
