"""The ustar header blocks Python's tarfile writes (USTAR_FORMAT) for the headers in a JSON file:
one per line, hex. An independent encoder to hold kiln's header bytes against."""
import json
import sys
import tarfile

TYPES = {
    'file': tarfile.REGTYPE,
    'hardlink': tarfile.LNKTYPE,
    'symlink': tarfile.SYMTYPE,
    'char': tarfile.CHRTYPE,
    'block': tarfile.BLKTYPE,
    'directory': tarfile.DIRTYPE,
    'fifo': tarfile.FIFOTYPE,
}

for h in json.load(open(sys.argv[1])):
    info = tarfile.TarInfo(h['path'])
    info.type = TYPES[h['type']]
    info.mode = h['mode']
    info.uid = h['uid']
    info.gid = h['gid']
    info.size = h['size']
    info.mtime = h['mtime']
    info.linkname = h['linkname']
    info.uname = h['uname']
    info.gname = h['gname']
    info.devmajor = h['devmajor']
    info.devminor = h['devminor']
    print(info.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape').hex())
