// ancat-client: command-line client of ancat-server.
//   ancat-client --server HOST:PORT stream FILE     real-time paced (or --fast) streaming
//   ancat-client --server HOST:PORT recognize FILE  whole clip in one request
//   ancat-client --server HOST:PORT info            the model the server runs
//   ancat-client --server HOST:PORT health          grpc.health.v1 check
// stream and recognize print the final transcript of the file as the last line of stdout;
// partial results and details go to stderr. Exit status 0 only on success.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ancat/asr/v1/speech.grpc.pb.h"
#include "asr/audio/audio.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server address, HOST:PORT.");
ABSL_FLAG(bool, fast, false, "stream: send as fast as possible instead of in real time.");
ABSL_FLAG(int, chunk_ms, 100, "stream: audio per message, in ms.");
ABSL_FLAG(bool, interim_results, true, "stream: ask for partial results.");
ABSL_FLAG(bool, single_utterance, false, "stream: stop after the first utterance.");
ABSL_FLAG(std::string, encoding, "",
          "How FILE is sent. pcm: read here (WAV/FLAC/OGG/MP3) and sent as LINEAR16 (default "
          "for stream: partials as audio arrives); file: the file's bytes as they are, read by "
          "the server (default for recognize); linear16 / mulaw: FILE is headerless raw audio "
          "(needs --sample_rate).");
ABSL_FLAG(int, sample_rate, 0, "Sample rate of a raw FILE (--encoding linear16/mulaw).");
ABSL_FLAG(int, channels, 1, "Channels of a raw FILE (--encoding linear16/mulaw).");
ABSL_FLAG(int, max_alternatives, 1, "Alternatives per final result.");
ABSL_FLAG(bool, word_times, false, "Ask for word time offsets and confidences.");
ABSL_FLAG(double, lookahead_bias, 0, "Latency preference beta >= 0 (0 = as trained).");
ABSL_FLAG(int, max_lookahead_ms, -1, "Cap on the encoder's lookahead, in ms; -1 = none.");
ABSL_FLAG(double, timeout_s, 0, "Deadline of the call in seconds; 0 = none.");

namespace {

namespace pb = ::ancat::asr::v1;
using Clock = std::chrono::steady_clock;

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// Scripts match on the first word after "error:": the gRPC status code name.
int Fail(const grpc::Status& status) {
  std::cerr << "error: " << CodeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  return 1;
}

int Fail(const absl::Status& status) {
  std::cerr << "error: " << status.ToString() << "\n";
  return 1;
}

double Seconds(const google::protobuf::Duration& d) { return d.seconds() + d.nanos() * 1e-9; }

void SetDeadline(grpc::ClientContext* context) {
  if (double t = absl::GetFlag(FLAGS_timeout_s); t > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(t * 1000)));
  }
}

absl::StatusOr<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The request's audio: bytes plus how they are encoded.
struct Payload {
  std::string bytes;
  pb::RecognitionConfig config;  // encoding, rate, channels filled in
  int bytes_per_second = 0;      // 0 for containers (paced by size, not time)
};

absl::StatusOr<Payload> LoadPayload(const std::string& path, const std::string& mode) {
  Payload p;
  if (mode == "pcm") {
    auto audio = ancat::asr::ReadAudioFile(path);
    if (!audio.ok()) return audio.status();
    int rate = audio->sample_rate, channels = audio->num_channels;
    std::vector<float> samples = std::move(audio->samples);
    if (rate < 8000 || rate > 48000 || channels > 8) {  // outside what the API takes raw
      auto mono = ancat::asr::ToModelInput(*audio);
      if (!mono.ok()) return mono.status();
      samples = std::move(*mono);
      rate = ancat::asr::kModelSampleRate;
      channels = 1;
    }
    p.bytes.resize(samples.size() * 2);
    for (size_t i = 0; i < samples.size(); ++i) {
      const float v = std::clamp(samples[i], -1.0f, 1.0f);
      const auto s = static_cast<int16_t>(std::lrint(v * 32767.0f));
      p.bytes[2 * i] = static_cast<char>(s & 0xff);
      p.bytes[2 * i + 1] = static_cast<char>((s >> 8) & 0xff);
    }
    p.config.set_encoding(pb::LINEAR16);
    p.config.set_sample_rate_hertz(rate);
    p.config.set_audio_channel_count(channels);
    p.bytes_per_second = 2 * rate * channels;
    return p;
  }
  auto bytes = ReadBytes(path);
  if (!bytes.ok()) return bytes.status();
  p.bytes = std::move(*bytes);
  if (mode == "file") {
    p.config.set_encoding(pb::ENCODING_UNSPECIFIED);
    return p;
  }
  if (mode != "linear16" && mode != "mulaw") {
    return absl::InvalidArgumentError(absl::StrCat("--encoding: unknown value '", mode, "'"));
  }
  const int rate = absl::GetFlag(FLAGS_sample_rate), channels = absl::GetFlag(FLAGS_channels);
  p.config.set_encoding(mode == "linear16" ? pb::LINEAR16 : pb::MULAW);
  p.config.set_sample_rate_hertz(rate);
  p.config.set_audio_channel_count(channels);
  p.bytes_per_second = (mode == "linear16" ? 2 : 1) * rate * std::max(1, channels);
  return p;
}

