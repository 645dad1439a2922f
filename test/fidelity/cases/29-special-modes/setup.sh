#!/bin/sh
# git keeps only 644/755; set the interesting modes here.
set -e
mkdir -p modes/private modes/sticky
echo a > modes/exec && chmod 0755 modes/exec
echo b > modes/secret && chmod 0600 modes/secret
echo c > modes/suid && chmod 4755 modes/suid
echo d > modes/groupw && chmod 0664 modes/groupw
chmod 0700 modes/private
chmod 1777 modes/sticky
