#!/bin/sh
# Hardlinks cannot live in git; make them here.
set -e
mkdir -p links
echo shared > links/a
ln -f links/a links/b
echo single > links/c
