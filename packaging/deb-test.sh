#!/usr/bin/env bash
# make deb-test: build the .deb and prove it on a fresh Debian 12 (docs/packaging.md, "CI").
#
#   build      dist/optirunner_<version>_amd64.deb (fast xz level, pip cache in $CACHE/pip)
#   lintian    no error (overrides in debian/optirunner.lintian-overrides, each justified)
#   root       a debootstrap minbase bookworm (+ systemd, the init of any real host), cached
#              in $CACHE/bookworm-base and copied for each run
#   install    `apt-get install ./optirunner_*.deb` inside it (dependencies from the mirror)
#   version, doctor, verify, security (exposure <= 2.5), demo (the installed example)
#   boot       `systemd-nspawn --boot`: configure, the unit reaches active (running),
#              /healthz answers, the hardened unit's sandbox starts
#   job        a GitLab `/optimize` note webhook (the stored webhook secret as X-Gitlab-Token)
#              queues a real job on a local git checkout of the example; it reaches `running`
#   stop       `systemctl stop` while that job runs: the listener drains 1 job, the job ends
#              `succeeded` after the stop was sent, Result=success within TimeoutStopSec,
#              no process of the unit is left
#   purge      `apt-get purge`: no file, user, group or directory of the package is left
#
# A step that this machine cannot run prints "SKIPPED: <reason>" (and the reason is checked,
# not assumed); a step that ran and failed fails the script. Logs: build/deb-test/.
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
CACHE=${OPTIRUNNER_CI_CACHE:-/var/cache/optirunner-ci}
SUITE=bookworm
MAX_EXPOSURE=2.5
LOG=$TOP/build/deb-test
BASE=$CACHE/$SUITE-base
ROOT=$CACHE/$SUITE-work
BASE_MAX_AGE_DAYS=14
DEMO_ENV="OPTIRUNNER_MEASURE__BUDGET_S=8 OPTIRUNNER_MEASURE__INSTRUCTION_REPEATS=1 OPTIRUNNER_MEASURE__NOISE_PAIRS=6"
DEMO_TARGETS="--target inventory/stock.py::missing_skus --target inventory/reports.py::render_csv"
# The job of the stop step: one demo target on a git checkout of the example, mapped to a
# GitLab project path by service.repositories. In the state directory, because the unit's
# ProtectSystem=strict makes everything else read-only and `git worktree add` writes to the
# repository's .git. No forge.gitlab.url: the job runs and reports nowhere.
JOB_PROJECT=acme/inventory
JOB_REPO=/var/lib/optirunner/repos/inventory
JOB_TARGET=inventory/stock.py::missing_skus
JOB_FIXTURE=tests/webhooks/fixtures/gitlab/note_issue_optimize_command.json

rm -rf "$LOG" && mkdir -p "$LOG" "$CACHE"
export SYSTEMD_COLORS=0 SYSTEMD_URLIFY=0 SYSTEMD_PAGER=cat LC_ALL=C.UTF-8
SUMMARY=$LOG/summary.txt
: >"$SUMMARY"
FAILED=0
T0=$(date +%s)

say() { printf 'deb-test: %s\n' "$*" >&2; }
now() { date +%s; }
record() { # status name seconds [detail]
    local line
    line=$(printf '%-8s %-10s %4ss  %s' "$1" "$2" "$3" "${4:-}")
    echo "$line" >>"$SUMMARY"
    say "$line"
    [ "$1" = FAIL ] && FAILED=1
    return 0
}
# run NAME CMD...: time CMD, log its output to $LOG/NAME.log, record PASS or FAIL.
run() {
    local name=$1 start rc
    shift
    start=$(now)
    say "-- $name"
    ("$@") >"$LOG/$name.log" 2>&1 </dev/null
    rc=$?
    if [ $rc -eq 0 ]; then
        record PASS "$name" $(($(now) - start))
    else
        record FAIL "$name" $(($(now) - start)) "exit $rc, see $LOG/$name.log"
        tail -n 25 "$LOG/$name.log" | sed 's/^/    /' >&2
    fi
    return $rc
}
skip() { record SKIPPED "$1" 0 "SKIPPED: $2"; }

