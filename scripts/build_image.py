#!/usr/bin/env python3
"""Writes the container image of redox-destination as an OCI archive, with no daemon.

`make image` runs this script on the static release binary. The image is
FROM scratch, one layer:

    /redox-destination                    the binary (the entry point), 0755
    /etc/ssl/certs/ca-certificates.crt    Mozilla's CA bundle (certifi), 0644
    /etc/passwd, /etc/group               root, and the user redox 65532:65532
    /etc/nsswitch.conf                    hosts: files dns

and its configuration runs it as 65532:65532 with SSL_CERT_FILE pointing at
the bundle and REDOX_LISTEN=0.0.0.0:8080, port 8080/tcp exposed.

The output is one tar file holding an OCI image layout (`oci-layout`,
`index.json`, `blobs/sha256/...`), which `skopeo copy oci-archive:FILE
docker://...` reads, plus the `manifest.json` that `docker load` reads (as
`docker save` writes both since Docker 25).

Reproducible: the same binary, bundle and commit give the same bytes, so the
same digest. Every file in both tars has the same owner (0:0), a fixed mode
and the commit's time as mtime, in sorted order; gzip's header carries no
time or name; the JSON documents are written with sorted keys. The
`created` time and the `org.opencontainers.image.revision` label come from
git (the commit's time and id; `-dirty` when the work tree has changes), or
from SOURCE_DATE_EPOCH; never from the clock.

Refuses a binary that is not a static ELF executable for the chosen
architecture: a dynamically linked one would not start in a FROM-scratch
image, and RUSTFLAGS set in the environment silently replaces the
`+crt-static` flag of `make build-release`.

Usage:
    .venv/bin/python scripts/build_image.py --binary PATH --out FILE.tar [--arch amd64|arm64]
        [--ca-bundle PEM] [--tag NAME:TAG] [--source URL]

Prints the image's digest (the manifest's, what a registry shows) and size.
Exit: 0 written; 1 an input is unusable (named on stderr); 2 usage error.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = "/redox-destination"
CA_BUNDLE_PATH = "etc/ssl/certs/ca-certificates.crt"
USER = "65532:65532"
LISTEN_PORT = 8080
DEFAULT_TAG = "redox-destination:latest"

# OCI architecture name -> ELF e_machine.
ARCHES = {"amd64": 62, "arm64": 183}

# Not root: the process can write nothing in the image (its files are root's,
# and ECS mounts the root read-only besides). No login shell exists.
PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "redox:x:65532:65532:redox-destination:/nonexistent:/sbin/nologin\n"
)
GROUP = "root:x:0:\nredox:x:65532:\n"
# Static glibc has the files and dns lookups built in (glibc >= 2.34); the
# container runtime provides /etc/hosts and /etc/resolv.conf.
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class BuildError(Exception):
    """An input that cannot go into the image."""


# ---- inputs ----------------------------------------------------------------


def check_static_elf(data, arch):
    """Raises BuildError unless data is a 64-bit little-endian ELF executable
    for arch with no program interpreter (so: statically linked)."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise BuildError("the binary is not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise BuildError("the binary is not a 64-bit little-endian ELF file")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_machine != ARCHES[arch]:
        found = {v: k for k, v in ARCHES.items()}.get(e_machine, f"e_machine {e_machine}")
        raise BuildError(f"the binary is built for {found}, not {arch}")
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN (static-pie)
        raise BuildError("the binary is not an executable")
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        offset = e_phoff + i * e_phentsize
        if offset + 4 > len(data):
            raise BuildError("the binary's program headers are cut off")
        if struct.unpack_from("<I", data, offset)[0] == 3:  # PT_INTERP
            raise BuildError(
                "the binary is dynamically linked (it names a program interpreter) and would not "
                "start in a FROM-scratch image: build it with `make build-release` (which sets "
                "-C target-feature=+crt-static; an exported RUSTFLAGS replaces that flag)"
            )


def default_ca_bundle():
    try:
        import certifi  # the venv's, pinned in requirements-dev.txt
    except ImportError:
        raise BuildError("certifi is not installed: run `make venv`, or pass --ca-bundle")
    return Path(certifi.where())


def read_ca_bundle(path):
    data = path.read_bytes()
    count = data.count(b"-----BEGIN CERTIFICATE-----")
    if count < 10:
        raise BuildError(f"{path} holds {count} certificates; expected a CA bundle (PEM)")
    return data


def git(*args):
    try:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def source_date():
    """Seconds since the epoch for every timestamp: SOURCE_DATE_EPOCH, else
    the commit's time, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        if not value.isdigit():
            raise BuildError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
        return int(value)
    committed = git("log", "-1", "--format=%ct")
    return int(committed) if committed and committed.isdigit() else 0


def revision():
    head = git("rev-parse", "HEAD")
    if not head:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + ("-dirty" if dirty else "")


def public_source(url):
    """The origin remote as a public URL (user and password removed), or None
    when it is not a network URL (a local path says nothing to a reader)."""
    if not url:
        return None
    match = re.match(r"^(https?)://(?:[^@/]*@)?(.+)$", url)
    if match:
        return f"https://{match.group(2)}"
    match = re.match(r"^(?:ssh://)?[^@/]+@([^:/]+)[:/](.+)$", url)
    if match:
        return f"https://{match.group(1)}/{match.group(2)}"
    return None


def package_version():
    text = (ROOT / "Cargo.toml").read_text()
    match = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    return match.group(1) if match else None


# ---- writing ---------------------------------------------------------------


def tar_bytes(entries, mtime):
    """A deterministic tar: entries (path, mode, bytes or None for a folder),
    written in sorted order, owner 0:0, one mtime, ustar headers."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, mode, data in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = mtime
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    # mtime=0 and no file name: the header is the same on every run.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def descriptor(media_type, data, **extra):
    return {"mediaType": media_type, "digest": f"sha256:{sha256(data)}", "size": len(data), **extra}


