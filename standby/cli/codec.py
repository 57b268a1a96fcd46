"""Secrets commands: `standby codec-server` for the Temporal UI, `standby keygen` for the worker's proof keys."""

import sys
from pathlib import Path

import click

from standby import proof
from standby.cli.output import err, out
from standby.codec import EncryptionCodec
from standby.codec_server import CodecServer
from standby.compression import CompressionCodec
from standby.config import Settings, SettingsError


@click.command("codec-server")
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
        server = CodecServer((host, port), CompressionCodec(EncryptionCodec(keys)), cors_origin, settings.namespace)
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


@click.command()
@click.option("--private-key", "private_key", default="worker.key", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="where the worker's private key goes (mode 0600)")
@click.option("--public-key", "public_key", default="worker.pub", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="where its public key goes, for every CLI")
def keygen(private_key: Path, public_key: Path) -> None:
    """Write a new key pair for sealed operator proofs: the private key for workers, the public one for CLIs."""
    try:
        proof.generate_keys(private_key, public_key)
    except (proof.ProofError, OSError) as error:
        err.print(str(error), markup=False)
        sys.exit(1)
    out.print(f"wrote {private_key} (workers: {proof.PRIVATE_KEY_ENV}={private_key.resolve()}) and {public_key} "
              f"(CLIs: {proof.PUBLIC_KEY_ENV}={public_key.resolve()})", markup=False)


COMMANDS = (codec_server, keygen)
