// The Speech service end to end over a loopback gRPC channel, in process, with
// FakeRecognizer behind it: status codes and messages for every malformed request, results
// and speech events for good ones, limits, vanishing clients, health and graceful drain.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "ancat/asr/v1/speech.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "service/server.h"
#include "tests/service/fake_recognizer.h"
#include "tests/service/test_audio.h"

namespace ancat::service {
namespace {

using ::testing::HasSubstr;
using Response = pb::StreamingRecognizeResponse;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

constexpr int kMaxMessageBytes = 256 << 10;

struct StreamOutcome {
  grpc::Status status;
  std::vector<Response> responses;
  std::vector<std::string> finals;
  int partials = 0;
};

class ServiceTest : public ::testing::Test {
 protected:
  void StartServer(ServerConfig config = {}) {
    config.listen = "127.0.0.1:0";
    config.max_message_bytes = kMaxMessageBytes;
    if (config.drain_seconds == ServerConfig{}.drain_seconds) config.drain_seconds = 10;
    auto server = AsrServer::Start(config, recognizer_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(16 << 20);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = pb::Speech::NewStub(channel_);
  }

  void SetUp() override { StartServer(); }

  static pb::StreamingRecognizeRequest Config(pb::AudioEncoding encoding, int rate,
                                              bool interim = true) {
    pb::StreamingRecognizeRequest r;
    auto* sc = r.mutable_streaming_config();
    sc->mutable_config()->set_encoding(encoding);
    sc->mutable_config()->set_sample_rate_hertz(rate);
    sc->set_interim_results(interim);
    return r;
  }
  static pb::StreamingRecognizeRequest Audio(std::string bytes) {
    pb::StreamingRecognizeRequest r;
    r.set_audio_content(std::move(bytes));
    return r;
  }

  // Sends `requests` (then half-closes) and collects everything the server answers.
  StreamOutcome RunStream(const std::vector<pb::StreamingRecognizeRequest>& requests) {
    grpc::ClientContext context;
    auto call = stub_->StreamingRecognize(&context);
    for (const auto& r : requests) {
      if (!call->Write(r)) break;
    }
    call->WritesDone();
    return Collect(call.get());
  }

  template <typename Call>
  static StreamOutcome Collect(Call* call) {
    StreamOutcome out;
    Response response;
    while (call->Read(&response)) {
      for (const auto& r : response.results()) {
        if (r.is_final()) {
          out.finals.push_back(r.alternatives(0).transcript());
        } else {
          ++out.partials;
        }
      }
      out.responses.push_back(response);
    }
    out.status = call->Finish();
    return out;
  }

  static std::vector<pb::StreamingRecognizeRequest> Chunked(pb::StreamingRecognizeRequest first,
                                                             const std::string& bytes,
                                                             size_t chunk = 3200) {
    std::vector<pb::StreamingRecognizeRequest> out = {std::move(first)};
    for (size_t pos = 0; pos < bytes.size(); pos += chunk) out.push_back(Audio(bytes.substr(pos, chunk)));
    return out;
  }

  HealthResponse::ServingStatus Health() {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    HealthResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  }

  testing::FakeRecognizer recognizer_;
  std::unique_ptr<AsrServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Speech::Stub> stub_;
};

TEST_F(ServiceTest, StreamsLinear16WithPartialsFinalsAndEvents) {
  grpc::ClientContext context;
  auto call = stub_->StreamingRecognize(&context);
  ASSERT_TRUE(call->Write(Config(pb::LINEAR16, 16000)));
  // The start of a burst first: the server must answer it with the speech-begin event and a
  // partial before it has heard the rest.
  ASSERT_TRUE(call->Write(Audio(testing::ToLinear16(testing::ToneBursts(1, 0.2, 0.0)))));
  Response begin, partial;
  ASSERT_TRUE(call->Read(&begin));
  EXPECT_EQ(begin.speech_event_type(), Response::SPEECH_ACTIVITY_BEGIN);
  ASSERT_TRUE(call->Read(&partial));
  ASSERT_EQ(partial.results_size(), 1);
  EXPECT_FALSE(partial.results(0).is_final());
  EXPECT_EQ(partial.results(0).alternatives(0).transcript(), "tone");
  // The rest in odd-sized chunks that split samples.
  const std::string pcm = testing::ToLinear16(testing::ToneBursts(2, 0.4, 1.0));
  for (size_t pos = 0; pos < pcm.size(); pos += 1001) {
    ASSERT_TRUE(call->Write(Audio(pcm.substr(pos, 1001))));
  }
  call->WritesDone();
  StreamOutcome out = Collect(call.get());
  out.responses.insert(out.responses.begin(), {begin, partial});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, (std::vector<std::string>{"tone", "tone"}));
  int begins = 0, ends = 0;
  for (const auto& r : out.responses) {
    begins += r.speech_event_type() == Response::SPEECH_ACTIVITY_BEGIN;
    ends += r.speech_event_type() == Response::SPEECH_ACTIVITY_END;
  }
  EXPECT_EQ(begins, 2);
  EXPECT_EQ(ends, 2);
  // Finals carry utterance indices 0, 1 and the lookahead latency the recognizer reported.
  int index = 0;
  for (const auto& r : out.responses) {
    for (const auto& res : r.results()) {
      if (!res.is_final()) continue;
      EXPECT_EQ(res.utterance_index(), index++);
      EXPECT_FLOAT_EQ(res.lookahead_latency().mean_ms(), 80);
    }
  }
}

TEST_F(ServiceTest, ResamplesAndDownmixesRawAudio) {
  // 8 kHz stereo MULAW is converted to 16 kHz mono before the recognizer sees it.
  const std::vector<float> tone = testing::ToneBursts(1, 0.5, 1.0, 8000);
  std::string mulaw;
  for (float s : tone) {  // G.711 mu-law encoding of each sample, twice (two channels)
    int v = static_cast<int>(std::lrint(s * 32767.0f));
    const int sign = v < 0 ? 0x80 : 0;
    if (v < 0) v = -v;
    v = std::min(v + 132, 32635);
    int exponent = 7;
    for (int mask = 0x4000; (v & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
    const int mantissa = (v >> (exponent + 3)) & 0x0f;
    const char byte = static_cast<char>(~(sign | (exponent << 4) | mantissa));
    mulaw += byte;
    mulaw += byte;
  }
  auto first = Config(pb::MULAW, 8000);
  first.mutable_streaming_config()->mutable_config()->set_audio_channel_count(2);
  StreamOutcome out = RunStream(Chunked(first, mulaw, 801));
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, std::vector<std::string>{"tone"});
}

TEST_F(ServiceTest, ContainerStreamIsReadAtTheEnd) {
  const std::string wav = testing::ToWav(testing::ToneBursts(3, 0.3, 1.0));
  StreamOutcome out = RunStream(Chunked(Config(pb::ENCODING_UNSPECIFIED, 0), wav, 4096));
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, (std::vector<std::string>{"tone", "tone", "tone"}));
}

TEST_F(ServiceTest, NoInterimResultsMeansFinalsOnly) {
  const std::string pcm = testing::ToLinear16(testing::ToneBursts(1, 0.4, 1.0));
  StreamOutcome out = RunStream(Chunked(Config(pb::LINEAR16, 16000, /*interim=*/false), pcm));
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.partials, 0);
  EXPECT_EQ(out.finals.size(), 1u);
}

TEST_F(ServiceTest, SingleUtteranceEndsTheCall) {
  auto first = Config(pb::LINEAR16, 16000);
  first.mutable_streaming_config()->set_single_utterance(true);
  const std::string pcm = testing::ToLinear16(testing::ToneBursts(3, 0.3, 1.0));
  StreamOutcome out = RunStream(Chunked(first, pcm));
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, std::vector<std::string>{"tone"});
  ASSERT_FALSE(out.responses.empty());
  EXPECT_EQ(out.responses.back().speech_event_type(), Response::END_OF_SINGLE_UTTERANCE);
}

