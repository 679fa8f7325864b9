"""Signed boxes (issue #9 §2, authenticity): a robot given trusted keys runs only boxes its
owner signed. A real box made with the CLI, keys made with `cryptography`; every way a
signature can fail is refused with its own message, and a changed box is unsigned."""
import base64
import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from boxkit import snapshot, write_assets
from spikebox.cli import main
from spikebox.export.testmodels import mlp
from spikebox.runtime.box import SIGNATURE, Box, BoxError
from spikebox.runtime.box_signature import KeyFileError, SignatureState
from spikebox.runtime.daemon import RunConfig


def _write_key_pair(folder, name):
    key = Ed25519PrivateKey.generate()
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, public, hashlib.sha256(raw).hexdigest()[:16], key


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {name: _write_key_pair(d, name) for name in ("owner", "stranger")}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"mlp": mlp()}, ("line", "ball", "background"), runs=2)
    return d, frames


@pytest.fixture(scope="module")
def signed(assets, keys, tmp_path_factory):
    """A one-expert box made with the CLI and signed by the owner's key."""
    d, frames = assets
    box = tmp_path_factory.mktemp("boxes") / "skills"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"])]) == 0
    assert main(["export", "sign", str(box), "--key", str(keys["owner"][0])]) == 0
    return box


@pytest.fixture
def copy(signed, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(signed, out, symlinks=True)
    return out


def _owner(keys):
    return [keys["owner"][1]]


def test_the_owners_signature_verifies_and_covers_the_manifests_bytes(signed, keys, capsys):
    _, public, owner_id, key = keys["owner"]
    sig = json.loads((signed / SIGNATURE).read_text())
    assert set(sig) == {"schema_version", "algorithm", "key_id", "public_key", "signature"}
    assert sig["algorithm"] == "ed25519" and sig["key_id"] == owner_id
    key.public_key().verify(base64.b64decode(sig["signature"]),     # raises if it does not
                            (signed / "manifest.json").read_bytes())
    for trusted in ([public], [str(public)], [key.public_key()],
                    [keys["stranger"][1], public]):                # any one trusted key will do
        b = Box.open(signed, trusted_keys=trusted)
        assert b.signature.state is SignatureState.MATCHES and b.signature.key_id == owner_id
    assert Box.open(signed).unlisted() == []                       # the signature is not a leftover
    assert main(["export", "check", str(signed), "--trusted-key", str(public)]) == 0
    assert f"signature: by key {owner_id} (ed25519), matches the manifest, a trusted key" \
        in capsys.readouterr().out


def test_inspect_shows_who_signed(signed, keys, capsys):
    assert main(["inspect", str(signed)]) == 0
    assert f"signature  by key {keys['owner'][2]} (ed25519), matches the manifest" \
        in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl here")
def test_openssl_verifies_the_signature_with_the_owners_public_key(signed, keys, tmp_path):
    """The signature is plain Ed25519 over the manifest file: the owner needs no spikebox
    to check it."""
    raw = base64.b64decode(json.loads((signed / SIGNATURE).read_text())["signature"])
    (tmp_path / "sig.bin").write_bytes(raw)
    run = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keys["owner"][1]),
                          "-rawin", "-in", str(signed / "manifest.json"),
                          "-sigfile", str(tmp_path / "sig.bin")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _edit_signature(**changes):
    def edit(box, keys):
        data = json.loads((box / SIGNATURE).read_text())
        data.update({k: v(data, keys) if callable(v) else v for k, v in changes.items()})
        (box / SIGNATURE).write_text(json.dumps(data))
    return edit


def _write_signature(data: bytes):
    def edit(box, keys):
        (box / SIGNATURE).write_bytes(data(box) if callable(data) else data)
    return edit


def _unsigned(box, keys):
    (box / SIGNATURE).unlink()


def _manifest_edited(box, keys):
    """The owner's manifest, one figure changed: still a valid manifest, no longer the one signed."""
    path = box / "manifest.json"
    text = path.read_text()
    assert '"priority": 0' in text
    path.write_text(text.replace('"priority": 0', '"priority": 9', 1))


def _manifest_one_byte_added(box, keys):
    with open(box / "manifest.json", "ab") as f:
        f.write(b"\n")                        # the same JSON; not the same bytes


def _signature_bit_flipped(data, keys):
    raw = bytearray(base64.b64decode(data["signature"]))
    raw[10] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _strangers_public_key(data, keys):
    raw = keys["stranger"][3].public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _signed_by_the_stranger(box, keys):
    assert main(["export", "sign", str(box), "--key", str(keys["stranger"][0])]) == 0


def _symlinked_outside(box, keys):
    outside = box.parent / "elsewhere.sig"
    (box / SIGNATURE).rename(outside)            # a valid signature, reached through a link
    (box / SIGNATURE).symlink_to(outside)


