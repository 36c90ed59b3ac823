#!/usr/bin/env bash
# Build the lkrun "ntpd" test image from Debian packages, named as
# `linuxkit build` names its outputs. See images/README.md.
#
#   images/build.sh [--arch x86_64|aarch64|all] [--out DIR]
#
# Needs no root: packages come from `apt-get download` (so the apt lists must
# know the target architecture: run ci/setup-system.sh once).
set -Eeuo pipefail
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPE=$HERE/ntpd
CACHE=$HERE/cache
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
GCP_DISK_SIZE=1G # GCE imports raw disks whose size is a whole number of GiB

die() {
	trap - ERR
	echo "images: error: $*" >&2
	exit 1
}

say() {
	echo "images: $*"
}

usage() {
	echo "usage: images/build.sh [--arch x86_64|aarch64|all] [--out DIR]"
}

deb_arch() {
	case $1 in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	esac
}

# Debian packages behind each image, besides the kernel (resolved from the
# linux-image-cloud-* metapackage) and openntpd's library dependencies.
extra_packages() {
	case $1 in
	x86_64) echo busybox-static openntpd grub-pc-bin grub-efi-amd64-bin ;;
	aarch64) echo busybox-static openntpd grub-efi-arm64-bin ;;
	esac
}

outputs() {
	local kinds=(ntpd ntpd-poweroff ntpd-panic) k
	for k in "${kinds[@]}"; do
		echo "$k-kernel" "$k-initrd.img" "$k-cmdline"
	done
	echo ntpd-efi.iso ntpd-efi.img ntpd-efi.qcow2
	if [[ $1 == x86_64 ]]; then
		echo ntpd.iso ntpd-bios.img ntpd.qcow2 ntpd-efi.vmdk ntpd.img.tar.gz
	fi
}

need_tools() {
	local missing=() t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run ci/setup-system.sh)"
}

# --- package resolution -----------------------------------------------------
# apt-cache takes ~1.5 s per call where apt keeps no binary cache, so the
# resolved list is cached and reused while the apt lists are unchanged.

apt_lists_stamp() {
	{
		stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* /var/lib/dpkg/arch 2>/dev/null || true
		sha256sum "$HERE/build.sh"
	} | sha256sum | cut -c1-64
}