TEST_F(ServiceTest, WrongFirstMessageIsInvalidArgument) {
  StreamOutcome out = RunStream({Audio(std::string(3200, '\0'))});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(),
              HasSubstr("message #1: the first message must carry streaming_config"));
}

TEST_F(ServiceTest, SecondConfigIsInvalidArgument) {
  StreamOutcome out = RunStream({Config(pb::LINEAR16, 16000), Audio(std::string(320, '\0')),
                                 Config(pb::LINEAR16, 16000)});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(),
              HasSubstr("message #3: streaming_config is only allowed in the first message"));
}

TEST_F(ServiceTest, EmptyRequestIsInvalidArgument) {
  StreamOutcome out = RunStream({Config(pb::LINEAR16, 16000), pb::StreamingRecognizeRequest()});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(),
              HasSubstr("message #2: carries neither streaming_config nor audio_content"));
}

TEST_F(ServiceTest, StreamWithoutMessagesIsInvalidArgument) {
  StreamOutcome out = RunStream({});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(), HasSubstr("before its first message"));
}

TEST_F(ServiceTest, MalformedConfigIsInvalidArgumentNamingTheField) {
  StreamOutcome out = RunStream({Config(pb::LINEAR16, 4000)});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.status.error_message(),
            "streaming_config.config.sample_rate_hertz: 4000 is outside [8000, 48000]");

  auto no_config = Config(pb::LINEAR16, 16000);
  no_config.mutable_streaming_config()->clear_config();
  out = RunStream({no_config});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.status.error_message(), "streaming_config.config: required");
}