void ApplyOptionFlags(pb::RecognitionConfig* config) {
  config->set_max_alternatives(absl::GetFlag(FLAGS_max_alternatives));
  config->set_enable_word_time_offsets(absl::GetFlag(FLAGS_word_times));
  config->set_enable_word_confidence(absl::GetFlag(FLAGS_word_times));
  config->mutable_latency()->set_lookahead_bias(
      static_cast<float>(absl::GetFlag(FLAGS_lookahead_bias)));
  if (int cap = absl::GetFlag(FLAGS_max_lookahead_ms); cap >= 0) {
    config->mutable_latency()->set_max_lookahead_ms(cap);
  }
}

void PrintAlternatives(const google::protobuf::RepeatedPtrField<pb::SpeechRecognitionAlternative>&
                           alternatives) {
  for (int i = 1; i < alternatives.size(); ++i) {
    std::cerr << "  alt " << i << ": " << alternatives[i].transcript() << " (confidence "
              << alternatives[i].confidence() << ")\n";
  }
  if (alternatives.empty()) return;
  for (const pb::WordInfo& w : alternatives[0].words()) {
    std::fprintf(stderr, "  word %-16s %7.2f %7.2f  conf %.2f\n", w.word().c_str(),
                 Seconds(w.start_offset()), Seconds(w.end_offset()), w.confidence());
  }
}

int Stream(pb::Speech::Stub& stub, const std::string& path) {
  const std::string mode = absl::GetFlag(FLAGS_encoding).empty() ? "pcm"
                                                                  : absl::GetFlag(FLAGS_encoding);
  auto payload = LoadPayload(path, mode);
  if (!payload.ok()) return Fail(payload.status());

  grpc::ClientContext context;
  SetDeadline(&context);
  auto call = stub.StreamingRecognize(&context);

  std::vector<std::string> finals;
  std::thread reader([&] {
    pb::StreamingRecognizeResponse response;
    while (call->Read(&response)) {
      using R = pb::StreamingRecognizeResponse;
      if (response.speech_event_type() != R::SPEECH_EVENT_UNSPECIFIED) {
        std::fprintf(stderr, "event   %-24s at %.2f s\n",
                     R::SpeechEventType_Name(response.speech_event_type()).c_str(),
                     Seconds(response.speech_event_offset()));
      }
      for (const pb::StreamingRecognitionResult& r : response.results()) {
        const std::string text = r.alternatives().empty() ? "" : r.alternatives(0).transcript();
        if (!r.is_final()) {
          std::fprintf(stderr, "partial [%6.2f s] %s\n", Seconds(r.result_end_offset()),
                       text.c_str());
          continue;
        }
        std::fprintf(stderr,
                     "final   [%6.2f-%6.2f s] %s  (confidence %.2f, lookahead mean %.0f ms "
                     "p90 %.0f ms)\n",
                     Seconds(r.result_start_offset()), Seconds(r.result_end_offset()),
                     text.c_str(), r.alternatives().empty() ? 0.0f : r.alternatives(0).confidence(),
                     r.lookahead_latency().mean_ms(), r.lookahead_latency().p90_ms());
        PrintAlternatives(r.alternatives());
        if (!text.empty()) finals.push_back(text);
      }
    }
  });

  pb::StreamingRecognizeRequest first;
  pb::StreamingRecognitionConfig* sc = first.mutable_streaming_config();
  *sc->mutable_config() = payload->config;
  ApplyOptionFlags(sc->mutable_config());
  sc->set_interim_results(absl::GetFlag(FLAGS_interim_results));
  sc->set_single_utterance(absl::GetFlag(FLAGS_single_utterance));
  bool open = call->Write(first);

  // Containers have no time base before they are read: send them in 64 KiB pieces, unpaced.
  const size_t chunk =
      payload->bytes_per_second > 0
          ? std::max<size_t>(2, static_cast<size_t>(payload->bytes_per_second) *
                                    absl::GetFlag(FLAGS_chunk_ms) / 1000)
          : 64 << 10;
  const bool paced = !absl::GetFlag(FLAGS_fast) && payload->bytes_per_second > 0;
  const Clock::time_point start = Clock::now();
  for (size_t pos = 0; open && pos < payload->bytes.size(); pos += chunk) {
    pb::StreamingRecognizeRequest request;
    request.set_audio_content(payload->bytes.substr(pos, chunk));
    open = call->Write(request);
    if (paced) {
      const double sent_s = static_cast<double>(std::min(pos + chunk, payload->bytes.size())) /
                            payload->bytes_per_second;
      std::this_thread::sleep_until(start + std::chrono::microseconds(
                                                static_cast<int64_t>(sent_s * 1e6)));
    }
  }
  if (open) call->WritesDone();
  reader.join();
  grpc::Status status = call->Finish();
  if (!status.ok()) return Fail(status);
  std::cout << absl::StrJoin(finals, " ") << std::endl;
  return 0;
}

