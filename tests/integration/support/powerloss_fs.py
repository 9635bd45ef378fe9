"""A FUSE file system that forgets, at a power cut, whatever was not made
durable: the power-loss rig of the durability tests.

    powerloss_fs.py MOUNTPOINT DISK

serves a tree held in memory, starting from the image in DISK (empty if
DISK does not exist). Every unmount is a power cut: the daemon writes to
DISK only what a strict POSIX file system must have kept, and exits; the
next daemon on the same DISK mounts what survived. `kill -9` alone cannot
show what this shows: the page cache survives a killed process.

What survives a cut (what POSIX promises, nothing a given file system adds):
* a file's data and attributes as of its last fsync/fdatasync (a file
  never synced comes back empty, if its name survives);
* a directory's entries as of its last fsync (create, rename, unlink,
  link, mkdir, rmdir included); a name that no durable directory entry
  leads to is gone;
* nothing else. syncfs(2) and sync(2) flush nothing here, as on any FUSE
  file system: the kernel has no syncfs request for FUSE daemons.

Controls, written to MOUNTPOINT/.powerloss (hidden from listings):
* `hold NAME`: from now on, an fsync of a file whose name contains NAME
  blocks (logged `held fsync PATH`), until
* `drop-held`: the held fsyncs fail with EIO and made nothing durable: the
  power went out during them. Kill the process first, or it sees the EIO.

Log lines on stdout: `mounted`, `held fsync PATH`, `power cut: ...`.
"""
import errno
import os
import pickle
import stat
import subprocess
import sys
import threading
import time

import fusepy

CONTROL = "/.powerloss"


class Node:
    def __init__(self, mode, uid=0, gid=0):
        now = time.time_ns()
        self.meta = {"mode": mode, "uid": uid, "gid": gid, "atime": now, "mtime": now, "ctime": now}
        self.synced_meta = dict(self.meta)
        self.links = 0

    def touch(self):
        self.meta["mtime"] = self.meta["ctime"] = time.time_ns()


class File(Node):
    def __init__(self, mode, uid=0, gid=0, data=b""):
        super().__init__(stat.S_IFREG | stat.S_IMODE(mode), uid, gid)
        self.data = bytearray(data)
        self.synced = bytes(data)

    def sync(self):
        self.synced = bytes(self.data)
        self.synced_meta = dict(self.meta)


class Dir(Node):
    def __init__(self, mode, uid=0, gid=0):
        super().__init__(stat.S_IFDIR | stat.S_IMODE(mode), uid, gid)
        self.entries = {}
        self.synced_entries = {}

    def sync(self):
        self.synced_entries = dict(self.entries)
        self.synced_meta = dict(self.meta)


class Symlink(Node):
    def __init__(self, target, uid=0, gid=0):
        super().__init__(stat.S_IFLNK | 0o777, uid, gid)
        self.target = target

    def sync(self):
        pass


# The durable image: a list of (kind, meta, payload), the root first; a
# directory's payload maps names to indexes (hard links share one index).

def durable_image(root):
    index, image = {}, []

    def visit(node):
        if id(node) in index:
            return index[id(node)]
        i = index[id(node)] = len(image)
        image.append(None)
        if isinstance(node, Dir):
            entries = {name: visit(child) for name, child in sorted(node.synced_entries.items())}
            image[i] = ("dir", node.synced_meta, entries)
        elif isinstance(node, File):
            image[i] = ("file", node.synced_meta, node.synced)
        else:
            image[i] = ("symlink", node.synced_meta, node.target)
        return i

    visit(root)
    return image


def tree_from_image(image):
    nodes = []
    for kind, meta, payload in image:
        if kind == "dir":
            node = Dir(0)
        elif kind == "file":
            node = File(0, data=payload)
        else:
            node = Symlink(payload)
        node.meta, node.synced_meta = dict(meta), dict(meta)
        nodes.append(node)
    for node, (kind, _, payload) in zip(nodes, image):
        if kind == "dir":
            for name, i in payload.items():
                node.entries[name] = nodes[i]
                nodes[i].links += 1
            node.synced_entries = dict(node.entries)
    return nodes[0]


TRACE = os.environ.get("POWERLOSS_TRACE") == "1"


def trace(*words):
    if TRACE:
        print(*words, flush=True)


def fail(code):
    raise fusepy.FuseOSError(code)


