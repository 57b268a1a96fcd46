"""The TSIG key that signs a site's updates: its name from the runbook, its secret from the worker's environment only.

A `dns.tsig.Key`'s repr shows its secret, so no key object ever goes into a message or a log.
"""

import base64
import binascii
from collections.abc import Mapping

import dns.tsig

from activities.sites.base import PermanentProviderError
from standby.runbook import DnsIdentity


def load(config: DnsIdentity, env: Mapping[str, str], place: str) -> dns.tsig.Key:
    """The site's key, its secret decoded from `config.secret_variable()`; a missing or invalid one is permanent."""
    variable = config.secret_variable()
    text = env.get(variable, "").strip()
    if not text:
        raise PermanentProviderError(f"TSIG key {config.tsig_key}: the worker's environment has no {variable}; "
                                     f"set it to the key's base64 secret (the `secret` of its BIND key clause) "
                                     f"[{place}]")
    try:
        secret = base64.b64decode(text, validate=True)
    except binascii.Error:
        # `from None`: the decoder's message is harmless, but nothing about the value leaves this function.
        raise PermanentProviderError(f"TSIG key {config.tsig_key}: {variable} is not base64; give it the key's "
                                     f"secret as BIND's tsig-keygen prints it [{place}]") from None
    return dns.tsig.Key(config.tsig_key, secret, config.tsig_algorithm)
