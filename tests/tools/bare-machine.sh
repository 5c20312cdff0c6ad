#!/usr/bin/env bash
# Proves the README's two commands on a bare Debian machine: a clean root file system made by
# debootstrap (minbase: no nginx, supervisor, chromium, PostgreSQL, Python tools), with this
# machine's Rust toolchain bind-mounted, entered with chroot. No container engine needed.
#
#   sudo tests/tools/bare-machine.sh [ROOTFS]     (default /var/tmp/apiphant-bare)
#
#  1. debootstrap --variant=minbase bookworm ROOTFS (once; reused when ROOTFS exists);
#  2. a fresh `git clone` of this checkout into ROOTFS/root/apiphant (no target/);
#  3. inside the chroot, as root, with only the toolchain added (rustup's toolchain and cargo's
#     registry cache bind-mounted; gcc + libc6-dev, the linker every Rust toolchain needs):
#       a. the README's first command (`cargo run --release -- . 127.0.0.1:PORT`), until it
#          serves, then one call to v0/echo;
#       b. the README's second command (`./test.sh`), which must install everything else.
# Services never start inside the chroot on install (policy-rc.d), so nothing binds port 80.
# Root only (debootstrap, chroot, mounts). Exit status: that of ./test.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rootfs=$(realpath -m "${1:-/var/tmp/apiphant-bare}")
[[ $(id -u) -eq 0 ]] || { echo "bare-machine.sh: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

if [[ ! -x "$rootfs/bin/bash" ]]; then
    echo "bare machine: debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
fi
# Services never start on install in a chroot (they would bind the host's ports).
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# This machine's network trust goes in as its resolver does: a local CA (a proxy's, say) is
# trusted inside too once the ca-certificates package is installed there, and the variables
# that point tools at the bundle are passed through.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
fi
passed=()
for name in SSL_CERT_FILE SSL_CERT_DIR PIP_CERT REQUESTS_CA_BUNDLE CURL_CA_BUNDLE \
    http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY; do
    [[ -n ${!name:-} ]] && passed+=("$name=${!name}")
done

mounts=()
bind() { mkdir -p "$rootfs$2"; mount --rbind "$1" "$rootfs$2"; mounts+=("$rootfs$2"); }
cleanup() {
    local status=$?
    # Nothing started inside the chroot may outlive the mounts it builds with: kill every
    # process whose root directory is the chroot (and nothing else).
    local proc
    for proc in /proc/[0-9]*; do
        [[ $(readlink "$proc/root" 2>/dev/null) == "$rootfs" ]] && kill -KILL "${proc#/proc/}" 2>/dev/null
    done
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
    exit "$status"
}
trap cleanup EXIT INT TERM
mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
bind /sys /sys
bind /dev /dev
bind "$HOME/.rustup" /root/.rustup
bind "$HOME/.cargo" /root/.cargo

rm -rf "$rootfs/root/apiphant"
git clone -q "$repo" "$rootfs/root/apiphant"

# shellcheck disable=SC2016 # dpkg-query's own format
echo "bare machine: packages before: $(chroot "$rootfs" dpkg-query -W -f='${Package}\n' | wc -l)"
for tool in nginx supervisord chromium promtool python3 psql; do
    if chroot "$rootfs" sh -c "command -v $tool" >/dev/null; then
        echo "bare machine: $tool is present before the test: not bare" >&2
        exit 1
    fi
done

port=$((20000 + RANDOM % 20000))
# shellcheck disable=SC2016 # the script runs inside the chroot, which expands it
chroot "$rootfs" /usr/bin/env -i HOME=/root TERM=dumb "${passed[@]}" \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CI="${CI:-}" PORT="$port" bash -euo pipefail -c '
cd /root/apiphant
echo "bare machine: the toolchain: $(rustc --version); adding its linker (gcc, libc6-dev)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
echo "bare machine: 1. cargo run --release -- . 127.0.0.1:$PORT"
cargo run --release -- . "127.0.0.1:$PORT" >/tmp/serve.log 2>&1 &
server=$!
# Bounded (an hour: a release build on a busy 2-core machine is slow); a dead server is a
# zombie until waited for, so its /proc state tells.
for _ in $(seq 1 3600); do
    grep -qs "is serving" /tmp/serve.log && break
    grep -qs "^State:.*Z" "/proc/$server/status" && { tail -20 /tmp/serve.log; exit 1; }
    sleep 1
done
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf "POST /api/v0/echo/read HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"hello\":\"world\"}" >&3
answer=$(cat <&3)
echo "$answer" | tail -1
case "$answer" in *"\"hello\":\"world\""*) ;; *) echo "bare machine: no echo answer"; exit 1;; esac
kill -TERM "$server"; wait "$server" || true
echo "bare machine: 2. ./test.sh"
./test.sh
echo "bare machine: packages after: $(dpkg-query -W -f="\${Package}\n" | wc -l)"
'
echo "bare machine: both commands passed on a clean $rootfs (kept for a rerun; delete it when done)"
