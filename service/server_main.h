// The whole of ancat-server's main(): flags, logging, model loading, serving, and graceful
// shutdown on SIGTERM/SIGINT. The recognizer comes from a factory so that the service's
// integration tests can run the same program around a test double.
#ifndef ANCAT_SERVICE_SERVER_MAIN_H_
#define ANCAT_SERVICE_SERVER_MAIN_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "asr/recognizer.h"

namespace ancat::service {

using RecognizerFactory = std::function<absl::StatusOr<std::unique_ptr<asr::Recognizer>>(
    const asr::RecognizerConfig&)>;

// Returns the process exit status: 0 after a clean shutdown, 1 on a start failure, 2 on bad
// flags.
int ServerMain(int argc, char** argv, const RecognizerFactory& create_recognizer);

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_SERVER_MAIN_H_