TEST_F(ServiceTest, ContextIsUnimplemented) {
  auto first = Config(pb::LINEAR16, 16000);
  first.mutable_streaming_config()->mutable_config()->mutable_context()->add_catalogs("contacts");
  StreamOutcome out = RunStream({first});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ServiceTest, CorruptContainerIsInvalidArgument) {
  StreamOutcome out = RunStream({Config(pb::FLAC, 0), Audio("fLaC but not really a flac file"),
                                 Audio(std::string(5000, '\x7f'))});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(), HasSubstr("audio_content (end of stream)"));
}

TEST_F(ServiceTest, TruncatedLinear16IsInvalidArgument) {
  // 3 bytes: one sample and half of the next.
  StreamOutcome out = RunStream({Config(pb::LINEAR16, 16000), Audio(std::string(3, '\1'))});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out.status.error_message(), HasSubstr("audio_content (end of stream)"));
}

TEST_F(ServiceTest, OversizedMessageIsResourceExhausted) {
  StreamOutcome out = RunStream(
      {Config(pb::LINEAR16, 16000), Audio(std::string(kMaxMessageBytes + 2, '\0'))});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServiceTest, RecognizeWholeClip) {
  pb::RecognizeRequest request;
  request.mutable_config()->set_enable_word_time_offsets(true);
  request.mutable_config()->set_max_alternatives(2);
  request.mutable_audio()->set_content(testing::ToWav(testing::ToneBursts(2, 0.5, 1.0)));
  grpc::ClientContext context;
  pb::RecognizeResponse response;
  grpc::Status status = stub_->Recognize(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).alternatives(0).transcript(), "tone");
  EXPECT_EQ(response.results(0).alternatives_size(), 2);
  ASSERT_EQ(response.results(0).alternatives(0).words_size(), 1);
  EXPECT_EQ(response.results(0).alternatives(0).words(0).start_offset().seconds(), 0);
  EXPECT_EQ(response.total_audio_duration().seconds(), 3);
}

