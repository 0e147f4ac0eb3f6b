#!/usr/bin/env bash
# Builds ltxbus's private SQLite amalgamation (>= 3.47.0, which can grow and
# truncate through sqlite_dbpage) from Debian's forky/sid `sqlite3` source
# package, without touching the system's apt configuration. The result is cached
# in $(ltxbus_tools_dir)/sqlite/<version>/ and linked to .../sqlite/current.
# No SQLite source ever enters the repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

min_version=3047000
cache="$(ltxbus_tools_dir)/sqlite"
if [[ -f "$cache/current/sqlite3.c" && -f "$cache/current/sqlite3.h" ]]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
archive="$(debian_archive_uri)"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
cat >"$work/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive sid main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive forky main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1")
log "fetching the sqlite3 source package index (sid, forky)"
apt-get "${apt_opts[@]}" -qq update
version="$(apt-cache "${apt_opts[@]}" showsrc sqlite3 | awk '/^Version:/ {print $2}' | sort -V | tail -1)"
[[ -n "$version" ]] || die "no sqlite3 source package found in sid/forky"
log "building private SQLite from Debian source sqlite3 $version"
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq --download-only source "sqlite3=$version" &&
  dpkg-source -q --no-check -x ./*.dsc tree >/dev/null)
cd "$work/src/tree"
./configure --disable-tcl >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; die "configure failed"; }
make -j"$(nproc)" sqlite3.c >"$work/make.log" 2>&1 || { tail -50 "$work/make.log"; die "make sqlite3.c failed"; }

number="$(awk '/^#define SQLITE_VERSION_NUMBER/ {print $3}' sqlite3.h)"
text="$(awk -F'"' '/^#define SQLITE_VERSION / {print $2}' sqlite3.h)"
((number >= min_version)) || die "Debian's sqlite3 is $text; ltxbus needs >= 3.47.0"
dest="$cache/$text"
mkdir -p "$dest"
cp sqlite3.c sqlite3.h "$dest/"
echo "$version" >"$dest/debian-version"
ln -sfn "$text" "$cache/current"
log "private SQLite $text ready in $dest"
