"""Temporal connection security from the environment: TLS files, mTLS, server name, API key."""

import dataclasses
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from standby import client as standby_client
from standby.config import Settings, SettingsError

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, Path]:
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    for name, path in files.items():
        path.write_bytes(KEY if name == "key" else PEM)
    return files


def test_tls_files_and_server_name_make_the_tls_config(pems):
    settings = Settings.from_env(environ={
        "TEMPORAL_TLS_CA": str(pems["ca"]), "TEMPORAL_TLS_CERT": str(pems["cert"]),
        "TEMPORAL_TLS_KEY": str(pems["key"]), "TEMPORAL_TLS_SERVER_NAME": "temporal.example.org",
    })
    assert settings.tls() == TLSConfig(server_root_ca_cert=PEM, client_cert=PEM, client_private_key=KEY,
                                       domain="temporal.example.org")


def test_no_tls_settings_leave_temporal_its_default_and_the_flag_decides():
    assert Settings.from_env(environ={}).tls() is None
    assert Settings.from_env(environ={"TEMPORAL_TLS": "true"}).tls() is True
    assert Settings.from_env(environ={"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": "k"}).tls() is False


def test_the_api_key_is_read_but_never_shown():
    settings = Settings.from_env(environ={"TEMPORAL_API_KEY": "api-key-value", "STANDBY_CODEC_KEYS": "codec-value"})
    assert settings.api_key == "api-key-value"
    assert "api-key-value" not in repr(settings) and "codec-value" not in repr(settings)


@pytest.mark.parametrize("environ, message", [
    ({"TEMPORAL_TLS_CA": "/nonexistent/ca.pem"}, "TEMPORAL_TLS_CA=/nonexistent/ca.pem: cannot read it"),
    ({"TEMPORAL_TLS_CERT": "{cert}"}, "needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"),
    ({"TEMPORAL_TLS": "false", "TEMPORAL_TLS_CA": "{ca}"}, "TEMPORAL_TLS=false but TEMPORAL_TLS_CA is set"),
    ({"TEMPORAL_TLS_CA": "{folder}"}, "cannot read it"),
    ({"TEMPORAL_TLS_CA": "{notpem}"}, "not a PEM file"),
])
def test_bad_tls_settings_name_the_variable_and_the_fix(pems, environ, message):
    notpem = pems["ca"].with_name("ca.der")
    notpem.write_bytes(b"\x30\x82")
    paths = {"cert": pems["cert"], "ca": pems["ca"], "folder": pems["ca"].parent, "notpem": notpem}
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ={k: v.format(**paths) for k, v in environ.items()}).tls()


def test_a_bad_flag_is_refused_by_name():
    with pytest.raises(SettingsError, match="TEMPORAL_TLS='maybe' is not a flag"):
        Settings.from_env(environ={"TEMPORAL_TLS": "maybe"})


async def test_connect_refuses_a_bad_path_before_dialling(client):
    settings = dataclasses.replace(Settings.from_env(environ={}), tls_ca=Path("/nonexistent/ca.pem"),
                                   temporal_address=client.service_client.config.target_host)
    with pytest.raises(standby_client.Refused, match="TEMPORAL_TLS_CA=/nonexistent/ca.pem: cannot read it"):
        await standby_client.connect(settings)


async def test_connect_sends_the_api_key_to_the_real_server(client):
    environ = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "TEMPORAL_API_KEY": "api-key-value",
               "TEMPORAL_TLS": "false"}
    connected = await standby_client.connect(Settings.from_env(environ=environ))
    assert connected.api_key == "api-key-value"
    assert await connected.service_client.check_health()
