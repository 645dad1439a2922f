#!/bin/sh
set -e
mkdir -p links/target-dir
echo t > links/target
echo in > links/target-dir/inner
ln -sfn target links/rel
ln -sfn /etc/hostname links/abs
ln -sfn nowhere links/broken
ln -sfn target-dir links/dirlink