class PowerLossFS(fusepy.Operations):
    use_ns = True

    def __init__(self, root):
        self.root = root
        self.mutex = threading.RLock()
        self.handles = {}  # fuse_file_info.fh -> (node, name, open flags)
        self.next_fh = 1
        self.hold = None
        self.release_held = threading.Event()
        self.counts = {"fsync": 0, "fsyncdir": 0, "held": 0}

    # Paths and handles.

    def lookup(self, path):
        node = self.root
        for part in path.strip("/").split("/"):
            if not part:
                continue
            if not isinstance(node, Dir):
                fail(errno.ENOTDIR)
            node = node.entries.get(part)
            if node is None:
                fail(errno.ENOENT)
        return node

    def parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        d = self.lookup(head)
        if not isinstance(d, Dir):
            fail(errno.ENOTDIR)
        return d, name

    def node_of(self, path, fi):
        """The node an open file (fuse_file_info) or a path names."""
        if fi and fi.fh in self.handles:
            return self.handles[fi.fh][0]
        return self.lookup(path)

    def new_handle(self, fi, node, name):
        fi.fh = self.next_fh
        self.next_fh += 1
        self.handles[fi.fh] = (node, name, fi.flags)

    @staticmethod
    def attach(d, name, node):
        d.entries[name] = node
        node.links += 1
        d.touch()

    @staticmethod
    def detach(d, name):
        d.entries.pop(name).links -= 1
        d.touch()

    def owner(self):
        uid, gid, _ = fusepy.fuse_get_context()
        return uid, gid

    # Attributes.

    def getattr(self, path, fi=None):
        with self.mutex:
            if path == CONTROL:
                return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": 0}
            node = self.node_of(path, fi)
            m = node.meta
            if isinstance(node, File):
                size = len(node.data)
            elif isinstance(node, Symlink):
                size = len(node.target)
            else:
                size = 4096
            nlink = 2 + sum(isinstance(c, Dir) for c in node.entries.values()) if isinstance(node, Dir) else node.links
            return {"st_mode": m["mode"], "st_nlink": nlink, "st_uid": m["uid"], "st_gid": m["gid"],
                    "st_size": size, "st_blocks": (size + 511) // 512, "st_atime": m["atime"],
                    "st_mtime": m["mtime"], "st_ctime": m["ctime"]}

    def chmod(self, path, mode):
        with self.mutex:
            node = self.lookup(path)
            node.meta["mode"] = stat.S_IFMT(node.meta["mode"]) | stat.S_IMODE(mode)
            node.meta["ctime"] = time.time_ns()

    def chown(self, path, uid, gid):
        with self.mutex:
            node = self.lookup(path)
            if uid != -1:
                node.meta["uid"] = uid
            if gid != -1:
                node.meta["gid"] = gid
            node.meta["ctime"] = time.time_ns()

    def utimens(self, path, times=None):
        with self.mutex:
            node = self.lookup(path)
            now = time.time_ns()
            node.meta["atime"], node.meta["mtime"] = times or (now, now)

    def statfs(self, path):
        blocks = 1 << 22  # 16 GiB of 4 KiB blocks, all free
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": blocks, "f_bfree": blocks, "f_bavail": blocks,
                "f_files": 1 << 20, "f_ffree": 1 << 20, "f_favail": 1 << 20, "f_namemax": 255}

    # Names.

    def readdir(self, path, fh):
        with self.mutex:
            d = self.lookup(path)
            if not isinstance(d, Dir):
                fail(errno.ENOTDIR)
            return [".", ".."] + list(d.entries)

    def mkdir(self, path, mode):
        with self.mutex:
            d, name = self.parent(path)
            if name in d.entries:
                fail(errno.EEXIST)
            self.attach(d, name, Dir(mode, *self.owner()))
        trace("mkdir", path)

    def rmdir(self, path):
        with self.mutex:
            d, name = self.parent(path)
            node = d.entries.get(name)
            if node is None:
                fail(errno.ENOENT)
            if not isinstance(node, Dir):
                fail(errno.ENOTDIR)
            if node.entries:
                fail(errno.ENOTEMPTY)
            self.detach(d, name)
        trace("rmdir", path)

    def unlink(self, path):
        with self.mutex:
            d, name = self.parent(path)
            node = d.entries.get(name)
            if node is None:
                fail(errno.ENOENT)
            if isinstance(node, Dir):
                fail(errno.EISDIR)
            self.detach(d, name)
        trace("unlink", path)

    def rename(self, old, new):
        with self.mutex:
            src, src_name = self.parent(old)
            node = src.entries.get(src_name)
            if node is None:
                fail(errno.ENOENT)
            dst, dst_name = self.parent(new)
            if (new.rstrip("/") + "/").startswith(old.rstrip("/") + "/") and isinstance(node, Dir):
                fail(errno.EINVAL)
            there = dst.entries.get(dst_name)
            if there is node:
                return
            if there is not None:
                if isinstance(there, Dir) != isinstance(node, Dir):
                    fail(errno.EISDIR if isinstance(there, Dir) else errno.ENOTDIR)
                if isinstance(there, Dir) and there.entries:
                    fail(errno.ENOTEMPTY)
                self.detach(dst, dst_name)
            self.detach(src, src_name)
            self.attach(dst, dst_name, node)
        trace("rename", old, new)

    def link(self, target, source):
        with self.mutex:
            node = self.lookup(source)
            if isinstance(node, Dir):
                fail(errno.EPERM)
            d, name = self.parent(target)
            if name in d.entries:
                fail(errno.EEXIST)
            self.attach(d, name, node)
        trace("link", source, target)

    def symlink(self, target, source):
        with self.mutex:
            d, name = self.parent(target)
            if name in d.entries:
                fail(errno.EEXIST)
            self.attach(d, name, Symlink(source, *self.owner()))

    def readlink(self, path):
        with self.mutex:
            node = self.lookup(path)
            if not isinstance(node, Symlink):
                fail(errno.EINVAL)
            return node.target

    # Contents.

    def create(self, path, mode, fi):
        with self.mutex:
            d, name = self.parent(path)
            if name in d.entries:
                fail(errno.EEXIST)
            node = File(mode, *self.owner())
            self.attach(d, name, node)
            self.new_handle(fi, node, name)
        trace("create", path)

    def open(self, path, fi):
        with self.mutex:
            if path == CONTROL:
                return self.new_handle(fi, None, CONTROL)
            self.new_handle(fi, self.lookup(path), os.path.basename(path))

    def release(self, path, fi):
        with self.mutex:
            self.handles.pop(fi.fh, None)

    def read(self, path, size, offset, fi):
        with self.mutex:
            node = self.node_of(path, fi)
            return bytes(node.data[offset:offset + size])

    def write(self, path, data, offset, fi):
        with self.mutex:
            node, _, flags = self.handles[fi.fh]
            if node is None:
                return self.control(data)
            if offset > len(node.data):
                node.data.extend(bytes(offset - len(node.data)))
            node.data[offset:offset + len(data)] = data
            node.touch()
            if flags & (os.O_SYNC | os.O_DSYNC):
                node.sync()
            return len(data)

    def truncate(self, path, length, fi=None):
        with self.mutex:
            if path == CONTROL:
                return
            node = self.node_of(path, fi)
            del node.data[length:]
            node.data.extend(bytes(length - len(node.data)))
            node.touch()

    # Durability.

    def fsync(self, path, datasync, fi):
        with self.mutex:
            node, name, _ = self.handles.get(fi.fh) or (self.lookup(path), os.path.basename(path), 0)
            held = self.hold is not None and self.hold in name
            if held:
                self.counts["held"] += 1
        if held:
            print(f"held fsync {path or name}", flush=True)
            self.release_held.wait(timeout=300)
            fail(errno.EIO)
        with self.mutex:
            node.sync()
            self.counts["fsync"] += 1
        trace("fsync", path or name)

    def fsyncdir(self, path, datasync, fh):
        with self.mutex:
            d = self.lookup(path)
            d.sync()
            self.counts["fsyncdir"] += 1
        trace("fsyncdir", path)

    def control(self, data):
        words = data.decode().split()
        if words[:1] == ["hold"] and len(words) == 2:
            self.hold = words[1]
            self.release_held.clear()
        elif words == ["drop-held"]:
            self.hold = None
            self.release_held.set()
        else:
            fail(errno.EINVAL)
        return len(data)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: powerloss_fs.py MOUNTPOINT DISK")
    mountpoint, disk = sys.argv[1:]
    if os.path.exists(disk):
        with open(disk, "rb") as f:
            root = tree_from_image(pickle.load(f))
    else:
        root = Dir(0o755)
        root.links = 1
    fs = PowerLossFS(root)
    threading.Thread(target=announce_mount, args=(mountpoint,), daemon=True).start()
    fusepy.FUSE(fs, mountpoint, raw_fi=True, foreground=True, fsname="powerloss", subtype="powerloss",
                hard_remove=True, big_writes=True, max_write=131072)
    # Unmounted: the power is cut. Only the durable image goes to disk.
    image = durable_image(fs.root)
    with open(disk + ".tmp", "wb") as f:
        pickle.dump(image, f)
    os.replace(disk + ".tmp", disk)
    kept = sum(len(p) for kind, _, p in image if kind == "file")
    print(f"power cut: {len(image)} files and directories kept, {kept} octets of file data; "
          f"fsync {fs.counts['fsync']}, fsyncdir {fs.counts['fsyncdir']}, held {fs.counts['held']}", flush=True)


def announce_mount(mountpoint):
    """Says "mounted" once the kernel serves the mount point; then, if the
    test that started us dies without unmounting, unmounts (lazily)."""
    parent = os.getppid()
    deadline = time.monotonic() + 30
    while not os.path.ismount(mountpoint):
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)
    print("mounted", flush=True)
    while os.getppid() == parent:
        time.sleep(0.5)
    subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True)


if __name__ == "__main__":
    main()
