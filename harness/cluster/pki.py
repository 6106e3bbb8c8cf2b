"""The cluster's certificates and kubeconfigs, made once per cluster home with ``cryptography``.

One CA signs every certificate: the API server's serving certificate and the client
certificates each component authenticates with (x509 client auth; the subject's CN is the
user, O the groups, as kube-apiserver reads them). Private keys are written with mode 0600.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Identity", "Pki", "write_kubeconfig"]

_VALID = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Identity:
    """A client certificate's subject: ``user`` (CN) and ``groups`` (O)."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Pki:
    """Files under ``<dir>``: ``ca.crt``/``.key``, ``NAME.crt``/``.key``, ``sa.key``/``.pub``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}.{suffix}"

    def ensure_ca(self) -> None:
        if self.path("ca", "crt").exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "msai-cluster-ca")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self.path("ca", "key"), _key_pem(key))
        self.path("ca", "crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.path("ca", "crt").read_bytes())
        key = serialization.load_pem_private_key(self.path("ca", "key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key

    def ensure_cert(
        self,
        name: str,
        *,
        user: str,
        groups: tuple[str, ...] = (),
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        server: bool = False,
    ) -> None:
        """``NAME.crt``/``NAME.key`` signed by the CA, kept when they already exist."""
        if self.path(name, "crt").exists():
            return
        ca_cert, ca_key = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        now = datetime.datetime.now(datetime.UTC)
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usage.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_private(self.path(name, "key"), _key_pem(key))
        self.path(name, "crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def ensure_service_account_key(self) -> None:
        """The key pair that signs (``sa.key``) and checks (``sa.pub``) service-account tokens."""
        if self.path("sa", "key").exists():
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(self.path("sa", "key"), _key_pem(key))
        self.path("sa", "pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def write_kubeconfig(path: Path, *, pki: Pki, name: str, server: str, context: str) -> None:
    """A kubeconfig for identity ``name`` (its certificate inline), mode 0600."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64(pki.path("ca", "crt")),
                },
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": b64(pki.path(name, "crt")),
                    "client-key-data": b64(pki.path(name, "key")),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": name}}],
        "current-context": context,
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
