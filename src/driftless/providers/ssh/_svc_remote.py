# mypy: ignore-errors
# ruff: noqa: UP031, UP041, SIM105  (runs on the host's python3, which may be old: plain idioms)
"""The host side of ``ssh:service``, loaded into the host helper (``_remote.py``).

Standard library only, never imported by driftless itself: the ssh provider
sends the text of ``providers/local/supervise.py`` (as module
``_dl_supervise``) and then this file to the helper, once per connection,
and calls the functions below by name. Everything about a running service is
judged on the host: whether the supervisor and its child are alive (pid plus
start time, from ``/proc``), its status and config files, the health probes
(HTTP, TCP and commands are run *on the host*, so ``127.0.0.1`` in a check is
the host's loopback, and the port-owner check reads the host's socket table)
and the graceful stop.
"""

import base64
import http.client
import json
import os
import shlex
import socket
import subprocess
import time
from urllib.parse import urlsplit

import _dl_supervise as supervise

_EXCERPT = 120


def default_state_dir():
    if os.geteuid() == 0:
        return "/var/lib/driftless/services"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "driftless", "services")


def _load(path):
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def snapshot(status_path, config_path):
    """The status and config files, whether supervisor and child live, and the time here."""
    status = supervise.load_status(status_path)
    alive = child = False
    if status:
        alive = supervise.is_alive(status.get("supervisor_pid"),
                                   status.get("supervisor_create_time"))
        child = supervise.is_alive(status.get("child_pid"), status.get("child_create_time"))
    return {"status": status, "alive": alive, "child_alive": child,
            "config": _load(config_path), "now": time.time()}


def launch(script, config_path, env, cwd):
    """Start a detached supervisor (``script`` is supervise.py shipped beside the config)."""
    full = dict(os.environ)
    full.update(env)
    supervise.launch(config_path, env=full, cwd=cwd, script=script)
    return True


def stop(status_path, config_path):
    """Stop the supervisor and its child gracefully; the status file goes."""
    status = supervise.load_status(status_path)
    if status is None:
        return False
    config = _load(config_path) or {}
    try:
        timeout = float(config.get("stop_timeout", 10.0))
    except (TypeError, ValueError):
        timeout = 10.0
    supervise.stop(status, stop_timeout=timeout)
    try:
        os.unlink(status_path)
    except FileNotFoundError:
        pass
    return True


