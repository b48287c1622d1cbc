#!/usr/bin/env python3
"""systemd-nspawn, a real client, runs what undocker extracted (issue 18 item 3).

Only trusted images we built run here (nspawn runs them as root, not jailed):
the cached Debian image of debian_image.py, and an "app" image made from its
four layers plus one layer and a config with Entrypoint, Cmd, Env,
WorkingDir and User, so that what the `.nspawn` file of `--nspawn` sets is
visible in what the container prints. undocker itself runs jailed, as in
every suite.

What nspawn needs on this machine (a container: PID 1 is not systemd, no
system bus, cgroups v1 + a v2 "unified" mount, /run on the root disk):
`--register=no` (no systemd-machined) and `--keep-unit` (no system bus to
make a scope unit); without either it fails with "Failed to open system
bus". `-q` drops the banner, `--pipe` keeps stdin/stdout plain pipes. On exit
nspawn prints 'Attempted to remove disk file system under
"/run/systemd/nspawn/propagate/NAME"' because /run is not a tmpfs here; it
leaves nothing behind, and the checks read stdout and the exit status only.

Before anything else a probe runs busybox in a tree made by hand (no
undocker involved): when that fails, nspawn cannot run here at all, and the
suite says why (nspawn's own words) and exits 77. Missing tools are skips
too; everything after a good probe must pass.

usage: test_nspawn_boot.py UNDOCKER
Time on 2 cores: about 15 s with the Debian image cached, 70–110 s when the machine is busy.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Suite, Failure, Layer, main_sharing_work, run_undocker, sha256_hex, _rmtree  # noqa: E402
import debian_image  # noqa: E402
from debian_image import image  # noqa: E402

suite = Suite("nspawn")
NSPAWN_BASE = ["systemd-nspawn", "--register=no", "--keep-unit", "-q", "--pipe"]
SHIFT = 524288  # what README shows for --uid-shift / --private-users

# The app image's command: prints what the .nspawn file sets, exits 7.
SHOW_CONFIG = b"""#!/bin/sh
echo "user=$(id -un) uid=$(id -u)"
echo "pwd=$(pwd)"
echo "greeting=$GREETING"
for a in "$@"; do echo "arg=[$a]"; done
exit 7
"""
APP_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the config"],
    "Entrypoint": ["/usr/local/bin/show-config", "from entrypoint"],
    "Cmd": ["from cmd", "it's \"quoted\""],
    "WorkingDir": "/srv/work",
    "User": "app",  # layer 4 of the Debian image adds app:x:1000:1000 to /etc/passwd
}
APP_OUTPUT = ("user=app uid=1000\npwd=/srv/work\ngreeting=hello from the config\n"
              "arg=[from entrypoint]\narg=[from cmd]\narg=[it's \"quoted\"]\n")


class State:
    work = None
    app_archive = None


def setup():
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn, owners and device nodes)"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (Debian package systemd-container; bash .ci/install-deps)"
    missing = debian_image.missing_tools()
    if missing:
        return f"{', '.join(missing)} not installed (bash .ci/install-deps installs them)"
    if shutil.which("busybox") is None:
        return "busybox is not installed (busybox-static; bash .ci/install-deps)"
    State.work = tempfile.mkdtemp(prefix="undocker-e2e-nspawn-", dir=suite.base)
    os.makedirs(os.path.join(State.work, "tmp"))
    return probe()


def probe():
    """None when nspawn runs a command here, else why not."""
    root = os.path.join(State.work, f"probe-{os.getpid()}")
    os.makedirs(os.path.join(root, "usr/bin"))
    shutil.copy(shutil.which("busybox"), os.path.join(root, "usr/bin/busybox"))
    proc = nspawn(root, ["--settings=no", "/usr/bin/busybox", "echo", "probe ok"])
    _rmtree(root)
    if proc.returncode == 0 and proc.stdout == "probe ok\n":
        return None
    return (f"systemd-nspawn cannot run a command here, even busybox in a tree made by hand: "
            f"{' '.join(NSPAWN_BASE)} … exited {proc.returncode}: {proc.stderr.strip()[-500:]!r}")


def nspawn(root, args, timeout=120):
    return subprocess.run(NSPAWN_BASE + ["-D", root] + args, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def expect(proc, rc, stdout, what):
    if proc.returncode != rc or proc.stdout != stdout:
        raise Failure(f"{what}: expected exit {rc} and stdout {stdout!r}\n"
                      f"got exit {proc.returncode}, stdout {proc.stdout!r}\nstderr {proc.stderr[-2000:]!r}")


def undocker(args):
    """undocker jailed, State.work the only writable directory."""
    result = run_undocker(args, State.work, tmpdir=os.path.join(State.work, "tmp"), timeout=900)
    if result.rc != 0:
        raise Failure(f"undocker failed\n{result.describe()}")
    return result


def machine_dir(name):
    """A tree's path: nspawn names the machine (and finds NAME.nspawn) after
    its basename, so the pid keeps two concurrent runs apart."""
    path = os.path.join(State.work, f"{name}-{os.getpid()}")
    _rmtree(path)
    return path


def app_archive():
    """A docker-archive: the Debian image's members as they are, plus a fifth
    layer (the command and its working directory), the app config and a new
    manifest.json. Streamed member by member: the base layer is 200 MB."""
    if State.app_archive:
        return State.app_archive
    source = image()["docker_archive"]
    top = (Layer().dir("srv/work", uid=1000, gid=1000)
           .file("usr/local/bin/show-config", SHOW_CONFIG, mode=0o755).bytes())
    top_id = sha256_hex(top)
    path = os.path.join(State.work, "app.tar")
    with tarfile.open(source, "r:") as outer, tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as new:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config = json.load(outer.extractfile(manifest["Config"]))
        config["config"] = APP_CONFIG
        config["rootfs"]["diff_ids"].append("sha256:" + top_id)
        config["history"].append({"created_by": "COPY show-config /usr/local/bin/"})
        config_bytes = json.dumps(config).encode()
        for member in outer.getmembers():
            if member.name in ("manifest.json", "repositories", manifest["Config"]):
                continue
            new.addfile(member, outer.extractfile(member) if member.isfile() else None)

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            new.addfile(info, io.BytesIO(data))
        add(f"{top_id}.tar", top)
        config_name = sha256_hex(config_bytes) + ".json"
        add(config_name, config_bytes)
        layers = manifest["Layers"] + [f"{top_id}.tar"]
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": ["app:nspawn"],
                                          "Layers": layers}]).encode())
    State.app_archive = path
    return path


# ---------------------------------------------------------------- checks

@suite.check("debian_image_runs_a_command (systemd-nspawn -D DIR /bin/sh -c …, its output and exit status)")
def _(t):
    root = machine_dir("debian")
    undocker(["-f", image()["docker_archive"], "-o", root])
    # What layers 3 and 4 put there, seen from inside: os-release over the
    # lower symlink, layer 3's script, the base layer's file capability, the
    # user layer 4 added; and the exit status comes back through nspawn.
    script = ("cat /etc/os-release; /bin/undocker-hello; getcap /usr/bin/ping; id -un 1000; "
              "echo \"pid=$$\"; exit 3")
    proc = nspawn(root, ["--settings=no", "/bin/sh", "-c", script])
    expect(proc, 3, 'PRETTY_NAME="undocker test image"\nID=undocker-test\n'
           "hello from the undocker test image\n/usr/bin/ping cap_net_raw=ep\napp\npid=1\n",
           "a shell in the Debian tree")
    # --as-pid2: nspawn's stub init is PID 1, the command runs as PID 2.
    proc = nspawn(root, ["--settings=no", "--as-pid2", "/bin/sh", "-c", "echo \"pid=$$\"; exit 0"])
    expect(proc, 0, "pid=2\n", "--as-pid2")
    _rmtree(root)


@suite.check("nspawn_file_runs_the_image_command (--nspawn, then --settings=trusted: Entrypoint+Cmd, Env, WorkingDir, User)")
def _(t):
    root = machine_dir("app")
    undocker(["-f", app_archive(), "-o", root, "--nspawn"])
    settings = root + ".nspawn"
    t.true(os.path.isfile(settings), f"{settings} was not written")
    # No command on nspawn's line: Parameters= from DIR.nspawn is the command.
    expect(nspawn(root, ["--settings=trusted"]), 7, APP_OUTPUT, "the image's own command from DIR.nspawn")
    # nspawn reads the file beside the tree by default too: these settings
    # are not among those it ignores from an untrusted place.
    expect(nspawn(root, []), 7, APP_OUTPUT, "the default --settings")
    # Without the file the same tree runs as root in / with no GREETING:
    # what the checks above saw came from the .nspawn file.
    proc = nspawn(root, ["--settings=no", "/usr/local/bin/show-config", "plain"])
    expect(proc, 7, "user=root uid=0\npwd=/\ngreeting=\narg=[plain]\n", "--settings=no")
    _rmtree(root)
    os.unlink(settings)


@suite.check("uid_shift_boots_with_private_users (--uid-shift BASE, nspawn --private-users=BASE, no chown)")
def _(t):
    root = machine_dir("shifted")
    undocker(["-f", app_archive(), "-o", root, "--nspawn", "--uid-shift", SHIFT])
    t.entry("srv/work", type="dir", uid=SHIFT + 1000, gid=SHIFT + 1000, root=root)
    t.entry("etc/passwd", uid=SHIFT, gid=SHIFT, root=root)
    args = ["--settings=trusted", f"--private-users={SHIFT}"]
    expect(nspawn(root, args), 7, APP_OUTPUT, "the image's command in a user namespace")
    # Inside, the owners are the image's; outside, nspawn changed none.
    proc = nspawn(root, args + ["/bin/sh", "-c", "id -un; stat -c '%u:%g %n' /srv/work /etc/passwd"])
    expect(proc, 0, "app\n1000:1000 /srv/work\n0:0 /etc/passwd\n", "owners seen in the user namespace")
    t.entry("srv/work", uid=SHIFT + 1000, gid=SHIFT + 1000, root=root)
    t.entry("etc/passwd", uid=SHIFT, gid=SHIFT, root=root)
    _rmtree(root)
    os.unlink(root + ".nspawn")


if __name__ == "__main__":
    sys.exit(main_sharing_work(suite, setup, lambda: State.work))
