#include "client/bench/peers.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ancat::bench {

namespace fs = std::filesystem;

absl::Status PeerConfig::Validate() const {
  if (repo_dir.empty() || !fs::exists(fs::path(repo_dir) / "client/bench/peers")) {
    return absl::InvalidArgumentError(
        absl::StrCat("PeerConfig.repo_dir: no client/bench/peers under '", repo_dir, "'"));
  }
  if (model_dir.empty()) return absl::InvalidArgumentError("PeerConfig.model_dir is empty");
  if (audio_wav.empty()) return absl::InvalidArgumentError("PeerConfig.audio_wav is empty");
  if (work_dir.empty()) return absl::InvalidArgumentError("PeerConfig.work_dir is empty");
  if (threads < 1) return absl::InvalidArgumentError("PeerConfig.threads must be >= 1");
  if (!(min_seconds > 0)) return absl::InvalidArgumentError("PeerConfig.min_seconds must be > 0");
  if (chunk_frames < 1) return absl::InvalidArgumentError("PeerConfig.chunk_frames must be >= 1");
  return absl::OkStatus();
}

std::string PeerConfig::ToString() const {
  return absl::StrFormat(
      "PeerConfig{repo_dir=%s, python=%s, node=%s, model_dir=%s, audio_wav=%s, work_dir=%s, "
      "onnx=%s, threads=%d, cpus=[%s], min_seconds=%.1f, chunk_frames=%d}",
      repo_dir, python, node, model_dir, audio_wav, work_dir, onnx.empty() ? "(export)" : onnx,
      threads, absl::StrJoin(cpus, ","), min_seconds, chunk_frames);
}

absl::StatusOr<ChildOutput> RunChild(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     const std::vector<int>& cpus, const std::string& log_path) {
  // Everything the child needs is built here: between fork and exec only async-signal-safe
  // calls are allowed (the parent has OpenMP threads).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    std::string key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& o : env) overridden |= o.substr(0, o.find('=')) == key;
    if (!overridden) env_strings.push_back(kv);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp, args;
  for (auto& kv : env_strings) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) return absl::InternalError("pipe() failed");
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork() failed");
  if (pid == 0) {  // child: only async-signal-safe work until exec
    if (!cpus.empty()) sched_setaffinity(0, sizeof(set), &set);
    dup2(pipe_fd[1], 1);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) dup2(log, 2);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(pipe_fd[1]);
  ChildOutput result;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.out.append(buf, n);
  }
  close(pipe_fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream log(log_path);
  std::stringstream ss;
  ss << log.rdbuf();
  std::vector<std::string> lines = absl::StrSplit(ss.str(), '\n', absl::SkipWhitespace());
  size_t from = lines.size() > 6 ? lines.size() - 6 : 0;
  result.err_tail = absl::StrJoin(lines.begin() + from, lines.end(), "\n");
  return result;
}

namespace {

// Runs a peer script and parses the JSON object on the last line of its stdout.
absl::StatusOr<nlohmann::json> RunJsonChild(const std::string& what,
                                            const std::vector<std::string>& argv,
                                            const std::vector<std::string>& env,
                                            const PeerConfig& config) {
  std::string log = (fs::path(config.work_dir) / (what + ".log")).string();
  auto child = RunChild(argv, env, config.cpus, log);
  if (!child.ok()) return child.status();
  if (child->exit_code != 0) {
    return absl::UnavailableError(absl::StrFormat("%s exited with %d (log %s): %s", what,
                                                  child->exit_code, log, child->err_tail));
  }
  std::vector<std::string> lines = absl::StrSplit(child->out, '\n', absl::SkipWhitespace());
  if (lines.empty()) return absl::UnavailableError(absl::StrCat(what, " printed nothing"));
  auto json = nlohmann::json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::UnavailableError(absl::StrCat(what, " printed no JSON object: ", lines.back()));
  }
  return json;
}

std::string PeersDir(const PeerConfig& c) { return (fs::path(c.repo_dir) / "client/bench/peers").string(); }

// One-thread settings for every threading layer a peer might use.
std::vector<std::string> ThreadEnv(const PeerConfig& c) {
  std::string t = std::to_string(c.threads);
  return {"OMP_NUM_THREADS=" + t, "OPENBLAS_NUM_THREADS=" + t, "MKL_NUM_THREADS=" + t};
}

}  // namespace

absl::StatusOr<nlohmann::json> RunTorchPeer(const PeerConfig& config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  std::vector<std::string> env = ThreadEnv(config);
  // OpenBLAS unpacked by peers/install.sh; without it Debian's torch calls the reference BLAS.
  fs::path blas = fs::path(PeersDir(config)) / ".deps/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp";
  if (fs::exists(blas / "libblas.so.3")) env.push_back("LD_LIBRARY_PATH=" + blas.string());
  fs::path w(config.work_dir);
  std::vector<std::string> argv = {
      config.python, PeersDir(config) + "/torch_bench.py", "--model", config.model_dir,
      "--audio", config.audio_wav, "--threads", std::to_string(config.threads),
      "--min_seconds", absl::StrCat(config.min_seconds), "--chunk_frames",
      std::to_string(config.chunk_frames), "--dump_features", (w / "features.f32").string(),
      "--dump_encoder_out", (w / "torch_encoder_out.f32").string()};
  return RunJsonChild("pytorch", argv, env, config);
}

absl::StatusOr<nlohmann::json> RunOrtPeer(const PeerConfig& config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  fs::path w(config.work_dir);
  if (!fs::exists(w / "features.f32")) {
    return absl::FailedPreconditionError("onnxruntime peer: the torch peer wrote no features");
  }
  if (!fs::exists(fs::path(PeersDir(config)) / ".deps/node/node_modules/onnxruntime-node")) {
    return absl::FailedPreconditionError(
        "onnxruntime-node is not installed: run client/bench/peers/install.sh");
  }
  std::string onnx = config.onnx;
  if (onnx.empty()) {  // the recipe's own export of the same weights
    onnx = (w / "encoder.onnx").string();
    std::vector<std::string> argv = {config.python,
                                     config.repo_dir + "/models/recipe/export.py",
                                     "--model-dir", config.model_dir, "--out", onnx, "--onnx"};
    auto child = RunChild(argv, {}, config.cpus, (w / "onnx_export.log").string());
    if (!child.ok()) return child.status();
    if (child->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat("ONNX export failed: ", child->err_tail));
    }
  }
  // The streaming pieces (onnx_streaming_export.py) of the same weights.
  const std::string stream_dir = (w / "onnx-streaming").string();
  {
    std::vector<std::string> argv = {config.python, PeersDir(config) + "/onnx_streaming_export.py",
                                     "--model", config.model_dir, "--out", stream_dir};
    auto child = RunChild(argv, {}, config.cpus, (w / "onnx_streaming_export.log").string());
    if (!child.ok()) return child.status();
    if (child->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat("streaming ONNX export failed: ", child->err_tail));
    }
  }
  std::vector<std::string> argv = {
      config.node, PeersDir(config) + "/ort_bench.js", "--onnx=" + onnx,
      "--streaming_dir=" + stream_dir, "--chunk_frames=" + std::to_string(config.chunk_frames),
      "--features=" + (w / "features.f32").string(),
      "--reference=" + (w / "torch_encoder_out.f32").string(),
      "--threads=" + std::to_string(config.threads),
      "--min_seconds=" + absl::StrCat(config.min_seconds)};
  auto json = RunJsonChild("onnxruntime", argv, ThreadEnv(config), config);
  if (json.ok()) (*json)["onnx"] = onnx;
  return json;
}

}  // namespace ancat::bench