def tail(path, nbytes):
    """The last ``nbytes`` of a file, base64 ('' when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - nbytes))
            return base64.b64encode(fh.read()).decode()
    except OSError:
        return ""


# -- health probes, on the host --------------------------------------------------


def probe(config_path, status_path, timeout):
    """Every configured probe in order, the first failure wins: [ok, message]."""
    config = _load(config_path) or {}
    h = (config.get("spec") or {}).get("__health") or {}
    done = []
    checks = []
    if h.get("http"):
        checks.append(lambda: _http(h["http"], timeout))
    if h.get("tcp"):
        checks.append(lambda: _tcp(h["tcp"].get("host", "127.0.0.1"), h["tcp"]["port"], timeout))
    if h.get("port_owner", True):
        for port in _owned_ports(h):
            checks.append(lambda port=port: _owner(port, status_path))
    if h.get("command"):
        cmd = h["command"]
        argv = shlex.split(cmd) if isinstance(cmd, str) else cmd
        checks.append(lambda: _command(argv, config.get("cwd"), timeout))
    for check in checks:
        ok, message = check()
        if not ok:
            return [False, message]
        done.append(message)
    return [True, "; ".join(done)]


def _excerpt(text):
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "\u2026"


def _http(spec, timeout):
    url = spec["url"]
    what = "GET %s" % url
    parts = urlsplit(url)
    try:
        cls = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        try:
            path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            conn.request("GET", path)
            resp = conn.getresponse()
            code, body = resp.status, resp.read(1 << 20)
        finally:
            conn.close()
    except socket.timeout:
        return [False, "%s: timed out" % what]
    except (ConnectionError, socket.gaierror):
        return [False, "%s: connection refused or host unreachable" % what]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return [False, "%s: %s: %s" % (what, type(exc).__name__, _excerpt(str(exc)))]
    want = spec.get("status")
    if not (code == want if want is not None else 200 <= code < 400):
        return [False, "%s: status %d, expected %s" % (what, code,
                                                        want if want is not None else "2xx/3xx")]
    contains = spec.get("contains")
    if contains is not None and contains not in body.decode("utf-8", "replace"):
        return [False, "%s: status %d but the body does not contain %r"
                % (what, code, _excerpt(contains))]
    return [True, "%s: status %d" % (what, code)]


def _tcp(host, port, timeout):
    what = "tcp %s:%s" % (host, port)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except socket.timeout:
        return [False, "%s: timed out" % what]
    except OSError as exc:
        return [False, "%s: %s" % (what, exc.strerror or exc)]
    return [True, "%s: connected" % what]


def _command(argv, cwd, timeout):
    what = "command %s" % (argv[0] if argv else "(empty)")
    try:
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return [False, "%s: timed out after %gs" % (what, timeout)]
    except OSError as exc:
        return [False, "%s: cannot run: %s" % (what, exc.strerror or exc)]
    if done.returncode == 0:
        return [True, "%s: exit 0" % what]
    lines = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
    tail_ = " (%s)" % _excerpt(lines[-1]) if lines else ""
    return [False, "%s: exit %d%s" % (what, done.returncode, tail_)]


_LOOPBACK = ("localhost",)


def _local_port(host, port):
    """``port`` when ``host`` is the loopback (of the host this runs on)."""
    if port is None or host is None:
        return None
    name = host.strip("[]").lower()
    if name in _LOOPBACK or name == "::1" or name.startswith("127."):
        return port
    return None


def _owned_ports(h):
    found = set()
    if h.get("http"):
        parts = urlsplit(h["http"]["url"])
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            port = None
        p = _local_port(parts.hostname, port)
        if p:
            found.add(p)
    if h.get("tcp"):
        p = _local_port(h["tcp"].get("host", "127.0.0.1"), h["tcp"].get("port"))
        if p:
            found.add(p)
    return sorted(found)


def _reaches_loopback(hexaddr):
    """A /proc/net/tcp{,6} local address (hex) that a connect to loopback can reach."""
    a = hexaddr.upper()
    if len(a) == 8:  # IPv4, little-endian: the first octet is the last byte
        return a == "00000000" or a.endswith("7F")
    zero = "0" * 32
    if a in (zero, "00000000000000000000000001000000"):  # :: and ::1
        return True
    if a.startswith("0000000000000000FFFF0000"):  # v4-mapped
        return a[24:] == "00000000" or a.endswith("7F")
    return False


def _listening_inodes(port):
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != "0A":
                continue
            addr, hexport = f[1].rsplit(":", 1)
            if int(hexport, 16) == port and _reaches_loopback(addr):
                inodes.add("socket:[%s]" % f[9])
    return inodes


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _holds(pid, inodes):
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                return True
        except OSError:
            continue
    return False


def _family(pid):
    if not pid:
        return set()
    parents = {}
    for p in _pids():
        try:
            with open("/proc/%d/stat" % p) as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(p)
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(parents.get(p, []))
    return out if os.path.isdir("/proc/%d" % pid) else set()


def _name(pid):
    try:
        with open("/proc/%d/comm" % pid) as fh:
            return fh.read().strip() or "?"
    except OSError:
        return "?"


def _owner(port, status_path):
    status = supervise.load_status(status_path) or {}
    pid = status.get("child_pid") if isinstance(status.get("child_pid"), int) else None
    inodes = _listening_inodes(port)
    ours = sorted(p for p in _family(pid) if inodes and _holds(p, inodes))
    if ours:
        return [True, "port %d is held by this service (pid %d)" % (port, ours[0])]
    service = "this service (pid %d)" % pid if pid else "this service (not running)"
    if not inodes:
        return [False, "nothing listens on port %d; %s has not bound it" % (port, service)]
    for p in _pids():
        if _holds(p, inodes):
            return [False, "port %d is held by pid %d (%s), not by %s"
                    % (port, p, _name(p), service)]
    return [False, "port %d is held by a process of another user (its pid is hidden), "
            "not by %s" % (port, service)]
