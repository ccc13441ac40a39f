#!/bin/sh
# Installs the build into a scratch DESTDIR and compiles examples/ against
# it with nothing but "pkg-config --cflags --libs quotachk", as a user of
# the installed library would; then runs the result.
set -eu
top_build=${abs_top_builddir:?}
top_src=${abs_top_srcdir:?}
dest=$(mktemp -d /tmp/qc-example.XXXXXX)
trap 'rm -rf "$dest"' EXIT
${MAKE:-make} -C "$top_build" install DESTDIR="$dest" >/dev/null
pcdir=$(find "$dest" -name quotachk.pc -printf '%h\n' | head -n1)
[ -n "$pcdir" ] || { echo "FAIL - quotachk.pc not installed"; exit 1; }
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$pcdir"
flags=$(pkg-config --cflags --libs quotachk)
${CC:-cc} -Wall -Wextra -Werror -o "$dest/quota-check" \
	"$top_src/examples/quota-check.c" $flags
${CC:-cc} -Wall -Wextra -Werror -o "$dest/engine-threads" \
	"$top_src/examples/engine-threads.c" $flags -lpthread
# With a sysroot set, pkg-config already prefixes libdir with it.
libdir=$(pkg-config --variable=libdir quotachk)
out=$(LD_LIBRARY_PATH="$libdir" "$dest/quota-check")
case $out in
"libquotachk "*) echo "ok - example built with pkg-config and ran: $(echo "$out" | head -n1)" ;;
*) echo "FAIL - example printed: $out"; exit 1 ;;
esac
# The program must have used the installed library, not the build tree.
LD_LIBRARY_PATH="$libdir" ldd "$dest/quota-check" | grep -q "$libdir/libquotachk.so" ||
	{ echo "FAIL - example not linked to the installed library"; exit 1; }
for f in include/quotachk.h bin/quotachk; do
	find "$dest" -path "*/$f" | grep -q . || { echo "FAIL - $f not installed"; exit 1; }
done
echo "ok - header, library, quotachk.pc and tools installed"
