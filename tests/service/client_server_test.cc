// End to end through the real programs: starts a server binary (ancat-server with a model,
// or the same main() around FakeRecognizer) on a loopback port and drives it with the real
// ancat-client binary, checking exit statuses, the transcript on the last stdout line, and
// the status codes of malformed requests. Health and reflection are checked with stubs.
//
// Settings, as environment variables or as NAME=VALUE lines of the file $ANCAT_TEST_ENV
// (tests/service/CMakeLists.txt writes one per variant):
//   ANCAT_SERVER_BIN, ANCAT_CLIENT_BIN, ANCAT_MODEL_DIR, ANCAT_DATA_DIR (tests/data),
//   ANCAT_EXPECT_TONES=1 when the server runs FakeRecognizer (known transcripts).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ancat/asr/v1/speech.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/service/test_audio.h"

extern char** environ;

namespace ancat::service {
namespace {

namespace fs = std::filesystem;
namespace pb = ::ancat::asr::v1;
using ::testing::HasSubstr;

std::string Env(const char* name) {
  static const bool loaded = [] {
    const char* file = std::getenv("ANCAT_TEST_ENV");
    if (file == nullptr) return true;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) {
        setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), /*overwrite=*/0);
      }
    }
    return true;
  }();
  (void)loaded;
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Starts `args` with stdout and stderr sent to files; returns the pid.
pid_t Spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct ClientRun {
  int exit_code = -1;
  std::string out, err;
  std::string LastLine() const {
    std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
    return lines.empty() ? "" : lines.back();
  }
};

