// ancat-server --model DIR --listen HOST:PORT [limits]; see --help.
// Serves ancat.asr.v1.Speech, grpc.health.v1.Health and server reflection. SIGTERM/SIGINT:
// graceful shutdown (server.h: AsrServer::Shutdown).
#include "asr/recognizer.h"
#include "service/server_main.h"

int main(int argc, char** argv) {
  return ancat::service::ServerMain(argc, argv, &ancat::asr::Recognizer::Create);
}