# Prints "name version sha256 architecture" for every package of an image.
query_packages() { # arch
	local a deps names=() extra=()
	a=$(deb_arch "$1")
	deps=$(apt-cache depends "linux-image-cloud-$a:$a" "openntpd:$a" 2>&1) ||
		die "apt-cache cannot resolve linux-image-cloud-$a/openntpd for $a (run ci/setup-system.sh): ${deps##*$'\n'}"
	# The metapackage depends on the versioned kernel; openntpd on its libs.
	mapfile -t names < <(awk '
		/^[^ ]/ { pkg = $1; sub(/:.*/, "", pkg); next }
		$1 == "Depends:" {
			dep = $2; sub(/:.*/, "", dep)
			if (pkg ~ /^linux-image-cloud-/ && dep ~ /^linux-image-/) print dep
			if (pkg == "openntpd" && dep ~ /^lib/) print dep
		}' <<<"$deps")
	[[ ${names[0]:-} == linux-image-* ]] || die "no kernel package behind linux-image-cloud-$a"
	read -ra extra <<<"$(extra_packages "$1")"
	names+=("${extra[@]}")
	apt-cache show --no-all-versions "${names[@]/%/:$a}" 2>/dev/null | awk '
		/^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { ar = $2 }
		/^SHA256: / { s = $2 }
		/^$/ { if (p != "") print p, v, s, ar; p = "" }
		END { if (p != "") print p, v, s, ar }'
}

# Sets PKG_LIST to a file of "name version sha256 architecture" lines.
resolve_packages() {
	local arch=$1 dir=$CACHE/debs/$1 stamp
	PKG_LIST=$dir/packages.lst
	stamp=$(apt_lists_stamp)
	if [[ -f $PKG_LIST && $(head -n 1 "$PKG_LIST") == "# $stamp" ]]; then
		return
	fi
	mkdir -p "$dir"
	{
		echo "# $stamp"
		query_packages "$arch"
	} >"$PKG_LIST.tmp"
	(($(grep -vc '^#' "$PKG_LIST.tmp") >= 5)) ||
		die "apt-cache found too few packages for $arch (run ci/setup-system.sh)"
	mv "$PKG_LIST.tmp" "$PKG_LIST"
}

deb_file() { # name version architecture -> cache file name apt-get download uses
	echo "${1}_${2//:/%3a}_${3}.deb"
}

# --- content hash -----------------------------------------------------------

content_hash() {
	local arch=$1
	(
		echo "arch $arch"
		cd "$HERE"
		find ntpd -type l -printf 'link %p %l\n' | LC_ALL=C sort
		find ntpd build.sh -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
		grep -v '^#' "$PKG_LIST" | LC_ALL=C sort
	) | sha256sum | cut -c1-64
}

up_to_date() { # arch dir hash
	local f
	[[ -f $2/.hash && $(<"$2/.hash") == "$3" ]] || return 1
	for f in $(outputs "$1"); do
		[[ -e $2/$f ]] || return 1
	done
}

# --- downloads and extraction -------------------------------------------------

deb_paths() { # arch -> the cached .deb of every resolved package
	local name ver sha ar
	while read -r name ver sha ar; do
		echo "$CACHE/debs/$1/$(deb_file "$name" "$ver" "$ar")"
	done < <(grep -v '^#' "$PKG_LIST")
}

# apt-get download checks the index's SHA256; checking again here catches a
# damaged cache.
download_debs() {
	local arch=$1 dir=$CACHE/debs/$1 name ver sha ar file log
	while read -r name ver sha ar; do
		file=$dir/$(deb_file "$name" "$ver" "$ar")
		if [[ ! -f $file ]]; then
			say "$arch: downloading $name $ver"
			log=$(cd "$dir" && apt-get download "$name:$ar=$ver" 2>&1) ||
				die "apt-get download $name:$ar=$ver failed: ${log##*$'\n'}"
		fi
		[[ -f $file ]] || die "apt-get download did not produce $file"
		echo "$sha  $file" | sha256sum -c --quiet - >/dev/null 2>&1 ||
			die "checksum mismatch for $file (delete it and retry)"
	done < <(grep -v '^#' "$PKG_LIST")
}

# Drops cached packages that the current resolution no longer uses (e.g. the
# previous kernel after a Debian update).
prune_debs() { # arch
	local deb keep
	keep=$(deb_paths "$1")
	for deb in "$CACHE/debs/$1"/*.deb; do
		[[ -e $deb ]] || continue
		grep -qxF "$deb" <<<"$keep" || rm -f "$deb"
	done
}

extract_debs() { # sysroot deb...
	local root=$1 deb
	shift
	for deb in "$@"; do
		dpkg-deb -x "$deb" "$root"
	done
}

# --- initramfs ----------------------------------------------------------------

# Library search inside the unpacked packages, the order ld.so would use.
find_lib() { # sysroot soname
	local d
	for d in "$1"/lib/*-linux-gnu "$1"/usr/lib/*-linux-gnu "$1"/lib "$1"/usr/lib "$1"/lib64; do
		if [[ -e $d/$2 ]]; then
			echo "${d#"$1"/}/$2"
			return
		fi
	done
	return 1
}

# Copies /path from the sysroot, keeping a symlink as a symlink (ld.so's
# /lib64 link) and copying what it points to.
copy_path() { # sysroot initrd /path
	local root=$1 dst=$2 path=$3 target
	[[ -e $dst$path || -L $dst$path ]] && return
	mkdir -p "$dst$(dirname "$path")"
	if [[ -L $root$path ]]; then
		target=$(readlink "$root$path")
		ln -s "$target" "$dst$path"
		[[ $target == /* ]] || target=$(dirname "$path")/$target
		copy_path "$root" "$dst" "$target"
	else
		cp "$root$path" "$dst$path"
	fi
}

# Copies an ELF binary's interpreter and (recursively) its NEEDED libraries.
copy_elf_deps() { # sysroot initrd binary
	local root=$1 dst=$2 bin=$3 interp lib rel
	interp=$(readelf -lW "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	if [[ -n $interp ]]; then
		[[ -e $root$interp ]] || die "interpreter $interp of ${bin##*/} not in the packages"
		copy_path "$root" "$dst" "$interp"
	fi
	for lib in $(readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		rel=$(find_lib "$root" "$lib") || die "library $lib needed by ${bin##*/} not in the packages"
		[[ -e $dst/$rel ]] && continue
		copy_path "$root" "$dst" "/$rel"
		copy_elf_deps "$root" "$dst" "$dst/$rel"
	done
}

# Wanted modules plus dependencies, in load order, without duplicates or
# built-ins; paths relative to /lib/modules/<kver>. Modules missing on this
# architecture (e.g. ata_piix on arm64) are skipped.
module_load_order() { # sysroot kver
	local root=$1 kver=$2 mod out
	while read -r mod; do
		[[ -z $mod || $mod == \#* ]] && continue
		out=$(modprobe -d "$root" -S "$kver" --show-depends "$mod" 2>/dev/null) || continue
		sed -n "s|^insmod $root/lib/modules/$kver/\([^ ]*\).*|\1|p" <<<"$out"
	done <"$RECIPE/modules" | awk '!seen[$0]++'
}

# busybox insmod may not decompress: store plain .ko files.
install_module() { # src dst(.ko path)
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) die "unknown module format: $1" ;;
	esac
}

install_modules() { # sysroot initrd kver
	local root=$1 dst=$2 kver=$3 rel ko order=()
	depmod -b "$root" "$kver" # the package ships no modules.dep
	while read -r rel; do
		ko=${rel%.ko*}.ko
		mkdir -p "$dst/lib/modules/$kver/$(dirname "$ko")"
		install_module "$root/lib/modules/$kver/$rel" "$dst/lib/modules/$kver/$ko"
		order+=("$ko")
	done < <(module_load_order "$root" "$kver")
	((${#order[@]} > 0)) || die "no kernel modules found for $kver"
	mkdir -p "$dst/etc/lkrun"
	printf '%s\n' "${order[@]}" >"$dst/etc/lkrun/modules.order"
	cp "$root/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$dst/lib/modules/$kver/"
	depmod -b "$dst" "$kver" # so busybox modprobe works from the control shell
}

make_initrd() { # sysroot kver out
	local root=$1 kver=$2 out=$3 dst
	dst=$(dirname "$out")/initrd.root
	rm -rf "$dst"
	mkdir -p "$dst"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,var/log,var/lib/openntpd/{db,run}}
	ln -s ../run "$dst/var/run"
	cp "$root/bin/busybox" "$dst/bin/busybox"
	ln -s busybox "$dst/bin/sh"
	cp "$root/usr/sbin/ntpd" "$dst/usr/sbin/ntpd"
	ln "$dst/usr/sbin/ntpd" "$dst/usr/sbin/ntpctl" # one binary, argv[0] picks
	copy_elf_deps "$root" "$dst" "$dst/usr/sbin/ntpd"
	install_modules "$root" "$dst" "$kver"
	cp -a "$RECIPE/rootfs/." "$dst/"
	chmod 0755 "$dst" "$dst/init" "$dst/sbin/poweroff" "$dst/etc/udhcpc/default.script"
	(cd "$dst" && find . | LC_ALL=C sort |
		cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -9n >"$out"
	rm -rf "$dst"
}

# --- boot media -----------------------------------------------------------------

grub_cfg() { # cmdline out
	sed "s|@CMDLINE@|$1|" "$RECIPE/grub.cfg.in" >"$2"
}

# An El Torito ISO for one GRUB platform: the kernel and initrd under /boot.
make_iso() { # grubdir out stage-dir-with-boot
	local log
	log=$(grub-mkrescue -d "$1" -o "$2" --locales= --fonts= --themes= "$3" -- -volid NTPD 2>&1) ||
		die "grub-mkrescue ($(basename "$1")) failed: $log"
}

# A raw GPT disk with one FAT32 EFI system partition holding a standalone
# GRUB (config embedded), kernel and initrd. No loop devices or mounts:
# sfdisk writes the GPT, mtools writes into the partition at its offset.
make_efi_disk() { # grubdir efi-name cfg kernel initrd out
	local grubdir=$1 efiname=$2 cfg=$3 kernel=$4 initrd=$5 out=$6
	local efi payload_mib esp_mib start=2048 fat
	efi=$(dirname "$out")/$efiname
	grub-mkstandalone -d "$grubdir" -O "$(basename "$grubdir")" -o "$efi" \
		--locales= --fonts= --themes= "boot/grub/grub.cfg=$cfg" ||
		die "grub-mkstandalone failed"
	payload_mib=$(stat -c %s "$efi" "$kernel" "$initrd" | awk '{ n += $1 } END { print int(n / 1048576) + 1 }')
	esp_mib=$((payload_mib * 2 > 64 ? payload_mib * 2 : 64)) # FAT32 wants >= ~33 MiB
	truncate -s 0 "$out"
	truncate -s $((esp_mib + 2))M "$out" # + 1 MiB before, 1 MiB after (backup GPT)
	sfdisk --quiet "$out" <<-EOF >/dev/null || die "sfdisk failed on $out"
		label: gpt
		start=$start, size=$((esp_mib * 2048)), type=$ESP_TYPE, name="EFI system partition"
	EOF
	fat="$out@@$((start * 512))"
	export MTOOLS_SKIP_CHECK=1
	mformat -i "$fat" -F -T $((esp_mib * 2048)) -h 64 -s 32 -H $start -v NTPD :: || die "mformat failed"
	mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/boot
	mcopy -i "$fat" "$efi" "::/EFI/BOOT/$efiname"
	mcopy -i "$fat" "$kernel" ::/boot/ntpd-kernel
	mcopy -i "$fat" "$initrd" ::/boot/ntpd-initrd.img
	rm -f "$efi"
}

# A raw MBR disk booted by BIOS: GRUB's boot.img in the MBR, its core.img in
# the gap before the first partition (as grub-install embeds them), and one
# FAT partition with GRUB's modules, grub.cfg, kernel and initrd. boot.img
# loads core.img from sector 1 and grub-mkimage sets core.img's own length,
# so nothing needs patching.
make_bios_disk() { # grubdir cfg kernel initrd out
	local grubdir=$1 cfg=$2 kernel=$3 initrd=$4 out=$5
	local core payload_mib part_mib start=2048 fat
	core=$(dirname "$out")/core.img
	grub-mkimage -d "$grubdir" -O i386-pc -o "$core" -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos fat ||
		die "grub-mkimage failed"
	(($(stat -c %s "$core") < (start - 1) * 512)) || die "core.img does not fit before the first partition"
	payload_mib=$(du -cb "$grubdir" "$kernel" "$initrd" | awk 'END { print int($1 / 1048576) + 1 }')
	part_mib=$((payload_mib * 2 > 64 ? payload_mib * 2 : 64))
	truncate -s 0 "$out"
	truncate -s $((part_mib + 1))M "$out"
	sfdisk --quiet "$out" <<-EOF >/dev/null || die "sfdisk failed on $out"
		label: dos
		start=$start, size=$((part_mib * 2048)), type=c, bootable
	EOF
	dd if="$grubdir/boot.img" of="$out" bs=440 count=1 conv=notrunc status=none # the partition table stays
	dd if="$core" of="$out" bs=512 seek=1 conv=notrunc status=none
	fat="$out@@$((start * 512))"
	export MTOOLS_SKIP_CHECK=1
	mformat -i "$fat" -F -T $((part_mib * 2048)) -h 64 -s 32 -H $start -v NTPD :: || die "mformat failed"
	mmd -i "$fat" ::/boot ::/boot/grub ::/boot/grub/i386-pc
	mcopy -i "$fat" "$grubdir"/*.mod "$grubdir"/*.lst ::/boot/grub/i386-pc/
	mcopy -i "$fat" "$cfg" ::/boot/grub/grub.cfg
	mcopy -i "$fat" "$kernel" ::/boot/ntpd-kernel
	mcopy -i "$fat" "$initrd" ::/boot/ntpd-initrd.img
	rm -f "$core"
}

# GCE's image format: a tar.gz of disk.raw, whose size is a whole number of
# GiB; the backup GPT moves to the new end of the disk.
make_gcp_tar() { # raw out
	local dir
	dir=$(dirname "$2")/gcp
	mkdir -p "$dir"
	cp --sparse=always "$1" "$dir/disk.raw"
	truncate -s "$GCP_DISK_SIZE" "$dir/disk.raw"
	sfdisk --quiet --relocate gpt-bak-std "$dir/disk.raw" 2>/dev/null || die "sfdisk --relocate failed"
	tar --format=oldgnu -Sczf "$2" -C "$dir" --owner=0 --group=0 disk.raw
	rm -rf "$dir"
}

# Kernel, initrd, cmdline and the poweroff/panic variants (hard links with
# their own cmdline).
write_kernel_outputs() { # out kernel initrd cmdline
	local out=$1 mode
	cp "$2" "$out/ntpd-kernel"
	cp "$3" "$out/ntpd-initrd.img"
	printf '%s' "$4" >"$out/ntpd-cmdline"
	for mode in poweroff panic; do
		ln "$out/ntpd-kernel" "$out/ntpd-$mode-kernel"
		ln "$out/ntpd-initrd.img" "$out/ntpd-$mode-initrd.img"
		printf '%s lkrun.mode=%s' "$4" "$mode" >"$out/ntpd-$mode-cmdline"
	done
}

build_arch() { # arch dest hash
	local arch=$1 dest=$2 hash=$3 work root stage out kver kdirs cmdline debs grub
	work=$CACHE/work/$arch
	root=$work/root
	stage=$work/iso
	out=$dest.tmp
	rm -rf "$work" "$out"
	mkdir -p "$root" "$stage/boot/grub" "$out"
	download_debs "$arch"
	prune_debs "$arch"
	mapfile -t debs < <(deb_paths "$arch")
	say "$arch: unpacking ${#debs[@]} packages"
	extract_debs "$root" "${debs[@]}"
	kdirs=("$root"/lib/modules/*)
	kver=${kdirs[0]##*/}
	[[ -f $root/boot/vmlinuz-$kver ]] || die "no kernel in the $arch kernel package"
	cmdline=$(<"$RECIPE/cmdline.$arch")

	say "$arch: initramfs (kernel $kver)"
	make_initrd "$root" "$kver" "$work/initrd.img"
	write_kernel_outputs "$out" "$root/boot/vmlinuz-$kver" "$work/initrd.img" "$cmdline"

	cp "$out/ntpd-kernel" "$stage/boot/ntpd-kernel"
	cp "$out/ntpd-initrd.img" "$stage/boot/ntpd-initrd.img"
	grub_cfg "$cmdline" "$stage/boot/grub/grub.cfg"
	grub=$root/usr/lib/grub
	say "$arch: boot media"
	if [[ $arch == x86_64 ]]; then
		make_iso "$grub/i386-pc" "$out/ntpd.iso" "$stage"
		make_iso "$grub/x86_64-efi" "$out/ntpd-efi.iso" "$stage"
		make_efi_disk "$grub/x86_64-efi" BOOTX64.EFI "$stage/boot/grub/grub.cfg" \
			"$out/ntpd-kernel" "$out/ntpd-initrd.img" "$out/ntpd-efi.img"
		qemu-img convert -f raw -O vmdk "$out/ntpd-efi.img" "$out/ntpd-efi.vmdk"
		make_gcp_tar "$out/ntpd-efi.img" "$out/ntpd.img.tar.gz"
		make_bios_disk "$grub/i386-pc" "$stage/boot/grub/grub.cfg" \
			"$out/ntpd-kernel" "$out/ntpd-initrd.img" "$out/ntpd-bios.img"
		qemu-img convert -f raw -O qcow2 "$out/ntpd-bios.img" "$out/ntpd.qcow2"
	else
		make_iso "$grub/arm64-efi" "$out/ntpd-efi.iso" "$stage"
		make_efi_disk "$grub/arm64-efi" BOOTAA64.EFI "$stage/boot/grub/grub.cfg" \
			"$out/ntpd-kernel" "$out/ntpd-initrd.img" "$out/ntpd-efi.img"
	fi
	qemu-img convert -f raw -O qcow2 "$out/ntpd-efi.img" "$out/ntpd-efi.qcow2"
	echo "$hash" >"$out/.hash"
	rm -rf "$dest"
	mv "$out" "$dest"
	rm -rf "$work"
}

# One build at a time per cache (two runs would share cache/work); a run that
# waited finds the other's result up to date.
lock_cache() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
}

build_if_needed() { # arch outdir
	local arch=$1 dest=$2/$1 hash start=$SECONDS
	resolve_packages "$arch"
	hash=$(content_hash "$arch")
	if up_to_date "$arch" "$dest" "$hash"; then
		say "$arch up to date ($hash)"
		return
	fi
	need_tools apt-get dpkg-deb depmod modprobe readelf cpio gzip grub-mkrescue grub-mkstandalone \
		xorriso mformat mmd mcopy sfdisk qemu-img tar flock grub-mkimage dd du
	lock_cache
	if up_to_date "$arch" "$dest" "$hash"; then
		say "$arch up to date ($hash)"
		return
	fi
	build_arch "$arch" "$dest" "$hash"
	say "$arch built in $((SECONDS - start)) s: $dest ($hash)"
}

main() {
	local arches=all outdir=$HERE/out arch
	while (($#)); do
		case $1 in
		--arch | --out)
			(($# >= 2)) || die "$1 needs a value"
			if [[ $1 == --arch ]]; then arches=$2; else outdir=$2; fi
			shift 2
			;;
		--arch=*) arches=${1#*=}; shift ;;
		--out=*) outdir=${1#*=}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument: $1 ($(usage))" ;;
		esac
	done
	case $arches in
	all) arches="x86_64 aarch64" ;;
	x86_64 | aarch64) ;;
	*) die "unknown arch: $arches (x86_64, aarch64 or all)" ;;
	esac
	need_tools apt-cache sha256sum
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd)
	for arch in $arches; do
		build_if_needed "$arch" "$outdir"
	done
}

main "$@"