int Recognize(pb::Speech::Stub& stub, const std::string& path) {
  const std::string mode = absl::GetFlag(FLAGS_encoding).empty() ? "file"
                                                                  : absl::GetFlag(FLAGS_encoding);
  auto payload = LoadPayload(path, mode);
  if (!payload.ok()) return Fail(payload.status());
  pb::RecognizeRequest request;
  *request.mutable_config() = payload->config;
  ApplyOptionFlags(request.mutable_config());
  request.mutable_audio()->set_content(std::move(payload->bytes));

  grpc::ClientContext context;
  SetDeadline(&context);
  pb::RecognizeResponse response;
  grpc::Status status = stub.Recognize(&context, request, &response);
  if (!status.ok()) return Fail(status);
  std::vector<std::string> finals;
  for (const pb::SpeechRecognitionResult& r : response.results()) {
    const std::string text = r.alternatives().empty() ? "" : r.alternatives(0).transcript();
    std::fprintf(stderr, "final   [%6.2f-%6.2f s] %s  (lookahead mean %.0f ms p90 %.0f ms)\n",
                 Seconds(r.result_start_offset()), Seconds(r.result_end_offset()), text.c_str(),
                 r.lookahead_latency().mean_ms(), r.lookahead_latency().p90_ms());
    PrintAlternatives(r.alternatives());
    if (!text.empty()) finals.push_back(text);
  }
  std::fprintf(stderr, "audio   %.2f s, %d result(s)\n", Seconds(response.total_audio_duration()),
               response.results_size());
  std::cout << absl::StrJoin(finals, " ") << std::endl;
  return 0;
}

int Info(pb::Speech::Stub& stub) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ModelInfo info;
  grpc::Status status = stub.GetModelInfo(&context, pb::GetModelInfoRequest(), &info);
  if (!status.ok()) return Fail(status);
  std::vector<std::string> encodings;
  for (int e : info.supported_encodings()) {
    encodings.push_back(pb::AudioEncoding_Name(static_cast<pb::AudioEncoding>(e)));
  }
  std::cout << "name: " << info.name() << "\nversion: " << info.version()
            << "\nsample_rate_hertz: " << info.sample_rate_hertz()
            << "\nlookahead_ms: " << absl::StrJoin(info.lookahead_ms(), ",")
            << "\nvocabulary_size: " << info.vocabulary_size()
            << "\nframe_ms: " << info.frame_ms()
            << "\nsupported_encodings: " << absl::StrJoin(encodings, ",") << std::endl;
  return 0;
}

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return Fail(status);
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
            << std::endl;
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Ancat speech recognition client.\n"
      "  ancat-client --server HOST:PORT stream FILE      (paced in real time; --fast)\n"
      "  ancat-client --server HOST:PORT recognize FILE\n"
      "  ancat-client --server HOST:PORT info\n"
      "  ancat-client --server HOST:PORT health");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() > 1 ? args[1] : "";
  const bool needs_file = command == "stream" || command == "recognize";
  const bool known = needs_file || command == "info" || command == "health";
  if (!known || (needs_file && args.size() != 3) || (!needs_file && args.size() != 2)) {
    std::cerr << absl::ProgramUsageMessage() << "\n(see --help for options)\n";
    return 2;
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  channel_args.SetMaxSendMessageSize(256 << 20);  // the server enforces its own limit
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_server),
                                           grpc::InsecureChannelCredentials(), channel_args);
  if (command == "health") return Health(channel);
  auto stub = pb::Speech::NewStub(channel);
  if (command == "info") return Info(*stub);
  if (command == "stream") return Stream(*stub, args[2]);
  return Recognize(*stub, args[2]);
}
