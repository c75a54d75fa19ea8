// The memory guard (issue 16): sizes read from files, specs and configs are checked against the memory
// they imply before anything is allocated, so a one-line file cannot make pbit allocate gigabytes or
// die of std::bad_alloc after minutes of work.
#pragma once
#include <cstdint>
#include <string>

namespace pbit::detail {

/// The limit in bytes: PBIT_MAX_MEMORY (a number of bytes, or with K, M, G or T), else the memory
/// the system says is available (MemAvailable in /proc/meminfo, else 16 GB), or less where a memory
/// cgroup (a container's or a batch job's limit) leaves less room: cgroup_room_bytes(), or a resource
/// limit (ulimit -v or -d, as batch systems such as SGE's h_vmem set): rlimit_room_bytes(). The first
/// two are read at most about once a second (every sampler and every run whose observations pass
/// 4 MB checks); PBIT_MAX_MEMORY and the resource limits at every call.
double memory_limit_bytes();

/// The room this process's RLIMIT_AS and RLIMIT_DATA leave: each limit less the process's VmSize or
/// VmData (/proc/self/status), the smaller; < 0 when neither is set.
double rlimit_room_bytes();

/// The room the memory cgroups leave this process: the least, over the cgroup `self` names and each
/// of its ancestors up to `root` (a batch job's limit is usually on an ancestor), of its limit less
/// its usage without the inactive page cache: cgroup v2 (memory.max, memory.current, memory.stat
/// inactive_file under `root`), and v1 (memory.limit_in_bytes, usage_in_bytes, memory.stat
/// total_inactive_file under `root`/memory). Only `root` itself where `self`'s path is not found
/// under it (a container whose /sys/fs/cgroup is its own cgroup). < 0 when there is no limit or
/// none can be read.
double cgroup_room_bytes(const std::string& root = "/sys/fs/cgroup", const std::string& self = "/proc/self/cgroup");

/// Throws OutOfMemory naming `what`, the bytes it needs and the limit when `bytes` exceed the limit.
void check_memory(double bytes, const std::string& what);

/// What a check made on every run (a run's observations) leaves unchecked: reading the limits costs
/// two getrlimit calls, about half of a short run's own cost (a Python loop of sweep(1) on a small
/// graph), for an allocation no machine lacks room for. BetaSchedule::expand's 4 MB alike.
inline constexpr double kUncheckedRunBytes = 4e6;

/// "12.3 GB", "450 MB", ...
std::string format_bytes(double bytes);

}  // namespace pbit::detail
