#!/usr/bin/env python3
"""List a tar archive as JSON using Python's tarfile (an independent judge of kiln's codec)."""
import json
import sys
import tarfile

TYPES = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "directory",
    tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file",
}

out = []
with tarfile.open(sys.argv[1], "r:*") as tf:
    for m in tf:
        xattrs = {}
        for k, v in m.pax_headers.items():
            if k.startswith("SCHILY.xattr."):
                xattrs[k[len("SCHILY.xattr."):]] = v.encode("utf-8", "surrogateescape").hex()
        data = ""
        if m.isreg() and m.size < (1 << 20):
            data = tf.extractfile(m).read().hex()
        out.append({
            "path": m.name, "type": TYPES.get(m.type, "other"), "mode": m.mode, "uid": m.uid,
            "gid": m.gid, "size": m.size, "mtime": m.mtime, "linkname": m.linkname,
            "uname": m.uname, "gname": m.gname, "devmajor": m.devmajor, "devminor": m.devminor,
            "xattrs": xattrs, "data": data,
        })
json.dump(out, sys.stdout)