apt_need() { # install the Debian packages (not yet installed) among the arguments
    local need="" pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            need="$need $pkg"
    done
    [ -z "$need" ] && return 0
    say "installing$need"
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need \
        >/dev/null 2>&1 || {
        env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
    }
}

# The Debian mirror this host uses (its apt sources), unless OPTIRUNNER_CI_MIRROR says.
mirror() {
    local m=${OPTIRUNNER_CI_MIRROR:-}
    if [ -z "$m" ]; then
        m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list \
            | grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n 1)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' runner/__init__.py)
DEB=dist/optirunner_${version}_amd64.deb

# ---- 0. tools ---------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "deb-test: needs root (debootstrap, systemd-nspawn, apt inside the root)" >&2
    exit 1
fi
run tools apt_need lintian debootstrap systemd-container systemd binutils util-linux \
    debhelper dh-virtualenv devscripts build-essential python3-venv python3-dev || exit 1

# ---- 1. build ---------------------------------------------------------------------------
# The release build (`make deb`) compresses with xz -6 (3 min here); CI uses xz -1 (40 s):
# the same files, a 20 % larger archive. pip's cache keeps the downloaded wheels.
build() {
    rm -f dist/optirunner_*.deb
    mkdir -p "$CACHE/pip"
    env DPKG_DEB_COMPRESSOR_TYPE=xz DPKG_DEB_COMPRESSOR_LEVEL="${OPTIRUNNER_DEB_XZ_LEVEL:-1}" \
        OPTIRUNNER_PIP_CACHE_DIR="$CACHE/pip" nice -n 10 sh packaging/build-deb.sh
}
# OPTIRUNNER_CI_REUSE_DEB=1 (developers iterating on the later steps; never set by CI)
# takes dist/'s package when it is newer than every file it is built from.
if [ "${OPTIRUNNER_CI_REUSE_DEB:-0}" = 1 ] && [ -f "$DEB" ] &&
    [ -z "$(find runner debian systemd packaging examples pyproject.toml -newer "$DEB" -type f \
        -not -name '*.pyc' -not -name 'deb-test.sh' | head -n 1)" ]; then
    record REUSED build 0 "$DEB (OPTIRUNNER_CI_REUSE_DEB=1)"
else
    run build build && test -f "$DEB" || { say "no package, nothing else can run"; exit 1; }
fi
ls -l "$DEB" >&2

# ---- 2. lintian -------------------------------------------------------------------------
lint() {
    nice -n 10 lintian --fail-on error "$DEB"
    local rc=$?
    grep -c '^W:' "$LOG/lintian.log" | sed 's/$/ warning(s), not errors/'
    return $rc
}
run lintian lint

