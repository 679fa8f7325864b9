"""Who signed a box: manifest.sig, an Ed25519 signature of the exact bytes of manifest.json.

    check = read_signature(box / SIGNATURE, manifest_bytes, box)   # never raises for the file
    check.state, check.key_id         # UNSIGNED / MATCHES / MISMATCH / DAMAGED; the signer's id
    why = check.refusal(load_trusted_keys(["/etc/spikebox/owner.pub.pem"]))   # None: run it

A helper of runtime/box.py, which names the files (MANIFEST, SIGNATURE) and
calls this from Box.open: the manifest holds the sha256 of every file the
robot loads, so a signature over its bytes covers every byte of the box.
Signing itself is off-device (export/box_sign.py, with the owner's private
key, loaded by load_pem_key here: one key reader); this module reads and
verifies, through `cryptography`.

manifest.sig is JSON (no pickle), written atomically beside manifest.json:

    {"schema_version": 1, "algorithm": "ed25519", "key_id": "3fa2b1c4d5e6f708",
     "public_key": "<base64, 32 raw bytes>", "signature": "<base64, 64 bytes>"}

The public key rides along so that `spikebox inspect` can say whether the
signature matches the manifest without any key configured; trust is decided
by the robot's trusted_keys alone, compared byte for byte with it.
"""
from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .schema import Invalid, read_as

ALGORITHM = "ed25519"
SIGNATURE_SCHEMA_VERSION = 1
_MAX_SIGNATURE_BYTES = 4096         # a real one is ~250: a bigger file is not read into memory
KEY_HOWTO = ("make a key pair with: openssl genpkey -algorithm ed25519 -out owner.pem && "
             "openssl pkey -in owner.pem -pubout -out owner.pub.pem")

TrustedKey = Union[str, os.PathLike, Ed25519PublicKey]   # a public key, or a PEM file holding one