TEST_F(ServiceTest, RecognizeErrors) {
  auto call = [&](const pb::RecognizeRequest& request) {
    grpc::ClientContext context;
    pb::RecognizeResponse response;
    return stub_->Recognize(&context, request, &response);
  };
  pb::RecognizeRequest request;
  grpc::Status status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "config: required");

  request.mutable_config()->set_encoding(pb::ENCODING_UNSPECIFIED);
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("audio.content: empty"));

  request.mutable_audio()->set_content("RIFF....WAVEjunkjunkjunk");
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("audio.content: "));

  request.mutable_audio()->set_content(std::string(kMaxMessageBytes + 10, 'x'));
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServiceTest, ModelInfo) {
  grpc::ClientContext context;
  pb::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, pb::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.name(), "fake-energy");
  EXPECT_EQ(info.sample_rate_hertz(), 16000);
  EXPECT_EQ(info.lookahead_ms_size(), 4);
}

TEST_F(ServiceTest, HealthIsServing) { EXPECT_EQ(Health(), HealthResponse::SERVING); }

TEST_F(ServiceTest, VanishingClientDoesNotHurtOtherStreams) {
  // One client sends half its audio and disappears (cancel); another streams to the end.
  grpc::ClientContext gone_context;
  auto gone = stub_->StreamingRecognize(&gone_context);
  ASSERT_TRUE(gone->Write(Config(pb::LINEAR16, 16000)));
  ASSERT_TRUE(gone->Write(Audio(testing::ToLinear16(testing::ToneBursts(1, 0.5, 0.0)))));
  Response first;
  ASSERT_TRUE(gone->Read(&first));  // the server is working on it
  gone_context.TryCancel();
  EXPECT_EQ(gone->Finish().error_code(), grpc::StatusCode::CANCELLED);

  const std::string pcm = testing::ToLinear16(testing::ToneBursts(2, 0.3, 1.0));
  StreamOutcome out = RunStream(Chunked(Config(pb::LINEAR16, 16000), pcm));
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, (std::vector<std::string>{"tone", "tone"}));
}

class LimitsTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.service.max_streams = 2;
    config.service.max_audio_seconds = 2.0;
    StartServer(config);
  }
};

TEST_F(LimitsTest, TooManyStreamsIsResourceExhausted) {
  grpc::ClientContext c1, c2;
  auto s1 = stub_->StreamingRecognize(&c1);
  auto s2 = stub_->StreamingRecognize(&c2);
  ASSERT_TRUE(s1->Write(Config(pb::LINEAR16, 16000)));
  ASSERT_TRUE(s2->Write(Config(pb::LINEAR16, 16000)));
  // Wait until both are admitted: each answers its first loud audio with a partial.
  const std::string pcm = testing::ToLinear16(testing::ToneBursts(1, 0.2, 0.0));
  Response r;
  ASSERT_TRUE(s1->Write(Audio(pcm)) && s1->Read(&r));
  ASSERT_TRUE(s2->Write(Audio(pcm)) && s2->Read(&r));

  StreamOutcome third = RunStream({Config(pb::LINEAR16, 16000)});
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.status.error_message(), HasSubstr("limit of 2 concurrent"));

  s1->WritesDone();
  s2->WritesDone();
  EXPECT_TRUE(Collect(s1.get()).status.ok());
  EXPECT_TRUE(Collect(s2.get()).status.ok());
}

TEST_F(LimitsTest, TooMuchAudioIsOutOfRange) {
  const std::string pcm = testing::ToLinear16(std::vector<float>(16000 * 3, 0.0f));
  StreamOutcome out = RunStream(Chunked(Config(pb::LINEAR16, 16000), pcm, 16000));
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(out.status.error_message(), HasSubstr("limit of 2 s"));
}

// GET http://127.0.0.1:port/path over a plain socket; the body, or "" on failure.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) out.append(buffer, n);
    }
  }
  close(fd);
  const size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

class MetricsTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.metrics_listen = "127.0.0.1:0";
    StartServer(config);
  }
  // Calls are counted when gRPC is done with them, a moment after the client has its status.
  std::string MetricsWith(const std::string& line) {
    std::string text;
    for (int i = 0; i < 500; ++i) {
      text = HttpGet(server_->metrics_port(), "/metrics");
      if (text.find(line) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return text;
  }
};

TEST_F(MetricsTest, CountsCallsAudioAndBatches) {
  ASSERT_GT(server_->metrics_port(), 0);
  const std::string pcm = testing::ToLinear16(testing::ToneBursts(2, 0.5, 1.0));  // 3 s
  ASSERT_TRUE(RunStream(Chunked(Config(pb::LINEAR16, 16000), pcm)).status.ok());
  EXPECT_EQ(RunStream({Config(pb::LINEAR16, 4000)}).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const std::string text = MetricsWith("code=\"INVALID_ARGUMENT\"");
  EXPECT_THAT(text, HasSubstr("ancat_calls_total{code=\"OK\",method=\"StreamingRecognize\"} 1"));
  EXPECT_THAT(text, HasSubstr(
                        "ancat_calls_total{code=\"INVALID_ARGUMENT\",method=\"StreamingRecognize\"} 1"));
  EXPECT_THAT(text, HasSubstr("ancat_audio_seconds_total 3"));
  EXPECT_THAT(text, HasSubstr("ancat_open_calls{method=\"StreamingRecognize\"} 0"));
  EXPECT_THAT(text, HasSubstr("ancat_decode_batch_streams_count "));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("ancat_decode_batch_streams_count 0")));
}

class IdleTimeoutTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.service.idle_timeout_seconds = 0.2;
    StartServer(config);
  }
};

TEST_F(IdleTimeoutTest, SilentClientIsEndedWithOutOfRange) {
  // The client sends its config and then nothing, without half-closing.
  grpc::ClientContext context;
  auto call = stub_->StreamingRecognize(&context);
  ASSERT_TRUE(call->Write(Config(pb::LINEAR16, 16000)));
  StreamOutcome out = Collect(call.get());  // returns once the server ends the call
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(out.status.error_message(), HasSubstr("audio timeout"));
  // Its slot is given back (the call is released once gRPC is done with it).
  while (server_->speech_service().active_calls() != 0) std::this_thread::yield();
  EXPECT_EQ(server_->speech_service().active_calls(), 0);
}

TEST_F(ServiceTest, GracefulShutdownDrainsOpenStreamsAndRefusesNewOnes) {
  grpc::ClientContext context;
  auto open = stub_->StreamingRecognize(&context);
  ASSERT_TRUE(open->Write(Config(pb::LINEAR16, 16000)));
  ASSERT_TRUE(open->Write(Audio(testing::ToLinear16(testing::ToneBursts(1, 0.3, 1.0)))));
  Response response;
  ASSERT_TRUE(open->Read(&response));  // the server has the stream

  std::thread shutdown([this] { server_->Shutdown(); });
  // Draining is visible to health checks before anything is cut.
  HealthResponse::ServingStatus health = HealthResponse::SERVING;
  while (health == HealthResponse::SERVING) {
    std::this_thread::yield();
    health = Health();
  }
  EXPECT_EQ(health, HealthResponse::NOT_SERVING);
  StreamOutcome refused = RunStream({Config(pb::LINEAR16, 16000)});
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // The open stream may go on and ends normally, with its results.
  ASSERT_TRUE(open->Write(Audio(testing::ToLinear16(testing::ToneBursts(1, 0.3, 1.0)))));
  open->WritesDone();
  StreamOutcome out = Collect(open.get());
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.finals, (std::vector<std::string>{"tone", "tone"}));
  shutdown.join();
}

}  // namespace
}  // namespace ancat::service
