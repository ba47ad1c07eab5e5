#!/usr/bin/env bash
# test_docker_files.sh - static checks of docker/Dockerfile and
# docker/compose.yaml. This machine has no Docker engine, so neither is built
# or started here; instead each is compared with what it must agree with.
#
# Dockerfile:
#   - every base image is Debian of this machine's release (/etc/os-release),
#     since the package lists below are checked against this machine's dpkg;
#   - the build stage installs exactly the build packages of scripts/deps.sh:
#     build-essential, cmake, pkg-config and its -dev packages, except
#     libclang-rt-*-dev (it goes with clang, for `make build-fuzz`); each
#     pkg-config module and the RocksDB library and header CMakeLists.txt
#     asks for comes from one of them (dpkg -S);
#   - the build stage's cmake commands are those `make -n build` prints
#     (without the deps step and output redirections), in order;
#   - what the build stage COPYs exists, covers every source file of
#     compile_commands.json of the build of EDDY_BIN, and is not excluded by
#     docker/Dockerfile.dockerignore; the runtime stage copies the binary from
#     <WORKDIR>/<cmake -B dir>/eddy;
#   - the runtime stage installs no -dev package, each of its packages holds
#     a library `ldd EDDY_BIN` lists, the package of every directly NEEDED
#     library (readelf -d; libc6 aside) is named, and the package of every
#     library ldd lists is named or pulled in through Depends/Pre-Depends
#     (this machine's dpkg metadata);
#   - the final USER is created in the runtime stage and is not root;
#     ENTRYPOINT is ["eddy"] (exec form) on a binary copied into the PATH;
#     topologies/ is copied.
# compose.yaml:
#   - it parses (PyYAML, anchors and merge keys); every service has an image
#     (pinned, not :latest) or a build whose context and Dockerfile exist;
#     named volumes and networks used are declared and the declared ones
#     used; bind-mounted files exist; depends_on names services;
#   - brokers (services with KAFKA_PROCESS_ROLES): three, apache/kafka 4.1.x,
#     broker+controller, distinct node ids, one CLUSTER_ID, the same
#     controller.quorum.voters on all, equal to id@hostname:<CONTROLLER port>
#     of each; listeners, advertised listeners, the security protocol map,
#     the controller and inter-broker listener names agree; published ports
#     match the advertised host listener; replication factor 3 and
#     min.insync.replicas 2 (default, offsets, transaction log);
#   - eddy services (built from docker/Dockerfile): every flag of their
#     command exists in `EDDY_BIN run --help` / `gen --help`, with a value
#     where the help gives one; three `run` instances of one topology (it
#     passes `eddy validate`) with distinct --instance, each with --http on
#     its fixed network address (not 0.0.0.0: eddy advertises the bound
#     address to its peers), a --state-dir on a named volume of its own, and
#     --bootstrap listing every broker's internal listener; the generator
#     produces to the topology's input topic, which the init service creates
#     with replication 3 and at least one partition per instance;
#   - docker/prometheus.yml's targets of job eddy are exactly the run
#     services' host:--http port, and the file is mounted into Prometheus;
#     Grafana mounts the provisioning and the dashboard where the dashboard
#     provider looks, and the data source URL names the Prometheus service.
# Each mismatch prints one line saying what disagrees with what. Needs
# python3 with PyYAML, make, dpkg, ldd, readelf, apt-cache and a built eddy
# (EDDY_BIN, default build/eddy). No network, no Kafka, a few seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name=test_docker_files
eddy="${EDDY_BIN:-$root/build/eddy}"
if [[ ! -x "$eddy" ]]; then
    echo "$name: no eddy binary at $eddy (build it, or set EDDY_BIN)"
    echo "FAIL $name"
    exit 1
fi

python3 - "$root" "$eddy" <<'EOF' || { echo "FAIL $name"; exit 1; }
import fnmatch, ipaddress, json, os, re, shlex, subprocess, sys
import yaml

root, eddy = sys.argv[1], os.path.abspath(sys.argv[2])
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond

def run(cmd, cwd=None, env=None):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr

def rel(path):
    return os.path.relpath(path, root)

