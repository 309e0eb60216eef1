// ancat-batch --model DIR --input LIST --output OUT.jsonl [--threads 2] [--decoding greedy|beam]
//             [--beam 4] [--lm_weight W] [--word_bonus B] [--blank_penalty P] [--lm_lookahead=false]
//             [--compute_type f32|bf16|int8] [--kv_cache f32|bf16]
// Exit status: 0 every file transcribed, 1 some files failed (reported on stderr, left out
// of the output), 2 nothing could run (bad flags, model, list or output file).
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "client/batch/batch.h"

ABSL_FLAG(std::string, model, "", "model folder (model.json, weights, tokenizer)");
ABSL_FLAG(std::string, input, "", "text file: one audio path per line");
ABSL_FLAG(std::string, output, "", "JSON lines out: {\"audio\", \"text\", ...} per file");
ABSL_FLAG(int, threads, 2, "files transcribed in parallel (one core each)");
ABSL_FLAG(std::string, decoding, "beam", "greedy | beam (modified beam search)");
ABSL_FLAG(int, beam, 4, "beam size for --decoding=beam");
ABSL_FLAG(double, lm_weight, -1, "shallow-fusion weight of the model's n-gram LM (< 0: model.json's)");
ABSL_FLAG(double, word_bonus, -1, "word-insertion bonus (< 0: model.json's)");
ABSL_FLAG(double, blank_penalty, -1, "subtracted from blank's log-prob per step (< 0: model.json's)");
ABSL_FLAG(std::string, compute_type, "f32",
          "encoder matmuls: f32 | bf16 (avx512_bf16 CPUs) | int8 (VNNI CPUs); the decoder stays f32");
ABSL_FLAG(std::string, kv_cache, "f32",
          "encoder key/value cache: f32 | bf16 (half the memory per stream, ~2e-3 relative drift)");
ABSL_FLAG(bool, lm_lookahead, true,
          "score words in progress by their best reachable LM word (false: decode.py's way)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ancat-batch --model DIR --input LIST --output OUT.jsonl [--threads 2]");
  absl::ParseCommandLine(argc, argv);
  ancat::client::BatchConfig config;
  config.model_dir = absl::GetFlag(FLAGS_model);
  config.input = absl::GetFlag(FLAGS_input);
  config.output = absl::GetFlag(FLAGS_output);
  config.threads = absl::GetFlag(FLAGS_threads);
  const std::string method = absl::GetFlag(FLAGS_decoding);
  if (method != "greedy" && method != "beam") {
    std::cerr << "ancat-batch: --decoding must be greedy or beam, got " << method << "\n";
    return 2;
  }
  config.decoding.method = method == "greedy" ? ancat::asr::DecodingConfig::Method::kGreedy
                                              : ancat::asr::DecodingConfig::Method::kModifiedBeam;
  config.decoding.beam = absl::GetFlag(FLAGS_beam);
  config.decoding.lm_weight = static_cast<float>(absl::GetFlag(FLAGS_lm_weight));
  config.decoding.word_bonus = static_cast<float>(absl::GetFlag(FLAGS_word_bonus));
  config.decoding.blank_penalty = static_cast<float>(absl::GetFlag(FLAGS_blank_penalty));
  config.lm_lookahead = absl::GetFlag(FLAGS_lm_lookahead);
  config.compute_type = absl::GetFlag(FLAGS_compute_type);
  config.kv_cache = absl::GetFlag(FLAGS_kv_cache);
  auto summary = ancat::client::RunBatch(config, std::cerr);
  if (!summary.ok()) {
    std::cerr << "ancat-batch: " << summary.status().message() << "\n";
    return 2;
  }
  std::cerr << "ancat-batch: " << summary->files - summary->failed << "/" << summary->files
            << " files, " << summary->audio_s << " s of audio in " << summary->wall_s
            << " s wall\n";
  return summary->failed == 0 ? 0 : 1;
}
