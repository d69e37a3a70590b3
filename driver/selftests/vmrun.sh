#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Boots the guest kernel under QEMU (TCG) with a throw-away busybox initramfs
# holding boundary.ko and the static selftests, loads the module with the
# given bugs=, runs the given shell commands, powers off. The console goes
# to stdout. A development aid; the rig builds its own images.
#
#   vmrun.sh [-b BUGS] [-k VMLINUX] [-m KO] -- 'boundary_test' 'boundary_trigger x'
#
# Environment: BUSYBOX (default /bin/busybox), QEMU_TIMEOUT (default 120).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bugs=
kernel=/tmp/kexp/vmlinux
ko=$here/../boundary.ko
while getopts b:k:m: opt; do
	case $opt in
	b) bugs=$OPTARG ;;
	k) kernel=$OPTARG ;;
	m) ko=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

work=$(mktemp -d /tmp/boundary-vmrun.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "${BUSYBOX:-/bin/busybox}" "$root/bin/busybox"
cp "$ko" "$root/boundary.ko"
for p in boundary_test boundary_trigger boundary_cov_test boundary_stress \
	 boundary_test32 boundary_trigger32 ${EXTRA_BINS:-}; do
	cp "$here/$p" "$root/bin/$p"
done

{
	echo '#!/bin/busybox sh'
	echo '/bin/busybox --install -s /bin'
	echo 'export PATH=/bin'
	echo 'mount -t proc proc /proc; mount -t sysfs sys /sys'
	echo 'mount -t devtmpfs dev /dev; mount -t debugfs debugfs /sys/kernel/debug'
	echo 'echo 1 > /proc/sys/kernel/printk_devkmsg 2>/dev/null'
	if [ -n "$bugs" ]; then
		echo "insmod /boundary.ko bugs=$bugs; echo \"vmrun: insmod rc=\$?\""
	else
		echo 'insmod /boundary.ko; echo "vmrun: insmod rc=$?"'
	fi
	for cmd in "$@"; do
		echo "echo 'vmrun: run: $cmd'"
		echo "$cmd; echo \"vmrun: rc=\$?\""
	done
	echo 'echo vmrun: done'
	echo 'poweroff -f'
} > "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > "$work/initrd.cpio"

timeout "${QEMU_TIMEOUT:-120}" qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
	-bios /usr/share/qemu/qboot.rom -kernel "$kernel" -initrd "$work/initrd.cpio" \
	-append "console=ttyS0 loglevel=6 oops=panic panic=-1 panic_on_warn=0 softlockup_panic=1 hung_task_panic=1 sysctl.kernel.hung_task_timeout_secs=10 watchdog_thresh=5 slub_debug=FZPU printk.devkmsg=on" \
	-nodefaults -serial stdio </dev/null || true
