# mypy: ignore-errors
# ruff: noqa: UP031, SIM105  (runs on the host's python3, which may be old: plain idioms)
"""The helper the ssh provider runs on a host with the host's ``python3``.

Standard library only, and never imported by driftless itself: its text is
sent as ``python3 -c`` over one SSH channel per connection, which then
answers JSON lines ``{"id", "op", "args"}`` with ``{"id", "ok"}`` or
``{"id", "err": [errno, strerror]}``. One request can stat many paths
(``lstat_many``), so a plan of a host's files costs one round trip, not one
per file. Requests run in threads, so a long command does not hold up stats.
Modules driftless sends (``mod_load``: the service supervisor's host side)
are called by name (``mod_call``). Command environments travel here, on the
channel, never in an argv that ``ps`` on the host would show.
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

_out = threading.Lock()


def _stat(path):
    st = os.lstat(path)
    return [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
            st.st_uid, st.st_gid]


def op_lstat(path):
    return _stat(path)


def op_lstat_many(paths):
    out = []
    for p in paths:
        try:
            out.append(_stat(p))
        except (FileNotFoundError, NotADirectoryError):
            out.append(None)
        except OSError as exc:
            out.append([exc.errno, exc.strerror])
    return out


def op_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def op_read(path, limit=None):
    with open(path, "rb") as fh:
        return base64.b64encode(fh.read(-1 if limit is None else limit)).decode()


def _backdate(fd):
    now = time.time_ns()
    os.utime(fd, ns=(now, now - 40_000_000))  # see driftless's model.helper.write_file


def op_commit(tmp, path, mode, owner):
    """Finish a file uploaded to ``tmp``: mode, owner, backdated mtime, rename."""
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            _backdate(fd)
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, owner[0], owner[1])
            os.replace(tmp, path)
        finally:
            os.close(fd)
    except BaseException:
        op_unlink(tmp)
        raise
    return _stat(path)


def op_write(path, data, mode, owner):
    """Write base64 ``data`` to a temp file beside ``path`` and rename it over."""
    head, tail = os.path.split(path)
    tmp = "%s/.%s.%d.%d.tmp" % (head, tail, os.getpid(), threading.get_ident())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, base64.b64decode(data))
    finally:
        os.close(fd)
    return op_commit(tmp, path, mode, owner)


def op_unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def op_symlink_swap(target, path):
    head, tail = os.path.split(path)
    tmp = "%s/.%s.%d.lnk" % (head, tail, os.getpid())
    op_unlink(tmp)
    try:
        os.symlink(target, tmp)
        os.replace(tmp, path)
    except OSError:
        op_unlink(tmp)
        raise


def op_stray_temps(path):
    head, tail = os.path.split(path)
    removed = []
    for name in os.listdir(head):
        rest = name[len(tail) + 2:].split(".") if name.startswith("." + tail + ".") else []
        pid = rest[0] if rest and rest[0].isdigit() and rest[-1] in ("tmp", "lnk") else None
        if pid is not None and not os.path.exists("/proc/%s" % pid):
            op_unlink(os.path.join(head, name))
            removed.append(os.path.join(head, name))
    return removed


def op_ids(owner, group):
    import grp
    import pwd
    try:
        uid = -1 if owner is None else owner if isinstance(owner, int) else \
            pwd.getpwnam(owner).pw_uid
        gid = -1 if group is None else group if isinstance(group, int) else \
            grp.getgrnam(group).gr_gid
    except KeyError as exc:
        return {"unknown": str(exc)}
    return [uid, gid]


def op_names(uid, gid):
    import grp
    import pwd
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = uid
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = gid
    return [user, group]


def op_run(argv, cwd, env, timeout):
    full = dict(os.environ)
    full.update(env)
    proc = subprocess.Popen(argv, cwd=cwd, env=full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    return [proc.returncode if not timed_out else -9, base64.b64encode(out).decode(),
            base64.b64encode(err).decode(), timed_out]


_MODS = {}


def op_mod_load(name, source):
    """Load a module sent by driftless (stdlib only) under ``name``, for ``mod_call``."""
    import types
    mod = types.ModuleType(name)
    mod.__file__ = "<driftless %s>" % name
    sys.modules[name] = mod
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)
    _MODS[name] = mod
    return True


def op_mod_call(name, func, args):
    """Call ``func`` of a module loaded with ``mod_load``."""
    mod = _MODS.get(name)
    if mod is None:
        raise LookupError("module %s not loaded" % name)
    return getattr(mod, func)(*args)


OPS = {
    "lstat": op_lstat, "lstat_many": op_lstat_many, "sha256": op_sha256, "read": op_read,
    "commit": op_commit, "write": op_write, "unlink": op_unlink,
    "symlink_swap": op_symlink_swap, "stray_temps": op_stray_temps, "ids": op_ids,
    "names": op_names, "run": op_run, "mod_load": op_mod_load, "mod_call": op_mod_call,
    "mod_read": op_mod_call,
    "chmod": os.chmod, "chown": os.chown, "mkdir": os.mkdir, "rmdir": os.rmdir,
    "rmtree": shutil.rmtree, "readlink": os.readlink,
    "listdir": os.listdir, "rename": os.rename,
    "mkdtemp": lambda prefix, dir: tempfile.mkdtemp(prefix=prefix, dir=dir),
    "isdir": os.path.isdir, "islink": os.path.islink, "lexists": os.path.lexists,
    "makedirs": lambda path: os.makedirs(path, exist_ok=True),
}


def _answer(req):
    try:
        reply = {"id": req["id"], "ok": OPS[req["op"]](*req["args"])}
    except OSError as exc:
        reply = {"id": req["id"], "err": [exc.errno or 0, exc.strerror or str(exc)]}
    except Exception as exc:  # a bug here must not kill the other requests
        reply = {"id": req["id"], "err": [0, "%s: %s" % (type(exc).__name__, exc)]}
    line = json.dumps(reply) + "\n"
    with _out:
        sys.stdout.write(line)
        sys.stdout.flush()


def main():
    sys.stdout.write('{"ready": 1, "pid": %d}\n' % os.getpid())
    sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] in ("run", "mod_call", "mod_read"):
            threading.Thread(target=_answer, args=(req,), daemon=True).start()
        else:
            _answer(req)


if __name__ == "__main__":
    main()
