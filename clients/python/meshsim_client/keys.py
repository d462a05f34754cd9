"""CURVE keys from a meshsim key directory (`meshsim keygen DIR`), as the C++
processes read them (common/security/curve_keys.h, docs/security.md).

A certificate is a zcert-style text file: NAME.key holds the public key,
NAME.key_secret the public and the secret key, both Z85. A secret file that
group or others may read is refused, as ssh refuses such private keys.
"""
import os
import re
import stat

import zmq

from meshsim_client._rpc import MeshsimError, StatusCode

_KEY_LINE = re.compile(r'^\s*(public|secret)-key\s*=\s*"([^"]*)"\s*$')
_Z85 = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_MAX_CERTIFICATE_BYTES = 64 * 1024


def _refuse(message):
    return MeshsimError(StatusCode.PERMISSION_DENIED, message)


def load_certificate(path):
    """(public_key, secret_key or None) of one certificate file, Z85 text."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise MeshsimError(StatusCode.NOT_FOUND, f"{path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: not a regular file")
    if info.st_size > _MAX_CERTIFICATE_BYTES:
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: {info.st_size} bytes is too large for a certificate")
    with open(path, encoding="ascii", errors="replace") as file:
        text = file.read(_MAX_CERTIFICATE_BYTES)
    keys = {}
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            continue
        if not _Z85.match(match.group(2)):
            raise MeshsimError(StatusCode.INVALID_ARGUMENT,
                               f"{path}: {match.group(1)}-key is not a 40-character Z85 key")
        keys[match.group(1)] = match.group(2)
    if "public" not in keys:
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: no public-key")
    if "secret" in keys and info.st_mode & 0o077:
        raise _refuse(f"{path}: permissions {stat.S_IMODE(info.st_mode):04o} are too open: a secret key must be "
                      f"readable by its owner only (chmod 600 {path})")
    return keys["public"], keys.get("secret")


class Keys:
    """This client's key pair and the coordinator's public key, from a key
    directory. `identity` picks DIR/<identity>.key_secret; by default admin
    where the directory has the admin pair, else viewer (as the CLI does)."""

    def __init__(self, directory, identity=None):
        self.directory = os.fspath(directory)
        if identity is None:
            has_admin = os.path.exists(os.path.join(self.directory, "admin.key_secret"))
            identity = "admin" if has_admin else "viewer"
        self.identity = identity
        own_path = os.path.join(self.directory, f"{identity}.key_secret")
        try:
            self.public_key, self.secret_key = load_certificate(own_path)
        except MeshsimError as error:
            raise MeshsimError(error.code, f"keys: this client's key pair '{identity}': {error.message}") from None
        if self.secret_key is None:
            raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{own_path}: no secret-key")
        try:
            self.server_key, _ = load_certificate(os.path.join(self.directory, "coordinator.key"))
        except MeshsimError as error:
            raise MeshsimError(error.code, f"keys: the coordinator's public key: {error.message}") from None

    def apply(self, socket):
        """Makes `socket` a CURVE client of the coordinator with this pair."""
        socket.setsockopt(zmq.CURVE_SERVERKEY, self.server_key.encode())
        socket.setsockopt(zmq.CURVE_PUBLICKEY, self.public_key.encode())
        socket.setsockopt(zmq.CURVE_SECRETKEY, self.secret_key.encode())
