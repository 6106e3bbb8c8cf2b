"""Credentials and TLS for load requests: tokens and keys read from the environment or a file,
sent with every request, never printed or recorded; https with a CA bundle or an explicit
insecure flag, against a real local TLS server with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.errors import ConfigError
from harness.record import RunRecord
from loadtests.arrivals import build_schedule
from loadtests.credentials import read_secret, request_auth, tls_context_factory
from loadtests.routes import build_targets
from loadtests.runner import LoadResult, run_load
from loadtests.settings import LoadSettings, load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import EchoServer, echo_server

TOKEN = "s3cr3t-t0ken-4f9a"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also its own CA) and its key."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "msai load test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MSAI_TEST_TOKEN", TOKEN)
    return "env:MSAI_TEST_TOKEN"


@pytest.fixture(scope="module")
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[EchoServer]:
    cert, key = tls_files
    with echo_server(
        require_header=f"Authorization: Bearer {TOKEN}", tls=(str(cert), str(key))
    ) as s:
        yield s


def _run(srv: EchoServer, settings: LoadSettings, record: RunRecord | None = None) -> LoadResult:
    schedule = build_schedule(ConstantRate(40, 1.5), {"ner": 1.0}, seed=2)
    targets = build_targets(schedule.routes, {}, url=srv.url)
    return run_load(schedule, targets, settings=settings, record=record, progress=False)


def _everything_written(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_locust_over_https_with_a_ca_bundle_and_a_bearer_token_from_the_environment(
    tls_server: EchoServer,
    tls_files: tuple[Path, Path],
    token_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings_from_env(
        engine="locust", ca_bundle=str(tls_files[0]), bearer_token=token_env, start_delay_s=0.5
    )
    before = tls_server.requests_seen()
    with RunRecord(tmp_path / "run") as record:
        result = _run(tls_server, settings, record)
    total = result.summary()
    assert total.sent == total.completed > 0
    assert tls_server.requests_seen() - before == total.sent
    assert tls_server.unauthorized_seen() == 0
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err
    assert TOKEN not in _everything_written(tmp_path)
    assert TOKEN not in repr(settings)


def test_https_without_trust_fails_each_request_and_insecure_is_explicit(
    tls_server: EchoServer, token_env: str
) -> None:
    untrusted = _run(
        tls_server, load_settings_from_env(engine="locust", bearer_token=token_env)
    ).summary()
    assert untrusted.completed == 0
    assert untrusted.error_count == untrusted.sent > 0
    insecure = load_settings_from_env(engine="locust", bearer_token=token_env, insecure=True)
    assert _run(tls_server, insecure).summary().completed > 0
    with pytest.raises(ConfigError, match="not both"):
        tls_context_factory("/etc/hosts", True)


def test_the_native_engine_sends_credentials_and_refuses_https_by_name(
    tls_server: EchoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "headers.txt"
    key_file.write_text(f"# sent with every request\nAuthorization: Bearer {TOKEN}\n")
    settings = load_settings_from_env(headers=f"file:{key_file}")
    with echo_server(require_header=f"Authorization: Bearer {TOKEN}") as plain:
        total = _run(plain, settings).summary()
        assert total.completed == total.sent > 0
        assert plain.unauthorized_seen() == 0
        # without the header every request is refused: the server's check can fail
        assert _run(plain, load_settings_from_env()).summary().errors.get("http_401", 0) > 0
    with pytest.raises(ValueError, match="engine: locust"):
        _run(tls_server, settings)


def test_secrets_are_read_from_env_or_file_and_errors_never_show_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSAI_TEST_KEY", f"  {TOKEN}\n")
    assert read_secret("env:MSAI_TEST_KEY", setting="api_key") == TOKEN
    (tmp_path / "key").write_text(TOKEN)
    auth = request_auth(api_key=f"file:{tmp_path / 'key'}", api_key_header="X-API-Key")
    assert auth.headers == {"X-API-Key": TOKEN}
    assert TOKEN not in repr(auth)
    for reference, says in [
        (TOKEN, "env:NAME or file:PATH"),
        ("env:MSAI_NO_SUCH_VARIABLE", "MSAI_NO_SUCH_VARIABLE is not set"),
        (f"file:{tmp_path / 'missing'}", "cannot read"),
    ]:
        with pytest.raises(ConfigError, match=says) as err:
            read_secret(reference, setting="bearer_token")
        assert err.value.field == "bearer_token"
        assert TOKEN not in str(err.value)
    (tmp_path / "bad").write_text(f"Authorization {TOKEN}\n")
    with pytest.raises(ConfigError, match="line 1") as bad:
        request_auth(headers=f"file:{tmp_path / 'bad'}")
    assert TOKEN not in str(bad.value)