# (case, how the signed box is changed, words the refusal must hold; {owner}/{stranger}: key ids)
REFUSALS = [
    ("unsigned", _unsigned, "is unsigned (no manifest.sig)"),
    ("manifest edited", _manifest_edited,
     "the signature by key {owner} does not match its manifest"),
    ("manifest one byte longer", _manifest_one_byte_added,
     "the signature by key {owner} does not match its manifest"),
    ("signature bit flipped", _edit_signature(signature=_signature_bit_flipped),
     "the signature by key {owner} does not match its manifest"),
    ("not JSON", _write_signature(b"\x00garbage"), "manifest.sig is damaged (not JSON"),
    ("truncated", _write_signature(lambda box: (box / SIGNATURE).read_bytes()[:60]),
     "manifest.sig is damaged (not JSON"),
    ("empty", _write_signature(b""), "manifest.sig is damaged (not JSON"),
    ("a list", _write_signature(b"[]"), "manifest.sig is damaged (holds a JSON list"),
    ("other algorithm", _edit_signature(algorithm="rsa-pss-sha256"),
     "manifest.sig is damaged (algorithm 'rsa-pss-sha256' is not one this spikebox verifies"),
    ("no algorithm", _edit_signature(algorithm=None),
     "manifest.sig is damaged (algorithm None is not one"),
    ("future format", _edit_signature(schema_version=2),
     "manifest.sig is damaged (schema_version 2 is not one this spikebox reads"),
    ("signature not base64", _edit_signature(signature="not base64!"),
     "manifest.sig is damaged (public_key or signature is not base64"),
    ("signature short", _edit_signature(signature=base64.b64encode(b"x" * 63).decode()),
     "manifest.sig is damaged (an ed25519 public key is 32 bytes and a signature 64"),
    ("signature a number", _edit_signature(signature=7),
     "manifest.sig is damaged (signature is 7; expected a string"),
    ("key id of another key", _edit_signature(key_id="0123456789abcdef"),
     "manifest.sig is damaged (key_id '0123456789abcdef' is not the id of its public_key"),
    ("another key swapped in", _edit_signature(public_key=_strangers_public_key,
                                               key_id=lambda data, keys: keys["stranger"][2]),
     "the signature by key {stranger} does not match its manifest"),
    ("too large", _write_signature(b" " * 100_000), "manifest.sig is damaged (larger than"),
    ("a symlink", _symlinked_outside, "manifest.sig is damaged (not a regular file"),
    ("signed by a stranger", _signed_by_the_stranger,
     "signed by key {stranger}, which this robot does not trust (it trusts {owner}); add the "
     "signer's public key to trusted_keys, or sign the box with a trusted key"),
]


@pytest.mark.parametrize("case, change, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_robot_with_trusted_keys_refuses_each_bad_signature_with_its_own_message(
        copy, keys, capsys, case, change, words):
    change(copy, keys)
    words = words.format(owner=keys["owner"][2], stranger=keys["stranger"][2])
    with pytest.raises(BoxError) as info:
        Box.open(copy, trusted_keys=_owner(keys))
    message = str(info.value)
    assert message.startswith(f"{copy}: ") and words in message
    fix = ("add the signer's public key" if case == "signed by a stranger"
           else f"spikebox export sign {copy} --key OWNER.pem")
    assert fix in message
    # `export check --trusted-key` refuses as the robot does, in one line.
    assert main(["export", "check", str(copy), "--trusted-key", str(keys["owner"][1])]) == 1
    err = capsys.readouterr().err
    assert err == f"spikebox export check: refused: {message}\n"
    # Without trusted keys the robot goes by the hashes alone, as before signing.
    assert Box.open(copy).manifest.experts


def test_without_trusted_keys_check_passes_unsigned_but_not_a_broken_signature(copy, keys,
                                                                               capsys):
    _manifest_edited(copy, keys)
    assert main(["export", "check", str(copy)]) == 1
    assert "does not match its manifest" in capsys.readouterr().err
    assert main(["inspect", str(copy)]) == 0
    assert (f"signature  by key {keys['owner'][2]} (ed25519), does not match the manifest"
            in capsys.readouterr().out)
    _unsigned(copy, keys)
    assert main(["export", "check", str(copy)]) == 0
    assert "signature: unsigned (a robot given trusted_keys refuses it)" in capsys.readouterr().out


def test_a_changed_file_is_caught_by_its_hash_though_the_signature_still_holds(copy, keys,
                                                                               capsys):
    b = Box.open(copy, trusted_keys=_owner(keys))
    model = b.file(b.experts["line"].files.optimized)
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    model.write_bytes(bytes(raw))
    b = Box.open(copy, trusted_keys=_owner(keys))      # the manifest is still the signed one
    assert b.signature.state is SignatureState.MATCHES
    with pytest.raises(BoxError, match="sha256 does not match the manifest"):
        b.verify()
    assert main(["export", "check", str(copy), "--trusted-key", str(keys["owner"][1])]) == 1
    assert "sha256 does not match" in capsys.readouterr().err
    # The owner is not asked to vouch for it either.
    before = snapshot(copy)
    assert main(["export", "sign", str(copy), "--key", str(keys["owner"][0])]) == 1
    assert "sha256 does not match" in capsys.readouterr().err
    assert snapshot(copy) == before