# ---- 3. the root: debootstrap (cached), then a fresh copy ---------------------------------
exec 9>"$CACHE/lock"
flock 9
make_base() {
    local m
    m=$(mirror)
    rm -rf "$BASE.new"
    nice -n 10 debootstrap --variant=minbase --include=systemd,systemd-sysv \
        "$SUITE" "$BASE.new" "$m" || return 1
    {
        echo "deb $m $SUITE main"
        echo "deb $m $SUITE-updates main"
        echo "deb ${m%/debian*}/debian-security $SUITE-security main"
    } >"$BASE.new/etc/apt/sources.list"
    # The host's apt settings for its mirror (proxy, snapshot validity), if any.
    grep -lsE 'Acquire::(https?::Proxy|Check-Valid-Until)' /etc/apt/apt.conf.d/* \
        | xargs -r cp -t "$BASE.new/etc/apt/apt.conf.d/"
    echo "optirunner-ci" >"$BASE.new/etc/hostname"
    rm -rf "$BASE" && mv "$BASE.new" "$BASE"
}
root_ready=0
if [ -d "$BASE" ] && [ -z "$(find "$BASE" -maxdepth 0 -mtime +$BASE_MAX_AGE_DAYS)" ] &&
    [ "${OPTIRUNNER_CI_REFRESH:-0}" != 1 ]; then
    record CACHED debootstrap 0 "$BASE"
else
    run debootstrap make_base
fi
# The run's root lives in memory (about 1.5 GB at its largest): no disk writes to undo,
# and removing it is an umount. On disk when tmpfs cannot be mounted.
# /var/lib/systemd stays on disk: systemd-creds refuses to keep its host key
# (credential.secret) on a temporary file system, as a real host's is not.
KEYDIR=$CACHE/$SUITE-work-var-lib-systemd
umount_root() {
    mountpoint -q "$ROOT/var/lib/systemd" && umount -l "$ROOT/var/lib/systemd"
    mountpoint -q "$ROOT" && umount -l "$ROOT"
    rm -rf "$ROOT" "$KEYDIR"
}
copy_root() {
    umount_root
    mkdir -p "$ROOT"
    if mount -t tmpfs -o size=6G,mode=0755 optirunner-ci "$ROOT"; then
        cp -a "$BASE/." "$ROOT/"
        cp -a "$BASE/var/lib/systemd" "$KEYDIR"
        mount --bind "$KEYDIR" "$ROOT/var/lib/systemd"
    else
        echo "tmpfs failed: the root is on disk"
        cp -a "$BASE/." "$ROOT/"
    fi
}
if [ -d "$BASE" ] && run copy-root copy_root; then
    root_ready=1
fi

# How commands get into the root: systemd-nspawn (its own /proc, /dev, PID namespace), or a
# plain chroot when nspawn cannot start here.
NSPAWN_ERR=""
if [ "${OPTIRUNNER_CI_NO_NSPAWN:-0}" = 1 ]; then
    # Only to exercise the chroot path on a machine where nspawn works.
    NSPAWN_ERR="not tried: OPTIRUNNER_CI_NO_NSPAWN=1"
elif [ $root_ready = 1 ]; then
    if ! NSPAWN_ERR=$(systemd-nspawn -q --register=no --keep-unit -D "$ROOT" --pipe true 2>&1); then
        NSPAWN_ERR=$(echo "$NSPAWN_ERR" | grep -v 'propagate' | tail -n 3 | tr '\n' ' ')
        [ -n "$NSPAWN_ERR" ] || NSPAWN_ERR="systemd-nspawn exited non-zero"
    else
        NSPAWN_ERR=""
    fi
fi
# in_root [--offline] CMD...: run CMD in the root; dist/ is /mnt/dist (read-only).
in_root() {
    local net=()
    if [ "${1:-}" = --offline ]; then
        net=(--private-network)
        shift
    fi
    if [ -z "$NSPAWN_ERR" ]; then
        systemd-nspawn -q --register=no --keep-unit -D "$ROOT" "${net[@]}" \
            --bind-ro="$TOP/dist:/mnt/dist" --setenv=LANG=C.UTF-8 \
            --setenv=SYSTEMD_COLORS=0 --setenv=SYSTEMD_URLIFY=0 --pipe "$@" 2> >(grep -v 'propagate' >&2)
    else
        mkdir -p "$ROOT/mnt/dist"
        unshare -m sh -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
            mount --rbind /sys "$1/sys" && mount --bind -o ro "$2" "$1/mnt/dist" &&
            cp /etc/resolv.conf "$1/etc/resolv.conf" && shift 2 && exec chroot "$@"' \
            sh "$ROOT" "$TOP/dist" "$ROOT" "$@"
    fi
}
# The root's own view, to compare before the install and after the purge; through in_root,
# or through the booted container (SNAP=in_boot: nspawn refuses a second one on the root).
SNAP=in_root
snapshot() {
    $SNAP sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run \
        -o -path /tmp -o -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt \
        -o -path /var/lib/dpkg -o -path /var/cache/debconf -o -path /mnt/dist \) -prune \
        -o -print; getent passwd | cut -d: -f1 | sed "s/^/user:/"; \
        getent group | cut -d: -f1 | sed "s/^/group:/"' | LC_ALL=C sort
}

if [ $root_ready = 1 ]; then
    [ -n "$NSPAWN_ERR" ] && say "systemd-nspawn cannot run here ($NSPAWN_ERR): using chroot"
    run apt-update in_root sh -c 'apt-get update -qq'
    snapshot >"$LOG/before.txt" 2>>"$LOG/snapshot.log"
    run install in_root sh -c "cd /mnt/dist && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y ./$(basename "$DEB")" || root_ready=0
fi

if [ $root_ready = 1 ]; then
    version_ok() { out=$(in_root optirunner --version) && echo "$out" && [ "$out" = "optirunner $version" ]; }
    run version version_ok
    # Before configure: the secrets are not required yet. --offline (a private network) also
    # gives root the CAP_NET_ADMIN that bubblewrap needs for the sandbox's loopback.
    run doctor in_root --offline optirunner doctor
    verify() {
        out=$(in_root systemd-analyze verify /lib/systemd/system/optirunner.service 2>&1)
        echo "$out"
        [ -z "$out" ]
    }
    run verify verify
    exposure() {
        out=$(in_root systemd-analyze security --offline=yes /lib/systemd/system/optirunner.service 2>&1)
        echo "$out" | grep -v '^  ✓\|^✓'
        level=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        echo "exposure: ${level:-none} (max $MAX_EXPOSURE)"
        [ -n "$level" ] && awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l <= m) }'
    }
    run security exposure
    record INFO exposure 0 "$(grep '^exposure:' "$LOG/security.log")"
    # The demo, from the installed example, as the service user (its state stays in its home).
    demo() {
        in_root --offline sh -c "set -e; rm -rf /var/tmp/demo; cp -r /usr/share/optirunner/examples/inventory /var/tmp/demo
            chown -R optirunner: /var/tmp/demo
            runuser -u optirunner -- env HOME=/var/lib/optirunner $DEMO_ENV \
                optirunner optimize /var/tmp/demo $DEMO_TARGETS --report
            rm -rf /var/tmp/demo"
    }
    run demo demo
else
    for s in version doctor verify security demo; do skip $s "the package is not installed in a root"; done
fi

# ---- 4. boot: the unit under a real systemd ---------------------------------------------
LEADER=""
NSPAWN_PID=""
in_boot() { nsenter -t "$LEADER" -a -- "$@"; }
# A viewer token for the job API, made as the service's user (`optirunner tokens add`).
api_token() {
    in_boot runuser -u optirunner -- env HOME=/var/lib/optirunner \
        STATE_DIRECTORY=/var/lib/optirunner optirunner tokens add --name "deb-test-$1" --role viewer
}
# Start the container (in this shell: its PID and its init's are needed later).
start_boot() {
    systemd-nspawn -q --boot --register=no --keep-unit -D "$ROOT" --private-network \
        --machine=optirunner-ci >"$LOG/console.log" 2>&1 </dev/null &
    NSPAWN_PID=$!
    for _ in $(seq 60); do
        LEADER=$(pgrep -P "$NSPAWN_PID" | head -n 1)
        [ -n "$LEADER" ] && [ "$(cat /proc/"$LEADER"/comm 2>/dev/null)" = systemd ] && break
        LEADER=""
        sleep 1
    done
}
boot() {
    if [ -z "$LEADER" ]; then
        echo "no systemd in the container after 60 s:"
        cat "$LOG/console.log"
        return 1
    fi
    state=$(timeout 120 nsenter -t "$LEADER" -a -- systemctl is-system-running --wait)
    echo "system: $state"
    in_boot systemctl --failed --no-pager
    case $state in running | degraded) return 0 ;; *) return 1 ;; esac
}
service_checks() {
    set -e
    in_boot optirunner configure --non-interactive --provider rules \
        --public-url http://127.0.0.1:8480
    in_boot systemctl start optirunner
    in_boot systemctl show -p ActiveState,SubState,MainPID optirunner | tee "$LOG/state.txt"
    grep -qx ActiveState=active "$LOG/state.txt"
    grep -qx SubState=running "$LOG/state.txt"
    in_boot /usr/bin/python3 -c 'import urllib.request as u
r = u.urlopen("http://127.0.0.1:8480/healthz", timeout=10)
body = r.read().decode()
print("healthz:", r.status, body)
assert r.status == 200' | tee "$LOG/healthz.txt"
}
# The sandbox under the unit's own hardening: a copy of the installed unit that runs
# doctor's bubblewrap check (bwrap starts, only lo) instead of serve.
sandbox_under_unit() {
    set -e
    in_boot sh -c 'sed -e "/^ExecStart=/c\\ExecStart=/usr/lib/optirunner/bin/python -c \"from runner.commands.doctor import check_sandbox; c = check_sandbox(); print(c.status, c.detail); raise SystemExit(c.status != \\x27OK\\x27)\"" \
        -e "s/^Type=notify/Type=oneshot/" -e "/^WatchdogSec/d" -e "/^NotifyAccess/d" \
        -e "/^Condition/d" /lib/systemd/system/optirunner.service \
        >/run/systemd/system/optirunner-sandbox-probe.service
        systemctl daemon-reload
        rc=0; systemctl start optirunner-sandbox-probe.service || rc=$?
        journalctl -u optirunner-sandbox-probe.service -o cat --no-pager | tail -n 5
        rm -f /run/systemd/system/optirunner-sandbox-probe.service
        systemctl daemon-reload
        exit $rc'
}
# A real job for the stop step: the checkout, its mapping and the demo's short measuring
# settings in config.toml (restart to read them), then GitLab's note webhook, authenticated
# with the webhook secret `configure` stored (the credential optirunner-webhook-secret,
# serve's default GitLab token), and wait until the job runs.
queue_job() {
    set -e
    rm -f "$LOG/job-id.txt"
    in_boot sh -c "set -e
        mkdir -p $(dirname $JOB_REPO)
        cp -r /usr/share/optirunner/examples/inventory $JOB_REPO
        chown -R optirunner: $(dirname $JOB_REPO)
        cd $JOB_REPO
        as() { runuser -u optirunner -- env HOME=/var/lib/optirunner \"\$@\"; }
        as git init -q -b main .
        as git add -A
        as git -c user.name=deb-test -c user.email=deb-test@optirunner.invalid \
            commit -q -m 'the installed example'
        as git log --oneline
        cat >>/etc/optirunner/config.toml <<EOF

# deb-test: the job of the stop step (the demo's measuring settings)
[measure]
budget_s = 8
instruction_repeats = 1
noise_pairs = 6

[service.repositories]
\"$JOB_PROJECT\" = \"$JOB_REPO\"
EOF
        systemctl restart optirunner
        systemctl show -p ActiveState,SubState,MainPID optirunner"
    # The fixture delivery, pointed at the mapped project and the demo target; the secret
    # is decrypted inside the container and never printed. The job API takes a token.
    local out token
    token=$(api_token job-step)
    out=$(in_boot /usr/bin/python3 -c '
import json, subprocess, sys, time, urllib.error, urllib.request
project, target, api_token = sys.argv[1:4]
auth = {"Authorization": "Bearer " + api_token}
body = json.load(sys.stdin)
body["project"]["path_with_namespace"] = project
body["object_attributes"]["note"] = "/optimize " + target
body["object_attributes"]["id"] = int(time.time())  # a new note: not a duplicate delivery
token = subprocess.run(
    ["systemd-creds", "decrypt", "--name=optirunner-webhook-secret",
     "/etc/credstore.encrypted/optirunner-webhook-secret", "-"],
    capture_output=True, check=True).stdout.decode().strip()
assert token, "the stored webhook secret is empty"
api = "http://127.0.0.1:8480"
req = urllib.request.Request(api + "/webhooks/gitlab", data=json.dumps(body).encode(), headers={
    "Content-Type": "application/json", "X-Gitlab-Event": "Note Hook",
    "X-Gitlab-Instance": "https://gitlab.example.com", "X-Gitlab-Token": token,
    "Idempotency-Key": "deb-test-%d" % time.time_ns()})
try:
    r = urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as exc:
    r = exc
answer = r.read().decode()
print("webhook:", r.status, answer)
assert r.status == 202, "the webhook was not queued"
job = json.loads(answer)["job_id"]
deadline, state = time.monotonic() + 60, None
while time.monotonic() < deadline:
    data = json.load(urllib.request.urlopen(
        urllib.request.Request(api + "/api/jobs/" + job, headers=auth), timeout=10))
    if data["state"] != state:
        state = data["state"]
        print("job %s: %s" % (job, state), flush=True)
    if state != "queued":
        break
    time.sleep(0.25)
assert state == "running", "job %s is %s, not running" % (job, state)
print("job-id:", job)
' "$JOB_PROJECT" "$JOB_TARGET" "$token" <"$TOP/$JOB_FIXTURE" 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    echo "$out" | sed -n 's/^job-id: //p' >"$LOG/job-id.txt"
    test -s "$LOG/job-id.txt"
    in_boot systemctl status optirunner --no-pager -l -n 0 | sed -n '/CGroup:/,$p'
}
# `systemctl stop` while the job runs (or, when the job step was skipped, with none).
stop_drains() {
    set -e
    local expect=$1 job="" cursor cgroup t_stop t_end timeout_us jobs_json
    if [ "$expect" = 1 ]; then
        job=$(cat "$LOG/job-id.txt" 2>/dev/null || true)
        if [ -z "$job" ]; then
            echo "no job is running (the job step failed): nothing to drain; stopping anyway"
            in_boot systemctl stop optirunner || true
            return 1
        fi
        echo "job $job: $(in_boot /usr/bin/python3 -c 'import json, sys, urllib.request as u
req = u.Request("http://127.0.0.1:8480/api/jobs/" + sys.argv[1],
                headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.load(u.urlopen(req, timeout=10))["state"])' "$job" "$(api_token stop-step)")"
    fi
    cursor=$(in_boot journalctl -n 1 --show-cursor -q -o cat --no-pager | sed -n 's/^-- cursor: //p')
    cgroup=$(in_boot systemctl show -P ControlGroup optirunner)
    timeout_us=$(in_boot systemd-analyze timespan "$(in_boot systemctl show -P TimeoutStopUSec optirunner)" \
        | sed -n 's/^ *μs: *//p')
    t_stop=$(in_boot date +%s.%N)
    in_boot systemctl stop optirunner
    t_end=$(in_boot date +%s.%N)
    in_boot systemctl show -p ActiveState,Result,ExecMainCode,ExecMainStatus optirunner | tee "$LOG/stopped.txt"
    in_boot journalctl -u optirunner ${cursor:+--after-cursor="$cursor"} -o short-precise --no-pager \
        | tee "$LOG/stop-journal.txt"
    awk -v a="$t_stop" -v b="$t_end" -v t="$timeout_us" \
        'BEGIN { printf "stop took %.1f s (TimeoutStopSec %.0f s)\n", b - a, t / 1e6; exit !(b - a < t / 1e6) }'
    grep -qx ActiveState=inactive "$LOG/stopped.txt"
    grep -qx Result=success "$LOG/stopped.txt"
    grep -qx ExecMainStatus=0 "$LOG/stopped.txt"
    grep -q "draining $expect job(s)" "$LOG/stop-journal.txt"
    grep -q 'optirunner.listener: stopped$' "$LOG/stop-journal.txt"
    if grep -iE 'aborting|second SIGTERM|return to the queue|Killing process|timed out|watchdog' \
        "$LOG/stop-journal.txt"; then
        echo "the stop was not a clean drain (above)"
        return 1
    fi
    # Nothing of the unit is left: its cgroup is gone (or empty), no process of its user.
    in_boot sh -c "! test -s /sys/fs/cgroup$cgroup/cgroup.procs" ||
        { echo "processes left in $cgroup:"; in_boot cat "/sys/fs/cgroup$cgroup/cgroup.procs"; return 1; }
    if in_boot pgrep -u optirunner -a; then
        echo "processes of the optirunner user are left (above)"
        return 1
    fi
    echo "no process left (cgroup $cgroup)"
    [ -n "$job" ] || return 0
    # The job: finished by the drain, succeeded at its first attempt (not requeued, not
    # killed), after the stop was sent. The store, read as the service user.
    grep -q "job $job: worker exit 0 -> succeeded" "$LOG/stop-journal.txt"
    jobs_json=$(in_boot runuser -u optirunner -- env HOME=/var/lib/optirunner \
        STATE_DIRECTORY=/var/lib/optirunner optirunner jobs list --json)
    echo "$jobs_json" | in_boot /usr/bin/python3 -c '
import json, sys
job, t_stop = sys.argv[1], float(sys.argv[2])
rows = [j for j in json.load(sys.stdin) if j["id"] == job]
assert rows, "job %s is not in the store" % job
j = rows[0]
print("job %s: %s, attempt %d, finished %.1f s after the stop was sent: %s"
      % (job, j["state"], j["attempts"], (j["finished_at"] or 0) - t_stop, j["message"]))
assert j["state"] == "succeeded", "not succeeded"
assert j["attempts"] == 1, "more than one attempt"
assert j["finished_at"] and j["finished_at"] > t_stop, "it had ended before the stop"
' "$job" "$t_stop"
}
purge() {
    set -e
    in_boot env DEBIAN_FRONTEND=noninteractive apt-get purge -y optirunner
}
leftovers() {
    local left orphans
    snapshot >"$LOG/after.txt" || return 1
    grep -q '^/etc/passwd$' "$LOG/after.txt" || { echo "the snapshot of the root failed"; return 1; }
    # Anything named after the package, anywhere; users and groups; files whose owner or
    # group no longer exists (the removed service user's); then the full difference.
    left=$(grep -i 'optirunner' "$LOG/after.txt" || true)
    orphans=$($SNAP sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run \
        -o -path /mnt/dist \) -prune -o \( -nouser -o -nogroup \) -print' || echo "find failed")
    echo "--- new since before the install (dependencies, their users and systemd's state expected):"
    LC_ALL=C comm -13 "$LOG/before.txt" "$LOG/after.txt"
    if [ -n "$left$orphans" ]; then
        echo "--- LEFT BEHIND:"
        echo "$left"
        echo "$orphans"
        return 1
    fi
    echo "--- nothing named optirunner, no optirunner user or group, no file without an owner"
}