class KeyFileError(ValueError):
    """A key file that cannot be used: the message names the file and the fix."""


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | bytes) -> str:
    """How people and messages name a key: the first 16 hex digits of sha256 of its raw bytes."""
    raw = key if isinstance(key, bytes) else raw_public_key(key)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (`openssl pkey -pubout` writes one)."""
    return load_pem_key(path, private=False)


def load_pem_key(path: str | os.PathLike, *, private: bool):
    """An Ed25519 key from a PEM file: the public half a robot trusts, or (private=True,
    off-device) the unencrypted PKCS8 private key that signs, as `openssl genpkey` writes it.
    KeyFileError names the file, what is wrong and the fix."""
    path = Path(path)
    role = "signing (private) key" if private else "trusted (public) key"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read this {role} ({e.strerror}); give its path, or "
                           f"{KEY_HOWTO}") from None
    if private and b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyFileError(f"{path}: holds a public key; signing needs the private key it was "
                           f"made from (the robot gets the public one), or {KEY_HOWTO}")
    if not private and b"PRIVATE KEY-----" in data:
        raise KeyFileError(f"{path}: holds a private key; a robot needs only the public half "
                           f"(openssl pkey -in {path} -pubout -out owner.pub.pem), and the "
                           f"private key belongs off the robot")
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except TypeError:          # cryptography's word for "encrypted, and no password given"
        raise KeyFileError(f"{path}: is encrypted with a passphrase, which spikebox does not "
                           f"ask for; sign with an unencrypted copy kept off the robot "
                           f"(openssl pkey -in {path} -out owner.pem)") from None
    except ValueError as e:
        raise KeyFileError(f"{path}: not a PEM {role} ({e}); {KEY_HOWTO}") from None
    if not isinstance(key, Ed25519PrivateKey if private else Ed25519PublicKey):
        raise KeyFileError(f"{path}: holds a key of type {_kind(key)}, and boxes are signed "
                           f"with Ed25519; {KEY_HOWTO}")
    return key


def _kind(key) -> str:
    """'RSA', 'EllipticCurve', 'Ed448', ... for a message (cryptography's class name)."""
    name = type(key).__name__.lstrip("_")
    return name.replace("PrivateKey", "").replace("PublicKey", "") or name


def load_trusted_keys(keys: Iterable[TrustedKey]) -> tuple[Ed25519PublicKey, ...]:
    return tuple(k if isinstance(k, Ed25519PublicKey) else load_public_key(k) for k in keys)


def signature_file(public_key: Ed25519PublicKey, signature: bytes) -> bytes:
    """The bytes of manifest.sig for `signature` by `public_key` (export/box_sign.py writes them)."""
    raw = raw_public_key(public_key)
    data = {"schema_version": SIGNATURE_SCHEMA_VERSION, "algorithm": ALGORITHM,
            "key_id": key_id(raw), "public_key": base64.b64encode(raw).decode(),
            "signature": base64.b64encode(signature).decode()}
    return (json.dumps(data, indent=1) + "\n").encode()


@dataclass(frozen=True, kw_only=True)
class _SignatureFile:
    """manifest.sig as parsed, before any check of what it says."""
    schema_version: int
    algorithm: str
    key_id: str
    public_key: str          # base64 of the 32 raw bytes
    signature: str           # base64 of the 64 bytes


class SignatureState(enum.Enum):
    UNSIGNED = "unsigned"
    MATCHES = "matches the manifest"
    MISMATCH = "does not match the manifest"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class SignatureCheck:
    """What a box's signature file says about its manifest, before anyone is trusted."""
    box: Path
    file: Path                       # the signature file, whether or not it exists
    state: SignatureState
    key_id: str | None = None        # who signed (MATCHES, MISMATCH)
    public_key: bytes | None = None  # the signer's raw key (MATCHES)
    detail: str = ""                 # DAMAGED: what is wrong with the file

    def summary(self) -> str:
        """A few words for `spikebox inspect` and `export check`."""
        if self.state is SignatureState.UNSIGNED:
            return "unsigned"
        if self.state is SignatureState.DAMAGED:
            return f"{self.file.name} is damaged ({self.detail}); sign the box again"
        return f"by key {self.key_id} ({ALGORITHM}), {self.state.value}"

    def problem(self) -> str | None:
        """Why the signature does not vouch for the manifest (the box, what, the fix); None
        if it does."""
        sign = f"spikebox export sign {self.box} --key OWNER.pem"
        if self.state is SignatureState.UNSIGNED:
            return (f"{self.box}: is unsigned (no {self.file.name}), and this robot runs only "
                    f"boxes signed by a key it trusts; sign it: {sign}")
        if self.state is SignatureState.MISMATCH:
            return (f"{self.box}: the signature by key {self.key_id} does not match its manifest "
                    f"(the manifest changed after signing, or the signature did); restore the "
                    f"box as it was signed, or sign it again: {sign}")
        if self.state is SignatureState.DAMAGED:
            return (f"{self.box}: its signature file {self.file.name} is damaged ({self.detail}), "
                    f"so it vouches for nothing; sign the box again: {sign}")
        return None

    def refusal(self, trusted: tuple[Ed25519PublicKey, ...]) -> str | None:
        """Why a robot that trusts `trusted` refuses this box; None: it may run it."""
        if self.state is not SignatureState.MATCHES:
            return self.problem()
        # Verified against the key in the file; trusting it means byte-equal to a trusted key.
        if any(raw_public_key(k) == self.public_key for k in trusted):
            return None
        ids = ", ".join(key_id(k) for k in trusted)
        return (f"{self.box}: signed by key {self.key_id}, which this robot does not trust (it "
                f"trusts {ids}); add the signer's public key to trusted_keys, or sign the box "
                f"with a trusted key: spikebox export sign {self.box} --key OWNER.pem")


def read_signature(path: Path, manifest: bytes, box: Path) -> SignatureCheck:
    """Check the signature file at `path` against the manifest's exact bytes."""
    def damaged(detail: str) -> SignatureCheck:
        return SignatureCheck(box, path, SignatureState.DAMAGED, detail=detail)

    if not os.path.lexists(path):
        return SignatureCheck(box, path, SignatureState.UNSIGNED)
    if path.is_symlink() or not path.is_file():     # a box is a closed world: never followed
        return damaged("not a regular file")
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_SIGNATURE_BYTES + 1)
    except OSError as e:
        return damaged(f"cannot be read, {e.strerror}")
    if len(raw) > _MAX_SIGNATURE_BYTES:
        return damaged(f"larger than {_MAX_SIGNATURE_BYTES} bytes")
    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return damaged(f"not JSON, {e}")
    if not isinstance(data, dict):
        return damaged(f"holds a JSON {type(data).__name__}, not an object")
    if data.get("algorithm") != ALGORITHM:
        return damaged(f"algorithm {data.get('algorithm')!r} is not one this spikebox verifies "
                       f"(it verifies {ALGORITHM!r})")
    if data.get("schema_version") != SIGNATURE_SCHEMA_VERSION:
        return damaged(f"schema_version {data.get('schema_version')!r} is not one this spikebox "
                       f"reads (it reads {SIGNATURE_SCHEMA_VERSION})")
    try:
        parsed = read_as(_SignatureFile, data)
        public_key = base64.b64decode(parsed.public_key, validate=True)
        signature = base64.b64decode(parsed.signature, validate=True)
    except Invalid as e:
        return damaged(e.describe())
    except binascii.Error:
        return damaged("public_key or signature is not base64")
    if len(public_key) != 32 or len(signature) != 64:
        return damaged(f"an {ALGORITHM} public key is 32 bytes and a signature 64; these are "
                       f"{len(public_key)} and {len(signature)}")
    if parsed.key_id != key_id(public_key):
        return damaged(f"key_id {parsed.key_id!r} is not the id of its public_key "
                       f"({key_id(public_key)})")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, manifest)
    except ValueError:
        return damaged("public_key is not an Ed25519 public key")
    except InvalidSignature:
        return SignatureCheck(box, path, SignatureState.MISMATCH, key_id=parsed.key_id)
    return SignatureCheck(box, path, SignatureState.MATCHES, key_id=parsed.key_id,
                          public_key=public_key)
