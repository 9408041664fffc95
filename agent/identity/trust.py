"""Adopting the orchestrator's artifact signing keys (rotation): old and new overlap until the old retires."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from edgefleet.agent.connection.messages import SigningKey
from edgefleet.agent.identity.record import Identity, TrustedKey
from edgefleet.core.trust import key_id_of

__all__ = ["adopt_signing_keys"]

log = logging.getLogger("edgefleet.agent")


def adopt_signing_keys(identity: Identity, keys: Sequence[SigningKey]) -> Identity:
    """The identity that trusts ``keys`` (the same object when nothing changes; the caller saves a new one).

    Only over mTLS, where the orchestrator proved who it is; a plaintext peer could hand us its own key.
    Keys whose id does not match their bytes are ignored."""
    if not keys:
        return identity
    if not identity.mtls:
        log.warning("ignoring signing keys sent over an insecure connection")
        return identity
    new = tuple(
        TrustedKey(k.key_id, k.public_key.hex())
        for k in keys
        if len(k.public_key) == 32 and key_id_of(k.public_key) == k.key_id
    )
    if {k.key_id for k in new} == {k.key_id for k in identity.trusted_keys}:
        return identity
    log.info("trusted artifact signing keys now: %s", ", ".join(k.key_id for k in new))
    return dataclasses.replace(identity, trusted_keys=new)
