"""CURVE keys from a meshsim key directory (`meshsim keygen DIR`), as the C++
processes read them (common/security/curve_keys.h, docs/security.md).

A certificate is a zcert-style text file: NAME.key holds the public key,
NAME.key_secret the public and the secret key, both Z85. A secret file that
group or others may read is refused, as ssh refuses such private keys.
"""
import os
import stat
import struct

import zmq
import zmq.auth

from meshsim_client._rpc import MeshsimError, StatusCode

_Z85_KEY_CHARACTERS = 40
_MAX_CERTIFICATE_BYTES = 64 * 1024


def _refuse(message):
    return MeshsimError(StatusCode.PERMISSION_DENIED, message)


def _z85_key(path, which, key):
    """`key` (bytes) as text, when it is a 32-byte key in Z85."""
    try:
        if len(key) == _Z85_KEY_CHARACTERS and len(zmq.utils.z85.decode(key)) == 32:
            return key.decode("ascii")
    except (ValueError, KeyError, struct.error, UnicodeDecodeError):
        pass
    raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: {which}-key is not a 40-character Z85 key")


def load_certificate(path):
    """(public_key, secret_key or None) of one certificate file, Z85 text.
    pyzmq parses the file (zmq.auth); this adds what the C++ reader checks
    too: a bounded regular file, well-formed keys, a private secret."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise MeshsimError(StatusCode.NOT_FOUND, f"{path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: not a regular file")
    if info.st_size > _MAX_CERTIFICATE_BYTES:
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: {info.st_size} bytes is too large for a certificate")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except ValueError:
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"{path}: no public-key") from None
    except OSError as error:
        raise MeshsimError(StatusCode.NOT_FOUND, f"{path}: {error}") from None
    public = _z85_key(path, "public", public)
    if secret is None:
        return public, None
    secret = _z85_key(path, "secret", secret)
    if info.st_mode & 0o077:
        raise _refuse(f"{path}: permissions {stat.S_IMODE(info.st_mode):04o} are too open: a secret key must be "
                      f"readable by its owner only (chmod 600 {path})")
    return public, secret


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
