# shellcheck shell=bash
# testvm/prepare-lib.sh: what prepare.sh and prepare-systemd.sh share,
# sourced once they defined log and die: a work directory for apt-get
# download, and kernel modules out of a Debian linux-image .deb (it ships
# no modules.dep).

# start_work NAME: a fresh $work (removed on exit) with $dl in it, where
# apt-get download (run as _apt when it can) may write.
start_work() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	dl=$work/dl
	mkdir -p "$dl"
	if id _apt >/dev/null 2>&1; then chmod 711 "$work" && chown _apt "$dl"; fi
	export DEBIAN_FRONTEND=noninteractive
}

apt_updated=0
apt_update() { # once per run
	if [[ $apt_updated == 0 ]]; then
		log "apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		apt_updated=1
	fi
}

modinfo_depends() { # module file -> comma-separated dependencies
	local f=$1
	case $f in
	*.xz) xz -dc "$f" ;;
	*.gz) gzip -dc "$f" ;;
	*.zst) zstd -qdc "$f" ;;
	*) cat "$f" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p'
}

# module_dir ROOT: the lib/modules/VERSION directory of an unpacked .deb.
module_dir() {
	local d
	for d in "$1"/lib/modules/* "$1"/usr/lib/modules/*; do
		if [[ -d $d/kernel ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

# copy_modules MDIR DEST NAME...: the modules NAME..., dependencies first
# (from each module's depends=), decompressed into DEST, with their load
# order in DEST/modules.order; one not found as a module is assumed built
# in. Fails if none was found.
copy_modules() {
	local mdir=$1 dest=$2 m p b
	shift 2
	local -A seen=()
	local -a order=()
	resolve() {
		local name=$1 path deps d
		name=${name//-/_}
		[[ -n ${seen[$name]:-} ]] && return 0
		seen[$name]=1
		path=$(cd "$mdir" && find kernel -name "${name}.ko*" -print -quit)
		if [[ -z $path ]]; then
			log "note: module $name not found (assuming built in)"
			return 0
		fi
		deps=$(modinfo_depends "$mdir/$path")
		local -a darr=()
		IFS=, read -r -a darr <<<"$deps"
		for d in "${darr[@]}"; do
			[[ -n $d ]] && resolve "$d"
		done
		order+=("$path")
	}
	for m in "$@"; do
		resolve "$m"
	done
	[[ ${#order[@]} -gt 0 ]] || die "none of the modules $* found"
	mkdir -p "$dest"
	: >"$dest/modules.order"
	for p in "${order[@]}"; do
		b=$(basename "$p")
		case $b in
		*.ko) cp "$mdir/$p" "$dest/$b" ;;
		*.ko.xz) xz -dc "$mdir/$p" >"$dest/${b%.xz}" ;;
		*.ko.gz) gzip -dc "$mdir/$p" >"$dest/${b%.gz}" ;;
		*.ko.zst) zstd -qdc "$mdir/$p" >"$dest/${b%.zst}" || die "cannot decompress $b (zstd)" ;;
		*) die "unexpected module file $b" ;;
		esac
		echo "${b%%.ko*}.ko" >>"$dest/modules.order"
	done
	log "modules: $(tr '\n' ' ' <"$dest/modules.order")"
}
