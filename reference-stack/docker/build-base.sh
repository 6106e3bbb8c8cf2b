#!/usr/bin/env bash
# Build the base image of every modelserve image from Debian packages, with no registry:
# debootstrap a minimal Debian rootfs into a folder, add the host's CA bundle, `docker import`.
#
#   reference-stack/docker/build-base.sh [--tag NAME] [--suite bookworm] [--mirror URL] [--force]
#
# The image holds Debian's python3 (3.11 on bookworm, the version the pins in
# requirements/constraints.txt were tested with), python3-venv, ca-certificates and the
# system libraries the wheels need. Skipped when the tag exists (--force rebuilds). Needs
# root (debootstrap), debootstrap and a running Docker Engine (DOCKER_HOST is honoured).
# Environment: DEBOOTSTRAP_CACHE (folder of downloaded .debs, reused between builds).
set -euo pipefail

TAG=modelserve-base:bookworm
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --suite) SUITE=$2; shift 2 ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-base: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# Packages of the base (pinned by the Debian suite: a stable release only takes security fixes).
PACKAGES=python3,python3-venv,ca-certificates,libgomp1,tzdata
DOCKER=${DOCKER:-docker}

die() { echo "build-base: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap, or scripts/setup --docker)"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker Engine answers (start dockerd, or set DOCKER_HOST)"

if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "build-base: $TAG exists (use --force to rebuild)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/msai-rootfs.XXXXXX")
cleanup() {
  # debootstrap mounts proc/sys inside the rootfs; never rm -rf through a live mount.
  for m in proc sys dev/pts; do umount "$WORK/rootfs/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
ROOTFS=$WORK/rootfs
CACHE_ARGS=()
if [ -n "${DEBOOTSTRAP_CACHE:-}" ]; then
  mkdir -p "$DEBOOTSTRAP_CACHE"
  CACHE_ARGS=(--cache-dir="$(realpath "$DEBOOTSTRAP_CACHE")")
fi

echo "build-base: debootstrap $SUITE ($PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "${CACHE_ARGS[@]}" "$SUITE" "$ROOTFS" "$MIRROR" \
  > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

# The host's CA bundle: pip/apt inside builds trust what the host trusts (proxies included).
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# Slim the image: no apt lists, caches, docs or man pages.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*

PYVER=$(chroot "$ROOTFS" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "build-base: importing $TAG (python $PYVER)"
tar --numeric-owner -C "$ROOTFS" -c . | "$DOCKER" import \
  --change 'ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap $SUITE minbase + $PACKAGES" \
  - "$TAG" >/dev/null
"$DOCKER" image inspect "$TAG" --format 'build-base: {{.Id}} {{.Size}} bytes'
