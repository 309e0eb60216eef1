// ancat-server's main() around FakeRecognizer: the real flags, logging, health, reflection and
// signal handling, without a model. Used by the client/server integration test.
#include "service/server_main.h"
#include "tests/service/fake_recognizer.h"

int main(int argc, char** argv) {
  return ancat::service::ServerMain(argc, argv,
                                    &ancat::service::testing::FakeRecognizer::Create);
}