std::string Describe(const ClientRun& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

// A running server process.
class ServerProcess {
 public:
  bool Start(const fs::path& dir, std::vector<std::string> extra = {}) {
    dir_ = dir;
    const fs::path port_file = dir / "port";
    fs::remove(port_file);
    std::vector<std::string> args = {Env("ANCAT_SERVER_BIN"), "--model", Env("ANCAT_MODEL_DIR"),
                                     "--listen", "127.0.0.1:0", "--port_file",
                                     port_file.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = Spawn(args, dir / "server.out", dir / "server.log");
    if (pid_ < 0) return false;
    // Model loading may take a while; the port file appears once serving.
    for (int i = 0; i < 1200 && !fs::exists(port_file); ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    port_ = std::atoi(ReadFile(port_file).c_str());
    return port_ > 0;
  }
  // SIGTERM, then the exit status.
  int Stop() {
    if (pid_ < 0) return -1;
    kill(pid_, SIGTERM);
    const int code = WaitExit(pid_);
    pid_ = -1;
    return code;
  }
  ~ServerProcess() { Stop(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string log() const { return ReadFile(dir_ / "server.log"); }
  pid_t pid() const { return pid_; }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Each test starts its own server in SetUp: a failure there fails the test (a failure in
// SetUpTestSuite would only mark the tests skipped, which ctest reports as not run).
class ClientServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("ANCAT_SERVER_BIN").empty()) << "ANCAT_SERVER_BIN is not set";
    ASSERT_FALSE(Env("ANCAT_CLIENT_BIN").empty()) << "ANCAT_CLIENT_BIN is not set";
    dir_ = new fs::path(fs::temp_directory_path() /
                        absl::StrCat("ancat_client_server_", getpid()));
    fs::create_directories(*dir_);
    // Three tone bursts (FakeRecognizer hears "tone tone tone"), a short one for paced
    // streaming, one larger than the server's message limit, and a headerless raw file.
    WriteFile(*dir_ / "tones.wav", testing::ToWav(testing::ToneBursts(3, 0.4, 1.0)));
    WriteFile(*dir_ / "short.wav", testing::ToWav(testing::ToneBursts(1, 0.4, 1.0)));
    WriteFile(*dir_ / "big.wav", testing::ToWav(std::vector<float>(16000 * 40, 0.0f)));
    WriteFile(*dir_ / "tones.raw", testing::ToLinear16(testing::ToneBursts(1, 0.4, 1.0)));
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start(*dir_, {"--max_message_bytes", "1048576"}))
        << "server did not start: " << Env("ANCAT_SERVER_BIN") << "\n" << server_->log();
  }
  void TearDown() override {
    delete server_;
    server_ = nullptr;
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static ClientRun Client(std::vector<std::string> args, const std::string& address = "") {
    static int n = 0;
    const fs::path out = *dir_ / absl::StrCat("client", ++n, ".out");
    const fs::path err = *dir_ / absl::StrCat("client", n, ".err");
    args.insert(args.begin(),
                {Env("ANCAT_CLIENT_BIN"), "--server", address.empty() ? server_->address() : address,
                 "--timeout_s", "120"});
    ClientRun run;
    const pid_t pid = Spawn(args, out, err);
    if (pid < 0) return run;
    run.exit_code = WaitExit(pid);
    run.out = ReadFile(out);
    run.err = ReadFile(err);
    return run;
  }

  static fs::path Data(const std::string& rel) { return fs::path(Env("ANCAT_DATA_DIR")) / rel; }
  static bool ExpectTones() { return Env("ANCAT_EXPECT_TONES") == "1"; }

  static fs::path* dir_;
  static ServerProcess* server_;
};

fs::path* ClientServerTest::dir_ = nullptr;
ServerProcess* ClientServerTest::server_ = nullptr;

TEST_F(ClientServerTest, HealthIsServing) {
  ClientRun r = Client({"health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.LastLine(), "SERVING");
}

TEST_F(ClientServerTest, ReflectionListsTheServices) {
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto call = stub->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(call->Write(request));
  call->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(call->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"ancat.asr.v1.Speech", "grpc.health.v1.Health"}));
  EXPECT_TRUE(call->Finish().ok());

  // The service's schema can be fetched too (what grpcurl and Postman need).
  grpc::ClientContext context2;
  auto call2 = stub->ServerReflectionInfo(&context2);
  request.set_file_containing_symbol("ancat.asr.v1.Speech");
  ASSERT_TRUE(call2->Write(request));
  call2->WritesDone();
  ASSERT_TRUE(call2->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0);
  call2->Finish();
}

TEST_F(ClientServerTest, InfoDescribesTheModel) {
  ClientRun r = Client({"info"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("sample_rate_hertz: 16000"));
  EXPECT_THAT(r.out, HasSubstr("lookahead_ms: "));
}

TEST_F(ClientServerTest, StreamAndRecognizeAgree) {
  const std::string wav = (*dir_ / "tones.wav").string();
  ClientRun streamed = Client({"stream", "--fast", wav});
  ASSERT_EQ(streamed.exit_code, 0) << Describe(streamed);
  EXPECT_THAT(streamed.err, HasSubstr("final "));
  ClientRun whole = Client({"recognize", wav});
  ASSERT_EQ(whole.exit_code, 0) << Describe(whole);
  EXPECT_EQ(streamed.LastLine(), whole.LastLine());
  if (ExpectTones()) EXPECT_EQ(streamed.LastLine(), "tone tone tone");
}

TEST_F(ClientServerTest, ConcurrentClientsGetTheSameTranscript) {
  // Several clients at once: the scheduler batches their streams together, and each must get
  // what it gets alone.
  const std::string wav = Data("audio/speech_16k.wav").string();
  ClientRun alone = Client({"stream", "--fast", wav});
  ASSERT_EQ(alone.exit_code, 0) << Describe(alone);
  constexpr int kClients = 6;
  std::vector<pid_t> pids;
  for (int i = 0; i < kClients; ++i) {
    pids.push_back(Spawn({Env("ANCAT_CLIENT_BIN"), "--server", server_->address(), "stream",
                          "--fast", "--chunk_ms", std::to_string(20 + 40 * i), wav},
                         *dir_ / absl::StrCat("concurrent", i, ".out"),
                         *dir_ / absl::StrCat("concurrent", i, ".err")));
    ASSERT_GT(pids.back(), 0);
  }
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(WaitExit(pids[i]), 0) << ReadFile(*dir_ / absl::StrCat("concurrent", i, ".err"));
    ClientRun r;
    r.out = ReadFile(*dir_ / absl::StrCat("concurrent", i, ".out"));
    EXPECT_EQ(r.LastLine(), alone.LastLine()) << "client " << i;
  }
}

TEST_F(ClientServerTest, PacedStreamShowsPartials) {
  ClientRun r = Client({"stream", (*dir_ / "short.wav").string()});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  if (ExpectTones()) {
    EXPECT_THAT(r.err, HasSubstr("partial"));
    EXPECT_THAT(r.err, HasSubstr("SPEECH_ACTIVITY_BEGIN"));
    EXPECT_EQ(r.LastLine(), "tone");
  }
}

TEST_F(ClientServerTest, BundledSpeechSampleInEveryContainer) {
  // The same speech as WAV, FLAC and Ogg: the server reads each container itself.
  ClientRun wav = Client({"stream", "--fast", Data("audio/speech_16k.wav").string()});
  ASSERT_EQ(wav.exit_code, 0) << Describe(wav);
  for (const char* name : {"audio/speech_16k.flac", "audio/speech_16k.ogg",
                           "audio/speech_16k.opus", "audio/speech_8k_mulaw.wav"}) {
    if (!fs::exists(Data(name))) continue;
    ClientRun r = Client({"recognize", Data(name).string()});
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << Describe(r);
    ClientRun s = Client({"stream", "--encoding", "file", Data(name).string()});
    EXPECT_EQ(s.exit_code, 0) << name << "\n" << Describe(s);
    EXPECT_EQ(r.LastLine(), s.LastLine()) << name;
  }
}

TEST_F(ClientServerTest, RawMulawFile) {
  // Headerless 8 kHz G.711: the server converts and resamples it as it streams in.
  ClientRun r = Client({"stream", "--fast", "--encoding", "mulaw", "--sample_rate", "8000",
                        Data("audio/speech_8k.ul").string()});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ClientRun w = Client({"recognize", Data("audio/speech_8k_mulaw.wav").string()});
  ASSERT_EQ(w.exit_code, 0) << Describe(w);
  EXPECT_EQ(r.LastLine(), w.LastLine());
}

TEST_F(ClientServerTest, RawLinear16File) {
  ClientRun r = Client({"stream", "--fast", "--encoding", "linear16", "--sample_rate", "16000",
                        (*dir_ / "tones.raw").string()});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  if (ExpectTones()) EXPECT_EQ(r.LastLine(), "tone");
}

TEST_F(ClientServerTest, MalformedConfigIsInvalidArgument) {
  ClientRun r = Client({"stream", "--fast", "--encoding", "linear16", "--sample_rate", "4000",
                        (*dir_ / "tones.raw").string()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: streaming_config.config."
                               "sample_rate_hertz: 4000 is outside [8000, 48000]"));
  r = Client({"recognize", "--max_alternatives", "50", (*dir_ / "tones.wav").string()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: config.max_alternatives: 50"));
  r = Client({"stream", "--lookahead_bias", "-1", (*dir_ / "tones.wav").string()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("latency.lookahead_bias"));
}

TEST_F(ClientServerTest, CorruptAudioIsInvalidArgument) {
  for (const char* name : {"audio/garbage.wav", "audio/corrupt.flac", "audio/not_audio.txt",
                           "audio/truncated.wav", "audio/truncated.flac",
                           "audio/header_only.wav"}) {
    if (!fs::exists(Data(name))) continue;
    ClientRun r = Client({"recognize", Data(name).string()});
    EXPECT_EQ(r.exit_code, 1) << name << "\n" << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: audio.content: ")) << name;
    r = Client({"stream", "--encoding", "file", Data(name).string()});
    EXPECT_EQ(r.exit_code, 1) << name << "\n" << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: audio_content (end of stream)"))
        << name;
  }
  // A raw LINEAR16 stream that ends in the middle of a sample.
  WriteFile(*dir_ / "odd.raw", std::string(3201, '\1'));
  ClientRun r = Client({"stream", "--fast", "--encoding", "linear16", "--sample_rate", "16000",
                        (*dir_ / "odd.raw").string()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT"));
}

TEST_F(ClientServerTest, OversizedMessageIsResourceExhausted) {
  ClientRun r = Client({"recognize", (*dir_ / "big.wav").string()});  // 1.28 MB > 1 MiB limit
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: RESOURCE_EXHAUSTED"));
}

TEST_F(ClientServerTest, WrongFirstMessageIsInvalidArgument) {
  auto stub = pb::Speech::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto call = stub->StreamingRecognize(&context);
  pb::StreamingRecognizeRequest audio;
  audio.set_audio_content(std::string(3200, '\0'));
  call->Write(audio);
  call->WritesDone();
  pb::StreamingRecognizeResponse response;
  while (call->Read(&response)) {
  }
  grpc::Status status = call->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("first message must carry streaming_config"));
}

TEST_F(ClientServerTest, ClientFailsCleanly) {
  ClientRun usage = Client({"transcribe"});
  EXPECT_EQ(usage.exit_code, 2) << Describe(usage);
  ClientRun missing = Client({"recognize", (*dir_ / "no-such-file.wav").string()});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  // Nothing listens on the port of a server that was started and stopped.
  const fs::path gone_dir = *dir_ / "gone";
  fs::create_directories(gone_dir);
  ServerProcess gone;
  ASSERT_TRUE(gone.Start(gone_dir)) << gone.log();
  const std::string address = gone.address();
  ASSERT_EQ(gone.Stop(), 0);
  ClientRun r = Client({"--timeout_s", "5", "info"}, address);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: "));
}

TEST_F(ClientServerTest, ServerRefusesABadStart) {
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), Env("ANCAT_SERVER_BIN"));
    const pid_t pid = Spawn(args, *dir_ / "bad.out", *dir_ / "bad.err");
    const int code = WaitExit(pid);  // before reading what it wrote
    return std::make_pair(code, ReadFile(*dir_ / "bad.err"));
  };
  auto [code, err] = run({"--listen", "127.0.0.1:0"});  // no --model
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("--model DIR is required"));
  std::tie(code, err) = run({"--model", Env("ANCAT_MODEL_DIR"), "--listen", "nowhere"});
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("listen: 'nowhere' is not HOST:PORT"));
  // The shared server holds its port already.
  std::tie(code, err) = run({"--model", Env("ANCAT_MODEL_DIR"), "--listen", server_->address()});
  EXPECT_EQ(code, 1) << err;
  EXPECT_THAT(err, HasSubstr("cannot listen on"));
  if (!ExpectTones()) {  // the real recognizer reads the folder
    std::tie(code, err) = run({"--model", (*dir_ / "no-model").string(), "--listen",
                               "127.0.0.1:0"});
    EXPECT_EQ(code, 1) << err;
    EXPECT_THAT(err, HasSubstr("event=model_load_failed"));
  }
}

TEST_F(ClientServerTest, SigtermDrainsAnOpenStream) {
  // A second server, so that the shared one stays up for the other tests.
  const fs::path dir = *dir_ / "drain";
  fs::create_directories(dir);
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir, {"--drain_seconds", "60"})) << server.log();
  // A paced stream of 3.2 s; SIGTERM arrives once the server has its config.
  const fs::path out = dir / "client.out", err = dir / "client.err";
  const pid_t client = Spawn({Env("ANCAT_CLIENT_BIN"), "--server", server.address(), "stream",
                              (*dir_ / "tones.wav").string()},
                             out, err);
  ASSERT_GT(client, 0);
  bool open = false;
  for (int i = 0; i < 3000 && !open; ++i) {  // the client connects within moments
    open = server.log().find("event=stream_config") != std::string::npos;
    if (!open) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!open) kill(client, SIGKILL);
  ASSERT_TRUE(open) << "the stream never reached the server:\n" << server.log();
  kill(server.pid(), SIGTERM);
  // The open stream completes normally; then the server exits cleanly.
  EXPECT_EQ(WaitExit(client), 0) << ReadFile(err);
  if (ExpectTones()) {
    std::vector<std::string> lines = absl::StrSplit(ReadFile(out), '\n', absl::SkipEmpty());
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back(), "tone tone tone");
  }
  EXPECT_EQ(server.Stop(), 0);
  const std::string log = server.log();
  EXPECT_THAT(log, HasSubstr("event=drain_begin open_calls=1"));
  EXPECT_THAT(log, HasSubstr("event=drain_end drained=true"));
}

}  // namespace
}  // namespace ancat::service
