#include "client/bench/system.h"

#include <dirent.h>
#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ancat::bench {

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int64_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int64_t HeapBytesInUse() {
  malloc_trim(0);
  struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);  // small blocks + mmapped blocks
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (absl::StartsWith(line, "model name")) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return std::string(absl::StripAsciiWhitespace(line.substr(pos + 1)));
    }
  }
  return "unknown";
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

double LoadAverage1() {
  std::ifstream f("/proc/loadavg");
  double load = -1;
  f >> load;
  return load;
}

namespace {

// idle + iowait jiffies per CPU from /proc/stat.
std::map<int, int64_t> IdleJiffies() {
  std::ifstream f("/proc/stat");
  std::string line;
  std::map<int, int64_t> idle;
  while (std::getline(f, line)) {
    if (!absl::StartsWith(line, "cpu") || line.size() < 4 || line[3] == ' ') continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int cpu = 0;
    int64_t a = 0, b = 0;
    if (parts.size() > 5 && absl::SimpleAtoi(parts[0].substr(3), &cpu) &&
        absl::SimpleAtoi(parts[4], &a) && absl::SimpleAtoi(parts[5], &b)) {
      idle[cpu] = a + b;
    }
  }
  return idle;
}

}  // namespace

int QuietestCpu(const std::vector<int>& cpus, double seconds) {
  if (cpus.empty()) return 0;
  auto before = IdleJiffies();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto after = IdleJiffies();
  int best = cpus.front();
  int64_t best_idle = -1;
  for (int c : cpus) {
    int64_t idle = after[c] - before[c];
    if (idle > best_idle) best = c, best_idle = idle;
  }
  return best;
}

absl::Status PinProcess(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return absl::InternalError("cannot list /proc/self/task");
  absl::Status status;
  while (dirent* e = readdir(dir)) {
    int tid = 0;
    if (!absl::SimpleAtoi(e->d_name, &tid)) continue;
    if (sched_setaffinity(tid, sizeof(set), &set) != 0) {
      status = absl::InternalError(absl::StrCat("sched_setaffinity failed for thread ", tid));
    }
  }
  closedir(dir);
  return status;
}

double Percentile(std::vector<double> values, double pct) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  double pos = pct / 100.0 * (values.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - lo) * (values[hi] - values[lo]);
}

}  // namespace ancat::bench
