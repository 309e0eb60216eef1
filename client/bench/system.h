// Process-level facts ancat-bench measures with: clocks, memory, CPU placement, machine load.
#ifndef ANCAT_CLIENT_BENCH_SYSTEM_H_
#define ANCAT_CLIENT_BENCH_SYSTEM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ancat::bench {

double WallSeconds();         // monotonic
double ProcessCpuSeconds();   // user + system time of every thread of this process
int64_t ResidentBytes();      // RSS from /proc/self/statm
int64_t HeapBytesInUse();     // malloc's bytes handed out (mallinfo2), after malloc_trim
std::string CpuModel();       // /proc/cpuinfo "model name"
std::vector<int> AllowedCpus();  // CPUs this process may run on now
double LoadAverage1();        // /proc/loadavg, first field

// The CPU among `cpus` with the most idle time over `seconds` (the machine is shared: a
// single-core measurement should sit on the quieter core).
int QuietestCpu(const std::vector<int>& cpus, double seconds);

// Restricts every thread of this process (OpenMP workers included) to `cpus`; threads made
// later inherit it from their creator.
absl::Status PinProcess(const std::vector<int>& cpus);

// Percentile (0..100) of values, linear interpolation; 0 for an empty list.
double Percentile(std::vector<double> values, double pct);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_SYSTEM_H_
