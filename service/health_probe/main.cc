// spoofd-health — asks a spoofd server for its grpc.health.v1 status, for
// container HEALTHCHECKs and scripts that have no gRPC probe of their own.
// It links only the client library (no libtorch), so it starts in
// milliseconds.
//
//   spoofd-health                              # 127.0.0.1:50051, the whole server
//   spoofd-health --server spoofd:50051 --service spoofd.v1.Detector --tls --ca ca.pem
//
// Exit codes: 0 SERVING; 1 reachable but not serving, or unreachable (one
// line on stderr says which); 2 usage error.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "service/client/client.h"

int main(int argc, char** argv) {
  spoofd::client::ClientOptions options;
  options.target = "127.0.0.1:50051";
  options.timeout_s = 3;
  std::string service;
  CLI::App app{"spoofd-health: exit 0 when a spoofd server reports SERVING"};
  app.add_option("--server", options.target, "HOST:PORT")->capture_default_str();
  app.add_option("--service", service, "Service name to check (empty: the whole server)");
  app.add_flag("--tls", options.tls, "Use TLS (system roots unless --ca)");
  app.add_option("--ca", options.ca_file, "PEM CA that signed the server certificate");
  app.add_option("--cert", options.cert_file, "Client certificate (mutual TLS)");
  app.add_option("--key", options.key_file, "Client key (mutual TLS)");
  app.add_option("--server-name", options.server_name, "Name to verify the certificate against");
  app.add_option("--timeout-s", options.timeout_s, "Deadline of the check")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  absl::StatusOr<std::unique_ptr<spoofd::client::Client>> client =
      spoofd::client::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "spoofd-health: " << client.status().message() << "\n";
    return 2;
  }
  auto status = (*client)->CheckHealth(service);
  if (!status.ok()) {
    std::cerr << "spoofd-health: " << options.target << ": " << status.status().message() << "\n";
    return 1;
  }
  if (*status != grpc::health::v1::HealthCheckResponse::SERVING) {
    std::cerr << "spoofd-health: " << options.target << ": "
              << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status) << "\n";
    return 1;
  }
  return 0;
}
