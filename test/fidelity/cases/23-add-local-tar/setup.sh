#!/bin/sh
# Tarballs with odd entries (modes, owners, symlink, hardlink, empty dir) made reproducibly.
set -e
mkdir -p t/d/empty
echo content > t/d/file
chmod 640 t/d/file
ln -sf file t/d/link
ln -f t/d/file t/d/hard
printf 'not a tar\n' > notatar.tar.txt
tar --sort=name --mtime=@0 --owner=123 --group=456 --numeric-owner -C t -cf plain.tar d
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C t -cf - d | gzip -n > archive.tar.gz
rm -rf t
