// ancat-batch on the tiny model: good files give JSON lines in input order, bad ones are
// reported on stderr and skipped.
#include "client/batch/batch.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ancat::client {
namespace {

const std::string kSource = ANCAT_SOURCE_DIR;
const std::string kModelDir = kSource + "/tests/data/tiny-model";

std::string WriteList(const std::string& name, const std::vector<std::string>& paths) {
  const std::string list = ::testing::TempDir() + "/" + name;
  std::ofstream out(list);
  out << "# audio to transcribe\n";
  for (const std::string& p : paths) out << p << "\n\n";
  return list;
}

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

const std::vector<std::string> kMixed = {
    kSource + "/tests/data/audio/speech_16k.wav",
    kSource + "/tests/data/audio/not_audio.txt",    // not audio
    kSource + "/tests/data/audio/speech_8k.wav",    // resampled to 16 kHz
    kSource + "/tests/data/audio/missing.wav",      // does not exist
    kSource + "/tests/data/audio/speech2_16k.wav",
};

TEST(Batch, GoodFilesInOrderBadFilesReported) {
  BatchConfig c;
  c.model_dir = kModelDir;
  c.input = WriteList("mixed.txt", kMixed);
  c.output = ::testing::TempDir() + "/mixed.jsonl";
  c.threads = 2;
  std::ostringstream err;
  auto summary = RunBatch(c, err);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->files, 5);
  EXPECT_EQ(summary->failed, 2);
  EXPECT_NE(err.str().find("not_audio.txt"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("missing.wav"), std::string::npos) << err.str();
  std::vector<nlohmann::json> lines = ReadJsonl(c.output);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["audio"], kMixed[0]);
  EXPECT_EQ(lines[1]["audio"], kMixed[2]);
  EXPECT_EQ(lines[2]["audio"], kMixed[4]);
  for (const auto& l : lines) {
    ASSERT_TRUE(l["text"].is_string());
    EXPECT_GT(l["duration_s"].get<double>(), 0.5);
  }
  // The same transcript with one thread: the threads do not change results.
  c.threads = 1;
  c.output = ::testing::TempDir() + "/mixed1.jsonl";
  std::ostringstream err1;
  ASSERT_TRUE(RunBatch(c, err1).ok());
  std::vector<nlohmann::json> one = ReadJsonl(c.output);
  ASSERT_EQ(one.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(one[i]["text"], lines[i]["text"]);
}

TEST(Batch, ConfigAndListErrors) {
  std::ostringstream err;
  BatchConfig c{.model_dir = kModelDir, .input = "/nonexistent/list", .output = "/tmp/x.jsonl"};
  EXPECT_EQ(RunBatch(c, err).status().code(), absl::StatusCode::kNotFound);
  c.threads = 0;
  EXPECT_NE(c.Validate().message().find("--threads"), std::string::npos);
}

int RunTool(const std::string& args) {
  const int rc = std::system((std::string(ANCAT_BATCH_BIN) + " " + args + " 2>/dev/null").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(BatchTool, ExitStatusAndOutput) {
  const std::string out = ::testing::TempDir() + "/tool.jsonl";
  const std::string list = WriteList("tool.txt", kMixed);
  EXPECT_EQ(RunTool("--model " + kModelDir + " --input " + list + " --output " + out), 1);
  EXPECT_EQ(ReadJsonl(out).size(), 3u);
  const std::string good = WriteList("good.txt", {kMixed[0]});
  EXPECT_EQ(RunTool("--model " + kModelDir + " --input " + good + " --output " + out +
                    " --threads 2 --decoding greedy"),
            0);
  ASSERT_EQ(ReadJsonl(out).size(), 1u);
  EXPECT_EQ(ReadJsonl(out)[0]["audio"], kMixed[0]);
  EXPECT_EQ(RunTool("--model /nonexistent --input " + good + " --output " + out), 2);
}

}  // namespace
}  // namespace ancat::client
