"""`spikebox export sign BOX --key K`: the owner's Ed25519 signature of the box's manifest.

    openssl genpkey -algorithm ed25519 -out owner.pem          # once; keep it off the robot
    openssl pkey -in owner.pem -pubout -out owner.pub.pem      # the robot's trusted_keys
    spikebox export sign skills.box --key owner.pem

The signature covers the exact bytes of manifest.json, which holds the
sha256 of every file the robot loads; it is written atomically beside it as
manifest.sig (format: runtime/box_signature.py, which the robot verifies
with). Any later `export add` or `remove` removes it in its commit: a changed
box is unsigned until it is signed again.
"""
from __future__ import annotations

import os

from spikebox.runtime.box import SIGNATURE, Box, BoxError
from spikebox.runtime.box_signature import (SignatureCheck, SignatureState, load_pem_key,
                                            signature_file)
from spikebox.runtime.files import atomic_write


def sign_box(path: str | os.PathLike, key_path: str | os.PathLike) -> SignatureCheck:
    """Sign the box at `path` with the private key in `key_path`; the box is unchanged on
    any refusal. Refuses a box whose manifest or files do not check: the owner vouches
    only for a box that is whole."""
    key = load_pem_key(key_path, private=True)     # before anything of the box is touched
    box = Box.open(path)
    box.verify()
    # The bytes Box.open validated are the bytes signed; the rename replaces a symlink
    # itself, never what it points to.
    atomic_write(box.path / SIGNATURE,
                 signature_file(key.public_key(), key.sign(box.manifest_bytes)))
    check = Box.open(box.path).signature
    if check.state is not SignatureState.MATCHES:    # the manifest changed while it was signed
        (box.path / SIGNATURE).unlink(missing_ok=True)
        raise BoxError(f"{box.path}: its manifest changed while it was being signed (another "
                       f"export running?); sign it again when the box is settled")
    return check