BOOT_REASON=""
if [ $root_ready != 1 ]; then
    BOOT_REASON="the package is not installed in a root"
elif [ -n "$NSPAWN_ERR" ]; then
    BOOT_REASON="systemd-nspawn cannot start a container here: $NSPAWN_ERR"
fi
[ -z "$BOOT_REASON" ] && start_boot
if [ -z "$BOOT_REASON" ] && run boot boot; then
    run service service_checks && record INFO healthz 0 "$(tail -n 1 "$LOG/healthz.txt")"
    run sandbox sandbox_under_unit
    # The stop step's job needs the sandbox that the previous step proved.
    if grep -q '^PASS  *sandbox ' "$SUMMARY"; then
        run job queue_job
        run stop stop_drains 1
    else
        skip job "the sandbox under the unit did not pass (sandbox step): a job cannot run there"
        run stop stop_drains 0
    fi
    run purge purge
    SNAP=in_boot run leftovers leftovers
    in_boot systemctl poweroff >/dev/null 2>&1 || true
else
    if [ -n "$BOOT_REASON" ]; then
        skip boot "$BOOT_REASON"
    else
        BOOT_REASON="the container did not boot (boot FAILED above)"
    fi
    for s in service sandbox job stop; do skip $s "$BOOT_REASON"; done
    if [ $root_ready = 1 ]; then
        # Purge without a booted systemd: the maintainer scripts still run.
        run purge in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y optirunner'
        run leftovers leftovers
    else
        for s in purge leftovers; do skip $s "$BOOT_REASON"; done
    fi
fi
if [ -n "$NSPAWN_PID" ]; then
    for _ in $(seq 30); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 1; done
    kill "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
fi
[ "${OPTIRUNNER_CI_KEEP:-0}" = 1 ] || umount_root

echo "deb-test summary ($(($(now) - T0)) s; logs in $LOG):"
cat "$SUMMARY"
count() { grep -c "^$1 " "$SUMMARY"; }
echo "deb-test: $(count PASS) passed, $(count FAIL) failed, $(count SKIPPED) skipped"
[ $FAILED -eq 0 ]