def test_export_add_remove_and_set_leave_the_box_unsigned(copy, keys, assets, capsys):
    d, frames = assets
    refused = ["export", "add", str(copy), "line", str(d / "mlp.onnx"), "--examples",
               str(frames["line"])]
    before = snapshot(copy)
    assert main(refused) == 1                           # a refused add changes nothing ...
    assert snapshot(copy) == before and (copy / SIGNATURE).exists()
    assert main(["export", "add", str(copy), "ball", str(d / "mlp.onnx"), "--examples",
                 str(frames["ball"])]) == 0              # ... a change unsigns the box
    assert not (copy / SIGNATURE).exists()
    capsys.readouterr()
    assert main(["inspect", str(copy)]) == 0
    assert "signature  unsigned" in capsys.readouterr().out
    with pytest.raises(BoxError, match="is unsigned"):
        Box.open(copy, trusted_keys=_owner(keys))
    assert main(["export", "sign", str(copy), "--key", str(keys["owner"][0])]) == 0
    Box.open(copy, trusted_keys=_owner(keys))
    assert main(["export", "remove", str(copy), "ball"]) == 0
    assert not (copy / SIGNATURE).exists()
    with pytest.raises(BoxError, match="is unsigned"):
        Box.open(copy, trusted_keys=_owner(keys))
    assert main(["export", "sign", str(copy), "--key", str(keys["owner"][0])]) == 0
    name = next(iter(Box.open(copy).experts))
    assert main(["export", "set", str(copy), name, "--priority", "3"]) == 0   # so does set
    assert not (copy / SIGNATURE).exists()
    with pytest.raises(BoxError, match="is unsigned"):
        Box.open(copy, trusted_keys=_owner(keys))


def _rsa_key(path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _encrypted_key(path):
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret")))


@pytest.mark.parametrize("key, words", [
    ("missing", "cannot read this signing (private) key (No such file or directory)"),
    ("public", "holds a public key; signing needs the private key it was made from"),
    ("rsa", "holds a key of type RSA, and boxes are signed with Ed25519"),
    ("garbage", "not a PEM signing (private) key"),
    ("encrypted", "is encrypted with a passphrase"),
])
def test_sign_with_a_missing_or_wrong_key_fails_clearly_and_leaves_the_box_unchanged(
        signed, keys, tmp_path, capsys, key, words):
    path = {"missing": tmp_path / "nothing.pem", "public": keys["owner"][1],
            "rsa": tmp_path / "rsa.pem", "garbage": tmp_path / "garbage.pem",
            "encrypted": tmp_path / "encrypted.pem"}[key]
    if key == "rsa":
        _rsa_key(path)
    elif key == "garbage":
        path.write_bytes(b"not a key\n")
    elif key == "encrypted":
        _encrypted_key(path)
    for box in (signed, tmp_path / "unsigned"):
        if box != signed:
            shutil.copytree(signed, box)
            (box / SIGNATURE).unlink()
        before = snapshot(box)
        assert main(["export", "sign", str(box), "--key", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"spikebox export sign: refused: {path}: ") and words in err
        assert len(err.splitlines()) == 1
        assert snapshot(box) == before


@pytest.mark.parametrize("key, words", [
    ("missing", "cannot read this trusted (public) key"),
    ("private", "holds a private key; a robot needs only the public half"),
    ("rsa-public", "holds a key of type RSA, and boxes are signed with Ed25519"),
])
def test_a_trusted_key_that_cannot_be_used_is_named_with_the_fix(signed, keys, tmp_path, key,
                                                                 words):
    path = {"missing": tmp_path / "nothing.pub.pem", "private": keys["owner"][0],
            "rsa-public": tmp_path / "rsa.pub.pem"}[key]
    if key == "rsa-public":
        public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError) as info:
        Box.open(signed, trusted_keys=[path])
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)


def test_the_run_config_names_the_robots_trusted_keys(signed, keys, tmp_path):
    assert RunConfig().trusted_keys == ()
    config_file = tmp_path / "robot.toml"
    config_file.write_text(f'trusted_keys = ["{keys["owner"][1]}"]\n')
    config = RunConfig.from_toml(config_file)
    assert config.trusted_keys == (str(keys["owner"][1]),)
    Box.open(signed, trusted_keys=config.trusted_keys)
    run = subprocess.run([sys.executable, "-m", "spikebox", "run", "--config", str(config_file),
                          "--print-config"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and f'trusted_keys = ["{keys["owner"][1]}"]' in run.stdout
