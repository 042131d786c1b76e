# Sourced by the benchmark scripts: a cgroup v1 memory group whose limit is a run's cap (page cache included, as
# the kernel charges it), and `capped LIMIT CMD...`, which runs CMD inside it from a cold page cache. Needs root
# and cgroup v1 (/sys/fs/cgroup/memory); `cgroup_init` fails with a message otherwise. After a run,
# "$cg/memory.max_usage_in_bytes" and "$cg/memory.failcnt" hold its peak and how often it hit the limit.
cgroup_init() {
    cg=/sys/fs/cgroup/memory/swapmoe-bench-$$
    [ -d /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/memory ] || { echo "needs root and cgroup v1 (/sys/fs/cgroup/memory)" >&2; return 1; }
    mkdir -p "$cg"
    trap 'rmdir "$cg" 2>/dev/null || true' EXIT
}
capped() {
    local limit=$1; shift
    sync; echo 3 > /proc/sys/vm/drop_caches
    echo 0 > "$cg/memory.max_usage_in_bytes" 2>/dev/null || true
    echo 0 > "$cg/memory.failcnt" 2>/dev/null || true
    echo "$limit" > "$cg/memory.limit_in_bytes"
    sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" "$@"
}
