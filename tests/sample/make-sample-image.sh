#!/usr/bin/env bash
# make-sample-image.sh OUT.tar — build a small bootable root filesystem image
# with real tools (Debian's statically linked busybox) and write it as a
# docker-archive (what `docker save` writes), tagged sample:latest.
#
# Three layers, built with umoci the way a Dockerfile would be:
#   1. /bin/busybox and a symlink /bin/APPLET -> busybox for every applet,
#      plus /etc/issue.placeholder (deleted again in layer 3)
#   2. /etc/passwd, /etc/group, /etc/hostname, /etc/profile, /root (0700),
#      /tmp (1777), /home, and empty /dev, /proc, /sys mount points
#   3. /etc/motd, and a whiteout for /etc/issue.placeholder
# Config: Cmd=/bin/sh, Env=PATH=/bin:/sbin:/usr/bin:/usr/sbin, WorkingDir=/.
#
# Run as root (the rootfs must hold files owned by root) on Debian 12; installs
# busybox-static, umoci and skopeo with apt-get when they are missing. Safe to
# run again: OUT.tar is rewritten from scratch each time.
#
# Then, e.g.:
#   undocker -f OUT.tar -o /tmp/x && chroot /tmp/x /bin/sh -c 'echo hello from $(id -un)'
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
  echo "usage: $0 OUT.tar" >&2
  exit 2
fi
out=$1
if [[ $(id -u) -ne 0 ]]; then
  echo "$0: must run as root (umoci unpack/repack keep file owners)" >&2
  exit 1
fi

need=()
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || need+=(busybox-static)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's busybox-static puts the binary at /bin/busybox (statically linked,
# so it runs in a rootfs that has no libc).
busybox=/bin/busybox
if ! { ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic'; then
  echo "$0: $busybox is not statically linked (is the busybox package installed instead of busybox-static?)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/make-sample.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout=$work/layout
bundle=$work/bundle
image=$layout:sample

umoci init --layout "$layout"
umoci new --image "$image"

# Each step: unpack the image as it stands, change the rootfs, repack it as one new layer.
layer() {
  local step=$1
  umoci unpack --image "$image" "$bundle" >/dev/null
  "$step" "$bundle/rootfs"
  umoci repack --image "$image" --history.created_by "make-sample-image.sh: $step" "$bundle"
  rm -rf "$bundle"
}

layer_busybox() {
  local root=$1 applet
  install -d -m 0755 "$root/bin" "$root/etc"
  install -m 0755 "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] && continue
    ln -sfn busybox "$root/bin/$applet"
  done
  # sbin and usr paths point at /bin, so scripts that say /usr/bin/env or /sbin/ip work.
  ln -sfn bin "$root/sbin"
  install -d -m 0755 "$root/usr"
  ln -sfn ../bin "$root/usr/bin"
  ln -sfn ../bin "$root/usr/sbin"
  echo "placeholder: deleted by the third layer" >"$root/etc/issue.placeholder"
}

layer_etc() {
  local root=$1
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
GROUP
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  echo sample >"$root/etc/hostname"
  printf 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1="\\u@\\h:\\w\\$ "\n' >"$root/etc/profile"
  install -d -m 0700 "$root/root"
  install -d -m 1777 "$root/tmp"
  install -d -m 0755 "$root/home" "$root/dev" "$root/proc" "$root/sys" "$root/run" "$root/var"
}

layer_motd() {
  local root=$1
  echo "Welcome to the undocker sample image (busybox $("$busybox" | head -1 | cut -d' ' -f2))." >"$root/etc/motd"
  rm -f "$root/etc/issue.placeholder"  # umoci repack writes etc/.wh.issue.placeholder
}

layer layer_busybox
layer layer_etc
layer layer_motd

umoci config --image "$image" \
  --config.cmd /bin/sh \
  --config.env PATH=/bin:/sbin:/usr/bin:/usr/sbin \
  --config.workingdir / \
  --history.created_by "make-sample-image.sh: config"
umoci gc --layout "$layout"

mkdir -p "$(dirname -- "$out")"
tmp_out="$out.tmp.$$"
rm -f "$tmp_out"
trap 'rm -rf "$work"; rm -f "$tmp_out"' EXIT
skopeo --insecure-policy copy --quiet "oci:$image" "docker-archive:$tmp_out:sample:latest"
mv -f "$tmp_out" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes): image sample:latest, 3 layers, Cmd /bin/sh" >&2
