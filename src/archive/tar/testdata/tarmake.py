#!/usr/bin/env python3
"""Write a tar archive with Python's tarfile: argv[1] = output, argv[2] = format (pax|gnu)."""
import io
import sys
import tarfile

fmt = tarfile.PAX_FORMAT if sys.argv[2] == "pax" else tarfile.GNU_FORMAT
cap = bytes([1, 0, 0, 2, 0, 4, 0, 0, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def add(tf, name, type_, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)


with tarfile.open(sys.argv[1], "w", format=fmt) as tf:
    long_dir = "d" * 90 + "/" + "e" * 90 + "/" + "f" * 90
    add(tf, "top", tarfile.DIRTYPE, mode=0o755, mtime=1700000000)
    add(tf, "top/hello.txt", tarfile.REGTYPE, b"hello world\n", mode=0o640, uid=1000, gid=1001,
        uname="alice", gname="staff", mtime=1700000001)
    add(tf, long_dir + "/long-name-file", tarfile.REGTYPE, b"x" * 700, mode=0o600, mtime=1700000002)
    add(tf, "top/link", tarfile.SYMTYPE, linkname="../" + "t" * 150, mode=0o777, mtime=1700000003)
    add(tf, "top/hard", tarfile.LNKTYPE, linkname="top/hello.txt", mode=0o640, mtime=1700000001)
    add(tf, "top/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666, mtime=1700000004)
    add(tf, "top/loop", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, mtime=1700000004)
    add(tf, "top/fifo", tarfile.FIFOTYPE, mode=0o644, mtime=1700000004)
    add(tf, "top/setuid", tarfile.REGTYPE, b"#!/bin/sh\n", mode=0o4755, mtime=1700000005)
    if fmt == tarfile.PAX_FORMAT:
        add(tf, "top/big-ids", tarfile.REGTYPE, b"ids", uid=3000000, gid=4000000, mtime=1700000006)
        add(tf, "top/caps", tarfile.REGTYPE, b"bin", mtime=1700000007, pax_headers={
            "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
            "SCHILY.xattr.user.comment": "hi there",
        })
        add(tf, "top/ünïcode-名前", tarfile.REGTYPE, b"u", mtime=1700000008)
