"""Container images for the cluster without a registry: OCI archives written here, imported
into each node's containerd (pods then run them with ``imagePullPolicy: Never``).

``oci_archive`` writes a one-layer OCI image layout tarball from files of this host; it makes
the pod sandbox ("pause") image from Debian's static busybox. Images of the model servers are
built by Docker (``reference-stack/docker``) and imported the same way from ``docker save``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import MissingBinary, PlatformError

__all__ = ["import_image", "oci_archive", "pause_archive"]

_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _layer(files: Mapping[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for dest in sorted(files):
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                if folder not in made:
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    made.add(folder)
            data = files[dest].read_bytes()
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    _add(tar, f"blobs/sha256/{digest}", data)
    return f"sha256:{digest}"


def oci_archive(out: Path, ref: str, files: Mapping[str, Path], entrypoint: Sequence[str]) -> Path:
    """An OCI image layout tarball named ``ref`` holding ``files`` (image path -> host file)."""
    layer = _layer(files)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        layer_digest = _blob(tar, layer)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Entrypoint": list(entrypoint)},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }
        ).encode()
        config_digest = _blob(tar, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": _MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        manifest_digest = _blob(tar, manifest)
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": _MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": ref},
                }
            ],
        }
        _add(tar, "index.json", json.dumps(index).encode())
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    return out


def pause_archive(out: Path, ref: str) -> Path:
    """The pod sandbox image: busybox sleeping forever (the sandbox only holds namespaces)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise MissingBinary("busybox", "Debian package busybox-static", "scripts/setup --cluster")
    return oci_archive(
        out, ref, {"bin/busybox": Path(busybox)}, ["/bin/busybox", "sleep", "2147483647"]
    )


def import_image(socket: Path, archive: Path, ref: str | None = None) -> None:
    """Import ``archive`` into the containerd at ``socket`` (the CRI's ``k8s.io`` namespace).
    ``ref`` names an OCI layout's image; a ``docker save`` archive names its own."""
    if shutil.which("ctr") is None:
        raise MissingBinary("ctr", "Debian package containerd", "scripts/setup --cluster")
    name = ["--index-name", ref] if ref else []
    cmd = ["ctr", "--address", str(socket), "-n", "k8s.io", "images"]
    for _attempt in range(2):
        # containerd 1.6 can fail to import an image over an existing name ("content digest
        # ... not found"): drop the old names first (running containers keep their
        # snapshots), and try once more if it still does.
        for old in [ref] if ref else _docker_archive_refs(archive):
            subprocess.run([*cmd, "rm", old], capture_output=True, check=False, timeout=60)
        out = subprocess.run(
            [*cmd, "import", *name, str(archive)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if out.returncode == 0:
            return
    raise PlatformError(f"importing {archive.name} into {socket}: {out.stderr.strip()[-400:]}")


def _docker_archive_refs(archive: Path) -> list[str]:
    """The names a ``docker save`` archive gives its images, as containerd spells them."""
    with tarfile.open(archive) as tar:
        try:
            member = tar.extractfile("manifest.json")
        except KeyError:
            return []
        manifest = json.loads(member.read()) if member else []
    refs = []
    for entry in manifest:
        for tag in entry.get("RepoTags") or []:
            first = tag.split("/", 1)[0]
            if "/" not in tag:
                refs.append(f"docker.io/library/{tag}")
            elif "." not in first and ":" not in first and first != "localhost":
                refs.append(f"docker.io/{tag}")
            else:
                refs.append(tag)
    return refs