# ---------------------------------------------------------------- helpers
def dpkg_owner(path):
    """Debian package owning @path (usrmerge: tries /lib and /usr/lib)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        cands.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for p in cands:
        rc, out, _ = run(["dpkg", "-S", p])
        if rc == 0:
            return out.split(":")[0].split(",")[0].strip()
    return None

def commands_of(shell):
    """A shell command line -> list of token lists (split on && || ; |),
    leading VAR=value assignments dropped."""
    out = []
    for part in re.split(r"&&|\|\||;|\|", shell):
        try:
            toks = shlex.split(part)
        except ValueError:
            toks = part.split()
        while toks and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", toks[0]):
            toks.pop(0)
        if toks:
            out.append(toks)
    return out

def normalize(cmd):
    """Drop output redirections, collapse blanks: 'cmake ... >/dev/null'."""
    cmd = re.sub(r"\s*\d*>>?\s*/dev/null|\s*\d*>&\d", "", cmd)
    return shlex.split(cmd)

def apt_packages(cmds):
    pkgs = []
    for toks in cmds:
        if toks[0] in ("apt-get", "apt") and "install" in toks:
            pkgs += [t for t in toks[toks.index("install") + 1:] if not t.startswith("-")]
    return pkgs

# ------------------------------------------------------------- Dockerfile
dockerfile = os.path.join(root, "docker/Dockerfile")
instrs = []  # (line, INSTRUCTION, args)
buf, start = "", None
for no, line in enumerate(open(dockerfile, encoding="utf-8"), 1):
    s = line.strip()
    if s.startswith("#") or (not s and not buf):
        continue  # comments, also inside a continued instruction
    start = start or no
    if s.endswith("\\"):
        buf += s[:-1] + " "
        continue
    buf += s
    word, _, args = buf.partition(" ")
    instrs.append((start, word.upper(), args.strip()))
    buf, start = "", None

stages = []
for no, word, args in instrs:
    if word == "FROM":
        m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
        stages.append({"base": m.group(1), "name": m.group(2), "line": no, "instrs": []})
    elif check(stages, f"Dockerfile:{no}: {word} before any FROM"):
        stages[-1]["instrs"].append((no, word, args))
check(len(stages) >= 2, f"Dockerfile: {len(stages)} stage(s), expected a build and a runtime stage")
if len(stages) < 2:
    stages = (stages + [{"base": "", "name": None, "line": 0, "instrs": []}] * 2)[:2]
build, final = stages[0], stages[-1]

os_release = dict(l.rstrip("\n").split("=", 1) for l in open("/etc/os-release") if "=" in l)
codename = os_release.get("VERSION_CODENAME", "").strip('"')
stage_names = {s["name"] for s in stages if s["name"]}
for s in stages:
    if s["base"] in stage_names:
        continue
    check(re.fullmatch(rf"debian:{re.escape(codename)}(-slim)?(@sha256:[0-9a-f]+)?", s["base"]),
          f"Dockerfile:{s['line']}: base image {s['base']!r} is not debian:{codename} or "
          f"debian:{codename}-slim (this machine's release, against which the packages are checked)")

def stage_runs(stage):
    cmds = []
    for no, word, args in stage["instrs"]:
        if word == "RUN":
            check(not args.startswith("["), f"Dockerfile:{no}: RUN in exec form is not checked; use the shell form")
            cmds += commands_of(args)
    return cmds

def stage_copies(stage):
    out = []  # (line, from, sources, dest)
    for no, word, args in stage["instrs"]:
        if word in ("COPY", "ADD"):
            toks = shlex.split(args)
            opts = [t for t in toks if t.startswith("--")]
            paths = [t for t in toks if not t.startswith("--")]
            src_stage = next((o.split("=", 1)[1] for o in opts if o.startswith("--from=")), None)
            out.append((no, src_stage, paths[:-1], paths[-1] if paths else ""))
    return out

def last_value(stage, word):
    vals = [(no, args) for no, w, args in stage["instrs"] if w == word]
    return vals[-1] if vals else (None, None)

# -- build stage packages vs scripts/deps.sh
deps_text = open(os.path.join(root, "scripts/deps.sh"), encoding="utf-8").read()
m = re.search(r"^packages=\(([^)]*)\)", deps_text, re.M)
deps_all = re.sub(r"#[^\n]*", "", m.group(1)).split() if m else []
check(deps_all, "scripts/deps.sh: no packages=( ... ) array found")
BUILD_TOOLS = {"build-essential", "cmake", "pkg-config"}
missing_tools = BUILD_TOOLS - set(deps_all)
check(not missing_tools, f"scripts/deps.sh: lacks the build tools {sorted(missing_tools)}")
deps_build = {p for p in deps_all
              if p in BUILD_TOOLS or (p.endswith("-dev") and not p.startswith("libclang-rt-"))}
build_cmds = stage_runs(build)
docker_build = apt_packages(build_cmds)
dups = sorted({p for p in docker_build if docker_build.count(p) > 1})
check(not dups, f"Dockerfile build stage: packages installed twice: {dups}")
only_deps = sorted(deps_build - set(docker_build))
only_docker = sorted(set(docker_build) - deps_build)
check(not only_deps, f"Dockerfile build stage lacks build packages of scripts/deps.sh: {only_deps}")
check(not only_docker, f"Dockerfile build stage installs packages that scripts/deps.sh does not "
      f"install for building: {only_docker}")

# -- ... and what CMakeLists.txt asks for
cmake_text = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
tests_on = re.search(r'option\(EDDY_TESTS\s+"[^"]*"\s+ON\)', cmake_text) is not None
needed_files = {}  # what -> file
for var, module in re.findall(r"pkg_check_modules\((\w+)\s+REQUIRED\s+IMPORTED_TARGET\s+([\w.+-]+)\)", cmake_text):
    if var == "CRITERION" and not tests_on:
        continue
    rc, out, _ = run(["pkg-config", "--variable=pcfiledir", module])
    if check(rc == 0, f"CMakeLists.txt: pkg-config module {module} not found on this machine"):
        needed_files[f"pkg-config module {module}"] = os.path.join(out.strip(), module + ".pc")
if "find_library(ROCKSDB_LIB rocksdb" in cmake_text:
    rc, out, _ = run(["sh", "-c", "ls /usr/lib/*/librocksdb.so /usr/lib/librocksdb.so 2>/dev/null | head -n 1"])
    needed_files["RocksDB library"] = out.strip() or "/usr/lib/x86_64-linux-gnu/librocksdb.so"
if "find_path(ROCKSDB_INCLUDE rocksdb/c.h" in cmake_text:
    needed_files["RocksDB header"] = "/usr/include/rocksdb/c.h"
check(len(needed_files) >= 8, f"CMakeLists.txt: found only {sorted(needed_files)} of its dependencies")
for what, path in sorted(needed_files.items()):
    pkg = dpkg_owner(path)
    if check(pkg, f"CMakeLists.txt: {what} ({path}) belongs to no Debian package here"):
        check(pkg in docker_build, f"Dockerfile build stage: CMakeLists.txt needs {what} from {pkg}, "
              f"which it does not install")

# -- build commands vs the Makefile
env = {k: v for k, v in os.environ.items() if k not in ("JOBS", "BUILD", "MAKEFLAGS", "MFLAGS")}
def make_n(target):
    rc, out, err = run(["make", "-n", "--no-print-directory", "-C", root, target], env=env)
    check(rc == 0, f"make -n {target} failed: {err.strip()}")
    return [l.strip() for l in out.splitlines() if l.strip()]
deps_steps = make_n("deps")
make_build = [normalize(c) for c in make_n("build") if c not in deps_steps]
docker_cmake = [toks for toks in build_cmds if toks[0] == "cmake"]
check(make_build, "make -n build printed no build commands")
if make_build != docker_cmake:
    errors.append("Dockerfile build stage runs other build commands than `make build`:\n"
                  + "    make build: " + " && ".join(shlex.join(c) for c in make_build) + "\n"
                  + "    Dockerfile: " + " && ".join(shlex.join(c) for c in docker_cmake))
for toks in build_cmds:
    check(toks[0] not in ("make", "ninja", "gcc", "cc"),
          f"Dockerfile build stage: {shlex.join(toks)!r} is not a command the Makefile's build runs")

# -- build context: COPY sources, compile_commands.json, dockerignore
ignore_rules = []
ign = os.path.join(root, "docker/Dockerfile.dockerignore")
if os.path.exists(ign):
    for l in open(ign, encoding="utf-8"):
        l = l.strip()
        if l and not l.startswith("#"):
            ignore_rules.append((l.startswith("!"), l.lstrip("!").strip("/")))
def ignored(path):
    verdict = False
    parts = path.strip("/").split("/")
    for negate, pat in ignore_rules:
        if any(fnmatch.fnmatchcase("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
            verdict = not negate
    return verdict

copied = []  # context paths the build stage copies
for no, src_stage, srcs, dest in stage_copies(build):
    for src in srcs:
        src = src.rstrip("/")
        if src_stage:
            continue
        copied.append(src)
        check(os.path.exists(os.path.join(root, src)), f"Dockerfile:{no}: COPY source {src!r} does not exist")
        check(not ignored(src), f"Dockerfile:{no}: COPY source {src!r} is excluded by docker/Dockerfile.dockerignore")
check("CMakeLists.txt" in copied, "Dockerfile build stage does not copy CMakeLists.txt")
cc_path = os.path.join(os.path.dirname(eddy), "compile_commands.json")
if os.path.exists(cc_path):
    # relative to the source tree that build was configured from
    cache = os.path.join(os.path.dirname(eddy), "CMakeCache.txt")
    m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", open(cache).read(), re.M) if os.path.exists(cache) else None
    src_root = m.group(1) if m else root
    sources = {os.path.relpath(e["file"], src_root) for e in json.load(open(cc_path))}
    uncovered = sorted(s for s in sources if not s.startswith("..")
                       and not any(s == c or s.startswith(c + "/") for c in copied))
    check(not uncovered, f"Dockerfile build stage does not copy sources the build compiles: {uncovered[:8]}")
    check(not [s for s in sources if not s.startswith("..") and ignored(s)],
          "docker/Dockerfile.dockerignore excludes sources the build compiles")
else:
    print(f"test_docker_files: no {cc_path}, compiled sources not checked")

workdir = last_value(build, "WORKDIR")[1] or "/"
build_dirs = [c[c.index("-B") + 1] for c in docker_cmake if "-B" in c]
expected_bin = os.path.normpath(os.path.join(workdir, build_dirs[0] if build_dirs else "build", "eddy"))
from_build = [(no, srcs) for no, st, srcs, dest in stage_copies(final) if st in (build["name"], "0")]
check(any(expected_bin in srcs for no, srcs in from_build),
      f"Dockerfile runtime stage does not copy {expected_bin} (the build's eddy) from the build stage "
      f"(copies: {from_build})")

# -- runtime stage: libraries
final_cmds = stage_runs(final)
runtime_pkgs = apt_packages(final_cmds)
check(runtime_pkgs, "Dockerfile runtime stage installs no packages")
check(not [p for p in runtime_pkgs if p.endswith("-dev")],
      f"Dockerfile runtime stage installs -dev packages: {[p for p in runtime_pkgs if p.endswith('-dev')]}")
rc, out, _ = run(["apt-cache", "show", "--no-all-versions", *runtime_pkgs, *docker_build])
for p in runtime_pkgs + docker_build:
    if not re.search(rf"^Package: {re.escape(p)}$", out, re.M):
        errors.append(f"Dockerfile: package {p!r} is unknown to apt-cache on this {codename} machine")

rc, out, err = run(["ldd", eddy])
check(rc == 0, f"ldd {eddy} failed: {err.strip()}")
libs = {}  # soname -> path
for l in out.splitlines():
    m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", l) or re.match(r"\s*(/\S+)\s+\(", l)
    if m:
        soname, path = (m.group(1), m.group(2)) if m.lastindex == 2 else (os.path.basename(m.group(1)), m.group(1))
        libs[soname] = path
    elif "not found" in l:
        errors.append(f"ldd {eddy}: {l.strip()}")
check(len(libs) >= 8, f"ldd {eddy}: only {len(libs)} libraries")
rc, out, err = run(["readelf", "-d", eddy])
check(rc == 0, f"readelf -d {eddy} failed (binutils): {err.strip()}")
needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
check(needed, f"readelf -d {eddy}: no NEEDED entries")

lib_pkg = {}
for soname, path in sorted(libs.items()):
    pkg = dpkg_owner(path)
    if check(pkg, f"ldd {eddy}: {path} belongs to no Debian package (not installed from Debian?)"):
        lib_pkg[soname] = pkg

rc, out, _ = run(["dpkg-query", "-W", "-f=${Package}\t${Depends}\t${Pre-Depends}\t${Provides}\n"])
depends, providers = {}, {}
for l in out.splitlines():
    pkg, dep, pre, prov = (l.split("\t") + ["", "", ""])[:4]
    depends[pkg] = [a.strip() for a in (dep + "," + pre).split(",") if a.strip()]
    for p in prov.split(","):
        if p.strip():
            providers.setdefault(p.split()[0].split(":")[0], []).append(pkg)
def resolve(alternatives):
    """The package apt would pick for 'a (>= 1) | b': the first installed."""
    for alt in alternatives.split("|"):
        name = alt.split()[0].split(":")[0]
        if name in depends:
            return name
        if name in providers:
            return providers[name][0]
    return None
closure, todo = set(), list(runtime_pkgs)
while todo:
    p = todo.pop()
    if p in closure:
        continue
    closure.add(p)
    todo += [d for d in (resolve(a) for a in depends.get(p, [])) if d]
for soname, pkg in sorted(lib_pkg.items()):
    if soname in needed and pkg != "libc6":
        check(pkg in runtime_pkgs, f"Dockerfile runtime stage does not install {pkg}, the package of "
              f"{soname} that eddy links directly (readelf -d NEEDED)")
    else:
        check(pkg in closure, f"Dockerfile runtime stage: {pkg} (for {soname}, which ldd lists) is "
              f"neither installed nor a dependency of what is installed")
for p in runtime_pkgs:
    check(p in lib_pkg.values(), f"Dockerfile runtime stage installs {p}, which holds no library eddy "
          f"loads (ldd): only the runtime libraries belong there")

# -- runtime stage: user, entrypoint, topologies
uline, user = last_value(final, "USER")
if check(user, "Dockerfile runtime stage has no USER: the container would run as root"):
    uname = user.split(":")[0]
    check(uname not in ("root", "0"), f"Dockerfile:{uline}: USER {user} is root")
    created = [t for t in final_cmds if t[0] in ("useradd", "adduser") and t[-1] == uname]
    if uname.isdigit():
        created = [t for t in final_cmds if t[0] in ("useradd", "adduser") and
                   any(t[i] == "--uid" and t[i + 1] == uname for i in range(len(t) - 1))]
    check(created, f"Dockerfile:{uline}: USER {user} is not created (useradd) in the runtime stage")
    for t in created:
        uid = [t[i + 1] for i in range(len(t) - 1) if t[i] in ("--uid", "-u")]
        check(not uid or uid[0] != "0", f"Dockerfile: user {uname} is created with uid 0")
eline, entry = last_value(final, "ENTRYPOINT")
binary_dests = [dest.rstrip("/") + ("/eddy" if dest.endswith("/") else "")
                for no, st, srcs, dest in stage_copies(final) if st and expected_bin in srcs]
if check(entry, "Dockerfile runtime stage has no ENTRYPOINT"):
    try:
        ep = json.loads(entry)
    except ValueError:
        ep = None
    check(isinstance(ep, list) and ep and os.path.basename(ep[0]) == "eddy",
          f"Dockerfile:{eline}: ENTRYPOINT {entry} is not the exec form [\"eddy\", ...]")
    if isinstance(ep, list) and ep:
        path_dirs = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
        ok = ep[0] in binary_dests if ep[0].startswith("/") else \
            any(os.path.dirname(d) in path_dirs and os.path.basename(d) == ep[0] for d in binary_dests)
        check(ok, f"Dockerfile:{eline}: ENTRYPOINT {ep[0]!r} is not where eddy is copied ({binary_dests})")
topo_dests = [dest.rstrip("/") for no, st, srcs, dest in stage_copies(final)
              if not st and [s.rstrip("/") for s in srcs] == ["topologies"]]
check(topo_dests, "Dockerfile runtime stage does not copy topologies/")
topo_dest = topo_dests[0] if topo_dests else None
final_text = " ".join(args for no, w, args in final["instrs"] if w in ("RUN", "WORKDIR"))

# ---------------------------------------------------------------- compose
compose_dir = os.path.join(root, "docker")
def load_yaml(path):
    try:
        return yaml.safe_load(open(path, encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        print(f"test_docker_files: {rel(path)} does not parse: {e}")
        sys.exit(1)
compose = load_yaml(os.path.join(compose_dir, "compose.yaml"))
known_top = {"name", "services", "volumes", "networks", "configs", "secrets"}
bad_top = [k for k in compose if k not in known_top and not str(k).startswith("x-")]
check(not bad_top, f"compose.yaml: unknown top-level keys {bad_top}")
services = compose.get("services") or {}
declared_volumes = set((compose.get("volumes") or {}).keys())
declared_networks = set((compose.get("networks") or {}).keys())
check(services, "compose.yaml: no services")

def env_of(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, "") for x in e)
    return {k: str(v) for k, v in e.items()}

def command_of(name, svc):
    c = svc.get("command")
    if isinstance(c, str):
        c = shlex.split(c)
    check(c is None or all(isinstance(x, str) for x in c),
          f"compose.yaml: {name}: command items must be strings (quote numbers): {c}")
    return [str(x) for x in c] if c else []

def mounts_of(svc):
    out = []  # (type, source, target)
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("type", "volume"), str(v.get("source", "")), str(v.get("target", ""))))
        else:
            parts = str(v).split(":")
            src, dst = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
            kind = "bind" if src.startswith((".", "/", "~")) else "volume"
            out.append((kind, src, dst))
    return out

def networks_of(svc):
    n = svc.get("networks")
    if n is None:
        return {"default": {}}
    if isinstance(n, list):
        return {k: {} for k in n}
    return {k: (v or {}) for k, v in n.items()}

dockerfile_real = os.path.realpath(dockerfile)
used_volumes, used_networks = set(), set()
eddy_services = {}
for name, svc in services.items():
    svc = svc or {}
    where = f"compose.yaml: service {name}"
    image, bld = svc.get("image"), svc.get("build")
    check(image or bld, f"{where}: neither image nor build")
    if bld:
        bld = {"context": bld} if isinstance(bld, str) else bld
        ctx = os.path.normpath(os.path.join(compose_dir, bld.get("context", ".")))
        df = os.path.join(ctx, bld.get("dockerfile", "Dockerfile"))
        check(os.path.isdir(ctx), f"{where}: build context {bld.get('context')} does not exist")
        if check(os.path.isfile(df), f"{where}: Dockerfile {rel(df)} does not exist"):
            if os.path.realpath(df) == dockerfile_real:
                check(ctx == root, f"{where}: docker/Dockerfile needs the repository root as context, not {rel(ctx)}")
                eddy_services[name] = svc
    elif image:
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        check(tag and tag != "latest", f"{where}: image {image} is not pinned to a version")
    for kind, src, dst in mounts_of(svc):
        check(dst.startswith("/"), f"{where}: mount target {dst!r} is not an absolute path")
        if kind == "bind":
            check(os.path.exists(os.path.join(compose_dir, src)), f"{where}: bind source {src} does not exist")
        else:
            used_volumes.add(src)
            check(src in declared_volumes, f"{where}: volume {src!r} is not declared under volumes:")
    for net, cfg in networks_of(svc).items():
        used_networks.add(net)
        check(net in declared_networks or (net == "default" and not declared_networks),
              f"{where}: network {net!r} is not declared under networks:")
    deps = svc.get("depends_on") or []
    for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, None) for d in deps)):
        check(dep in services, f"{where}: depends_on {dep!r}, which is not a service")
        c = (cond or {}).get("condition") if isinstance(cond, dict) else None
        check(c in (None, "service_started", "service_healthy", "service_completed_successfully"),
              f"{where}: depends_on {dep}: unknown condition {c!r}")
    for p in svc.get("ports") or []:
        check(re.fullmatch(r"(\d+\.\d+\.\d+\.\d+:)?\d+:\d+(/tcp|/udp)?", str(p)),
              f"{where}: port {p!r} is not HOST:CONTAINER")
check(not declared_volumes - used_volumes, f"compose.yaml: volumes declared and not used: {sorted(declared_volumes - used_volumes)}")
check(not declared_networks - used_networks, f"compose.yaml: networks declared and not used: {sorted(declared_networks - used_networks)}")

def depends(svc, dep, condition):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return dep in d and condition == "service_started"
    return dep in d and ((d[dep] or {}).get("condition", "service_started") == condition)

def host_port(s):
    m = re.fullmatch(r"([^:/]*):(\d+)", s)
    return (m.group(1), int(m.group(2))) if m else (None, None)

def listeners(value):
    out = {}
    for l in filter(None, (x.strip() for x in value.split(","))):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)://([^:]*):(\d+)", l)
        if check(m, f"listener {l!r} is not NAME://HOST:PORT"):
            out[m.group(1)] = (m.group(2), int(m.group(3)))
    return out

# -- brokers
brokers = {n: s for n, s in services.items() if "KAFKA_PROCESS_ROLES" in env_of(s or {})}
check(len(brokers) == 3, f"compose.yaml: {len(brokers)} Kafka brokers ({sorted(brokers)}), expected 3")
internal = {}  # broker -> "host:port" clients in the network use
voters_seen, cluster_ids, node_ids = set(), set(), {}
for name, svc in brokers.items():
    e, where = env_of(svc), f"compose.yaml: broker {name}"
    check(re.fullmatch(r"apache/kafka:4\.1\.\d+", svc.get("image", "")),
          f"{where}: image {svc.get('image')} is not apache/kafka:4.1.x")
    check(set(e["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"},
          f"{where}: KAFKA_PROCESS_ROLES {e['KAFKA_PROCESS_ROLES']!r}, expected broker,controller (combined)")
    node_ids[name] = e.get("KAFKA_NODE_ID")
    cluster_ids.add(e.get("CLUSTER_ID"))
    voters_seen.add(e.get("KAFKA_CONTROLLER_QUORUM_VOTERS", ""))
    lis = listeners(e.get("KAFKA_LISTENERS", ""))
    adv = listeners(e.get("KAFKA_ADVERTISED_LISTENERS", ""))
    protos = dict(x.split(":", 1) for x in e.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if ":" in x)
    ctl = e.get("KAFKA_CONTROLLER_LISTENER_NAMES", "")
    inter = e.get("KAFKA_INTER_BROKER_LISTENER_NAME", "")
    check(set(lis) <= set(protos), f"{where}: listeners {sorted(set(lis) - set(protos))} missing from KAFKA_LISTENER_SECURITY_PROTOCOL_MAP")
    check(ctl in lis, f"{where}: controller listener {ctl!r} is not in KAFKA_LISTENERS")
    check(ctl not in adv, f"{where}: the controller listener {ctl!r} is advertised to clients")
    check(set(adv) <= set(lis) - {ctl}, f"{where}: advertised listeners {sorted(set(adv) - set(lis))} are not listeners")
    hostname = svc.get("hostname", name)
    if check(inter in adv, f"{where}: inter-broker listener {inter!r} is not advertised"):
        check(adv[inter] == (hostname, lis.get(inter, (None, None))[1]),
              f"{where}: {inter} is advertised as {adv[inter][0]}:{adv[inter][1]}, but the broker is "
              f"{hostname}:{lis.get(inter, (None, None))[1]} in the network")
        internal[name] = f"{adv[inter][0]}:{adv[inter][1]}"
    for p in svc.get("ports") or []:
        hp, cp = [int(x) for x in str(p).split("/")[0].split(":")[-2:]]
        names = [l for l, (h, port) in lis.items() if port == cp]
        check(names and names[0] in adv and adv[names[0]][1] == hp and adv[names[0]][0] in ("localhost", "127.0.0.1"),
              f"{where}: published port {p} does not match an advertised listener localhost:{hp} on container port {cp}")
    for key, want in (("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"), ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
                      ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
                      ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
                      ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2")):
        check(e.get(key) == want, f"{where}: {key} is {e.get(key)!r}, expected {want}")
    brokers[name] = (svc, e, lis, ctl, hostname)
check(len(set(node_ids.values())) == len(node_ids), f"compose.yaml: broker node ids are not distinct: {node_ids}")
check(len(cluster_ids) == 1 and re.fullmatch(r"[A-Za-z0-9_-]{22}", next(iter(cluster_ids)) or ""),
      f"compose.yaml: brokers need one CLUSTER_ID (22 characters of base64url), got {cluster_ids}")
if check(len(voters_seen) == 1, f"compose.yaml: brokers disagree on KAFKA_CONTROLLER_QUORUM_VOTERS: {voters_seen}"):
    voters = set(next(iter(voters_seen)).split(","))
    expected = {f"{e.get('KAFKA_NODE_ID')}@{host}:{lis.get(ctl, (None, None))[1]}"
                for svc, e, lis, ctl, host in brokers.values()}
    check(voters == expected, f"compose.yaml: KAFKA_CONTROLLER_QUORUM_VOTERS {sorted(voters)} is not the "
          f"brokers' id@hostname:controller port {sorted(expected)}")
broker_list = set(internal.values())
auto_create = any(e.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true") != "false"
                  for svc, e, *_ in brokers.values())

# -- eddy services: flags from --help
def help_flags(cmd):
    rc, out, err = run([eddy, cmd, "--help"])
    check(rc == 0 and out, f"{eddy} {cmd} --help failed")
    flags = {}
    toks = [t.strip("[]") for t in out.split()]
    for i, t in enumerate(toks):
        if re.fullmatch(r"--[a-z][a-z0-9-]*|-[A-Za-z]", t):
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            takes = bool(re.fullmatch(r"[A-Z][A-Z0-9:._|-]*|[a-z]+=[a-z]+", nxt))
            flags[t] = flags.get(t, False) or takes
    return flags, out
run_flags, _ = help_flags("run")
gen_flags, gen_help = help_flags("gen")
gen_kinds = set(re.search(r"gen\s+([\w|-]+)", gen_help).group(1).split("|")) if gen_help else set()

def parse_cmd(where, cmd, args, flags):
    opts, pos, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1:
            if not check(a in flags, f"{where}: flag {a} is not in `eddy {cmd} --help`"):
                i += 1
                continue
            if flags[a]:
                v = args[i + 1] if i + 1 < len(args) else None
                check(v is not None and not v.startswith("--"), f"{where}: flag {a} needs a value")
                opts.setdefault(a, []).append(v)
                i += 2
                continue
            opts.setdefault(a, []).append(True)
        else:
            pos.append(a)
        i += 1
    return opts, pos

def bootstrap_ok(where, value):
    got = set((value or "").split(","))
    check(got == broker_list, f"{where}: --bootstrap {value} is not the brokers' internal listeners "
          f"{','.join(sorted(broker_list))}")

runs, gens = {}, {}
check(eddy_services, "compose.yaml: no service is built from docker/Dockerfile")
for name, svc in eddy_services.items():
    where = f"compose.yaml: service {name}"
    args = command_of(name, svc)
    if not check(args and args[0] in ("run", "gen"), f"{where}: command {args} is not `run` or `gen`"):
        continue
    opts, pos = parse_cmd(where, args[0], args[1:], run_flags if args[0] == "run" else gen_flags)
    (runs if args[0] == "run" else gens)[name] = (svc, opts, pos)

topology = {}
check(len(runs) == 3, f"compose.yaml: {len(runs)} `eddy run` services ({sorted(runs)}), expected 3")
instances, topo_paths, state_volumes, http_of = {}, set(), {}, {}
for name, (svc, opts, pos) in runs.items():
    where = f"compose.yaml: service {name}"
    for f in ("--bootstrap", "--instance", "--state-dir", "--http"):
        check(f in opts, f"{where}: `eddy run` without {f}")
    check(len(pos) == 1, f"{where}: `eddy run` takes one TOPOLOGY, got {pos}")
    check("--input" not in opts, f"{where}: --input runs locally, not on Kafka")
    if pos:
        topo_paths.add(pos[0])
    for inst in opts.get("--instance", []):
        check(inst not in instances, f"{where}: --instance {inst} is also {instances.get(inst)}'s")
        instances[inst] = name
    bootstrap_ok(where, (opts.get("--bootstrap") or [None])[0])
    # state dir on a named volume of this service only
    for sd in opts.get("--state-dir", []):
        vols = [(src, dst) for kind, src, dst in mounts_of(svc)
                if kind == "volume" and (sd == dst or sd.startswith(dst.rstrip("/") + "/"))]
        if check(vols, f"{where}: --state-dir {sd} is not on a named volume"):
            src = vols[0][0]
            check(src not in state_volumes, f"{where}: state volume {src} is also {state_volumes.get(src)}'s "
                  f"(RocksDB allows one process per state directory)")
            state_volumes[src] = name
            check(vols[0][1] in final_text, f"{where}: {vols[0][1]} is not created for the image's user in "
                  f"the Dockerfile's runtime stage")
    # --http on this service's own address
    for h in opts.get("--http", []):
        host, port = host_port(h)
        if not check(host is not None, f"{where}: --http {h} is not ADDR:PORT"):
            continue
        http_of[name] = (svc.get("hostname", name), port)
        addrs = {n: c.get("ipv4_address") for n, c in networks_of(svc).items() if c.get("ipv4_address")}
        check(host not in ("0.0.0.0", "127.0.0.1", "localhost"),
              f"{where}: --http {h}: eddy advertises the bound address to its peers (0.0.0.0 as "
              f"127.0.0.1) and Prometheus must reach it: bind the service's fixed address")
        check(host in addrs.values(), f"{where}: --http address {host} is not the service's ipv4_address {addrs}")
        for net, addr in addrs.items():
            for pool in ((compose.get("networks") or {}).get(net) or {}).get("ipam", {}).get("config", []):
                if "subnet" in pool:
                    check(ipaddress.ip_address(addr) in ipaddress.ip_network(pool["subnet"]),
                          f"{where}: ipv4_address {addr} is outside the subnet {pool['subnet']} of {net}")
                if "ip_range" in pool:
                    check(ipaddress.ip_address(addr) not in ipaddress.ip_network(pool["ip_range"]),
                          f"{where}: ipv4_address {addr} is inside ip_range {pool['ip_range']}, from which "
                          f"Docker hands out addresses to other containers")
check(len(topo_paths) == 1, f"compose.yaml: the eddy instances run different topologies {sorted(topo_paths)}: "
      f"one consumer group needs one")
if topo_paths and topo_dest:
    path = next(iter(topo_paths))
    if check(path.startswith(topo_dest + "/"), f"compose.yaml: topology {path} is not under {topo_dest}, "
             f"where the Dockerfile copies topologies/"):
        repo_topo = os.path.join(root, "topologies", path[len(topo_dest) + 1:])
        if check(os.path.isfile(repo_topo), f"compose.yaml: topology {path}: {rel(repo_topo)} does not exist"):
            rc, out, err = run([eddy, "validate", repo_topo])
            if check(rc == 0, f"eddy validate {rel(repo_topo)} failed: {err.strip()}"):
                topology["name"] = re.search(r"^topology (\S+)", out, re.M).group(1)
                topology["input"] = re.search(r"^source: topic ([^,\s]+)", out, re.M).group(1)

# -- generator and the topic it writes
check(len(gens) == 1, f"compose.yaml: {len(gens)} `eddy gen` services, expected 1")
for name, (svc, opts, pos) in gens.items():
    where = f"compose.yaml: service {name}"
    check(len(pos) == 1 and pos[0] in gen_kinds, f"{where}: `eddy gen` needs one of {sorted(gen_kinds)}, got {pos}")
    check(pos[:1] == ["service-logs"], f"{where}: generates {pos}, service-health reads service-logs")
    check("--rate" in opts, f"{where}: `eddy gen` without --rate floods the cluster")
    topic = (opts.get("--topic") or [None])[0]
    check(topic and topic == topology.get("input") or "input" not in topology,
          f"{where}: --topic {topic} is not the topology's input topic {topology.get('input')}")
    bootstrap_ok(where, (opts.get("--bootstrap") or [None])[0])
creators = {}
for name, svc in services.items():
    args = command_of(name, svc or {})
    if args and args[0].endswith("kafka-topics.sh") and "--create" in args:
        a = dict(zip(args, args[1:]))
        creators[a.get("--topic")] = (name, a)
if "input" in topology and check(topology["input"] in creators, f"compose.yaml: no service creates the input topic "
         f"{topology.get('input')} (kafka-topics.sh --create)"):
    cname, a = creators[topology["input"]]
    where = f"compose.yaml: service {cname}"
    check(a.get("--replication-factor") == "3", f"{where}: --replication-factor {a.get('--replication-factor')}, expected 3")
    check(int(a.get("--partitions", "0")) >= max(len(runs), 1),
          f"{where}: {a.get('--partitions')} partitions for {len(runs)} instances: some would idle")
    check(set(a.get("--bootstrap-server", "").split(",")) == broker_list,
          f"{where}: --bootstrap-server {a.get('--bootstrap-server')} is not the brokers {sorted(broker_list)}")
    for b in brokers:
        check(depends(services[cname], b, "service_healthy"), f"{where}: does not wait for {b} (service_healthy)")
    for name in list(runs) + list(gens):
        check(depends(services[name], cname, "service_completed_successfully"),
              f"compose.yaml: service {name} does not wait for {cname} (service_completed_successfully)"
              + (": auto topic creation is off" if not auto_create else ""))

# -- Prometheus and Grafana
def service_by_image(prefix):
    return [(n, s) for n, s in services.items() if str((s or {}).get("image", "")).startswith(prefix)]
prom_file = os.path.join(compose_dir, "prometheus.yml")
prom = load_yaml(prom_file)
jobs = {j.get("job_name"): j for j in prom.get("scrape_configs") or []}
targets = sorted(t for sc in (jobs.get("eddy") or {}).get("static_configs") or [] for t in sc.get("targets") or [])
want = sorted(f"{h}:{p}" for h, p in http_of.values())
check(targets == want, f"docker/prometheus.yml: job eddy scrapes {targets}, the eddy services serve "
      f"--http on {want}")
proms = service_by_image("prom/prometheus")
if check(len(proms) == 1, f"compose.yaml: {len(proms)} prom/prometheus services, expected 1"):
    pname, psvc = proms[0]
    check(("bind", "./prometheus.yml", "/etc/prometheus/prometheus.yml") in
          [(k, s, d) for k, s, d in mounts_of(psvc)],
          f"compose.yaml: {pname} does not mount ./prometheus.yml at /etc/prometheus/prometheus.yml")
    ds = load_yaml(os.path.join(compose_dir, "grafana/provisioning/datasources/prometheus.yml"))
    urls = [d.get("url") for d in ds.get("datasources") or [] if d.get("type") == "prometheus"]
    port = 9090
    for c in command_of(pname, psvc):
        if c.startswith("--web.listen-address="):
            port = int(c.rsplit(":", 1)[1])
    check(f"http://{psvc.get('hostname', pname)}:{port}" in urls,
          f"grafana data source URLs {urls} do not name the Prometheus service http://{pname}:{port}")
grafanas = service_by_image("grafana/grafana")
if check(len(grafanas) == 1, f"compose.yaml: {len(grafanas)} grafana/grafana services, expected 1"):
    gname, gsvc = grafanas[0]
    mounts = {(s.rstrip("/"), d.rstrip("/")) for k, s, d in mounts_of(gsvc) if k == "bind"}
    check(("./grafana/provisioning", "/etc/grafana/provisioning") in mounts,
          f"compose.yaml: {gname} does not mount ./grafana/provisioning at /etc/grafana/provisioning")
    dp = load_yaml(os.path.join(compose_dir, "grafana/provisioning/dashboards/eddy.yml"))
    paths = [(p.get("options") or {}).get("path", "").rstrip("/") for p in dp.get("providers") or []]
    check(any(s == "./grafana/dashboard.json" and os.path.dirname(d) in paths for s, d in mounts),
          f"compose.yaml: {gname} does not mount ./grafana/dashboard.json into a provisioned "
          f"dashboard path {paths}")

for e in errors:
    print("test_docker_files:", e)
print(f"test_docker_files: Dockerfile: {len(stages)} stages, {len(docker_build)} build packages, "
      f"{len(runtime_pkgs)} runtime packages for {len(libs)} libraries; compose: {len(services)} services "
      f"({len(brokers)} brokers, {len(runs)} eddy run, {len(gens)} gen); {len(errors)} problems")
sys.exit(1 if errors else 0)
EOF
echo "PASS $name"