def rfc3339(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def full_reference(tag):
    """NAME:TAG as Docker spells it in full (docker.io/library/NAME:TAG)."""
    first, _, rest = tag.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return tag
    return f"docker.io/{tag}" if rest else f"docker.io/library/{tag}"


def build(binary, arch, ca_bundle, tag, source):
    """Returns (archive bytes, manifest digest)."""
    created = source_date()
    layer_tar = tar_bytes(
        [
            ("etc", 0o755, None),
            ("etc/group", 0o644, GROUP.encode()),
            ("etc/nsswitch.conf", 0o644, NSSWITCH.encode()),
            ("etc/passwd", 0o644, PASSWD.encode()),
            ("etc/ssl", 0o755, None),
            ("etc/ssl/certs", 0o755, None),
            (CA_BUNDLE_PATH, 0o644, ca_bundle),
            (ENTRYPOINT.lstrip("/"), 0o755, binary),
        ],
        created,
    )
    layer = gzip_bytes(layer_tar)

    labels = {
        "org.opencontainers.image.title": "redox-destination",
        "org.opencontainers.image.description": "A Redox destination: authenticates Redox pushes and queues them on SQS",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.created": rfc3339(created),
    }
    for key, value in (
        ("org.opencontainers.image.version", package_version()),
        ("org.opencontainers.image.revision", revision()),
        ("org.opencontainers.image.source", source),
    ):
        if value:
            labels[key] = value

    config = canonical_json(
        {
            "architecture": arch,
            "os": "linux",
            "created": rfc3339(created),
            "config": {
                "User": USER,
                "Entrypoint": [ENTRYPOINT],
                "Env": [f"SSL_CERT_FILE=/{CA_BUNDLE_PATH}", f"REDOX_LISTEN=0.0.0.0:{LISTEN_PORT}"],
                "ExposedPorts": {f"{LISTEN_PORT}/tcp": {}},
                "WorkingDir": "/",
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256(layer_tar)}"]},
            "history": [{"created": rfc3339(created), "created_by": "scripts/build_image.py"}],
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": descriptor(MEDIA_CONFIG, config),
            "layers": [descriptor(MEDIA_LAYER, layer)],
            "annotations": labels,
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                descriptor(
                    MEDIA_MANIFEST,
                    manifest,
                    platform={"architecture": arch, "os": "linux"},
                    annotations={
                        "io.containerd.image.name": full_reference(tag),
                        "org.opencontainers.image.ref.name": tag.rpartition(":")[2],
                    },
                )
            ],
        }
    )
    docker_manifest = canonical_json(
        [{"Config": f"blobs/sha256/{sha256(config)}", "RepoTags": [tag], "Layers": [f"blobs/sha256/{sha256(layer)}"]}]
    )
    blobs = [config, layer, manifest]
    archive = tar_bytes(
        [
            ("blobs", 0o755, None),
            ("blobs/sha256", 0o755, None),
            *((f"blobs/sha256/{sha256(blob)}", 0o644, blob) for blob in blobs),
            ("index.json", 0o644, index),
            ("manifest.json", 0o644, docker_manifest),
            ("oci-layout", 0o644, canonical_json({"imageLayoutVersion": "1.0.0"})),
        ],
        created,
    )
    return archive, f"sha256:{sha256(manifest)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, type=Path, help="the static redox-destination binary")
    parser.add_argument("--out", required=True, type=Path, help="the OCI archive to write (.tar)")
    parser.add_argument("--arch", default="amd64", choices=sorted(ARCHES), help="the binary's architecture")
    parser.add_argument("--ca-bundle", type=Path, help="PEM CA bundle (default: the venv's certifi)")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"name:tag for docker load (default {DEFAULT_TAG})")
    parser.add_argument("--source", help="org.opencontainers.image.source (default: git's origin, if public)")
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", args.tag):
        parser.error(f"--tag {args.tag!r} is not NAME:TAG")

    started = time.monotonic()
    try:
        if not args.binary.is_file():
            raise BuildError(f"{args.binary} is missing: run `make build-release` first")
        binary = args.binary.read_bytes()
        check_static_elf(binary, args.arch)
        ca_bundle = read_ca_bundle(args.ca_bundle or default_ca_bundle())
        source = args.source or public_source(git("remote", "get-url", "origin"))
        archive, digest = build(binary, args.arch, ca_bundle, args.tag, source)
    except (BuildError, OSError) as error:
        print(f"build-image: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_bytes(archive)
    partial.replace(args.out)
    print(
        f"build-image: {args.out} ({len(archive) / 1e6:.1f} MB, {args.arch}, {args.tag}) "
        f"digest {digest} in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
