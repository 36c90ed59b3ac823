#!/usr/bin/env bash
# Installs the system packages lkrun needs: QEMU and its firmware to boot
# images, and the tools images/build.sh uses. Idempotent: when everything is
# already there it does no apt work at all. Debian 12 / Ubuntu; uses sudo only
# when not root.
set -euo pipefail

PACKAGES=(
	qemu-system-x86  # boot x86_64 images
	qemu-system-arm  # boot aarch64 images
	qemu-utils       # qemu-img: qcow2/vmdk outputs
	ovmf             # x86_64 UEFI firmware
	qemu-efi-aarch64 # aarch64 UEFI firmware (AAVMF)
	grub-common      # grub-mkrescue, grub-mkstandalone
	xorriso          # ISO images (grub-mkrescue)
	mtools           # FAT without mounting (grub-mkrescue, EFI disk)
	fdisk            # sfdisk: GPT of the EFI disk
	cpio             # initramfs
	kmod             # depmod/modprobe on the unpacked kernel
	binutils         # readelf: shared libraries of openntpd
	xz-utils         # compressed kernel modules, if a kernel has them
	zstd
	chromium         # tests render the HTML report headless
	golang-go                        # builds test/vcsim (vCenter simulator for tests)
	golang-github-vmware-govmomi-dev # govmomi source: vcsim and the vim25 schema order
)

die() {
	echo "setup-system: error: $*" >&2
	exit 1
}

SUDO=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || die "not root and no sudo"
	SUDO=(sudo)
fi

# images/build.sh downloads the packages of both image architectures with
# apt-get download, so apt must know the one that is not native. Only Debian's
# mirrors serve every architecture from one place (Ubuntu splits off ports).
foreign_arch() {
	local native
	native=$(dpkg --print-architecture)
	case $native in
	amd64) echo arm64 ;;
	arm64) echo amd64 ;;
	esac
}

is_debian() {
	# shellcheck disable=SC1091
	[[ -r /etc/os-release ]] && (. /etc/os-release && [[ $ID == debian ]])
}

arch_ready() { # configured and with package lists
	dpkg --print-foreign-architectures | grep -qx "$1" &&
		compgen -G "/var/lib/apt/lists/*binary-${1}_Packages*" >/dev/null
}

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

main() {
	local foreign missing need_arch=
	foreign=$(foreign_arch)
	if [[ -n $foreign ]] && is_debian && ! arch_ready "$foreign"; then
		need_arch=$foreign
	fi
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} == 0)) && [[ -z $need_arch ]]; then
		echo "setup-system: all packages present"
		return
	fi
	if [[ -n $need_arch ]]; then
		echo "setup-system: adding dpkg architecture $need_arch"
		"${SUDO[@]}" dpkg --add-architecture "$need_arch"
	fi
	"${SUDO[@]}" apt-get update -q
	if ((${#missing[@]})); then
		echo "setup-system: installing ${missing[*]}"
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	if ! is_debian; then
		echo "setup-system: note: images/build.sh takes its packages from Debian's apt sources" >&2
	fi
}

main "$@"
