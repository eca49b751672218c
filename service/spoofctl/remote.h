// What the spoofctl subcommands that talk to spoofd servers share: the
// connection flags, result conversion, and `spoofctl score --server`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/scorer.h"
#include "nlohmann/json.hpp"
#include "service/client/client.h"
#include "service/spoofctl/input.h"

namespace CLI {
class App;
}

namespace spoofd::cli {

struct ServerFlags {
  std::vector<std::string> servers;  // HOST:PORT, repeatable: files go round-robin
  bool tls = false;
  std::string ca_file, cert_file, key_file, server_name, token_file;
  double timeout_s = 0;
};

// --server (repeatable when `multiple`), --tls, --ca, --cert, --key,
// --server-name, --token-file, --timeout-s.
void AddServerFlags(CLI::App* cmd, ServerFlags* flags, bool multiple);

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const ServerFlags& flags,
                                                        const std::string& target);

// The verdict a server sent, as the offline scorer's type (for PlainVerdict).
models::Verdict VerdictFromResult(const v1::Result& result);

// The same object report::VerdictJson writes for offline scoring (same keys,
// same rounding), plus "request_id" and "server".
nlohmann::ordered_json ResultJson(const std::string& file, const v1::ScoreResponse& response,
                                  const std::string& server);

struct RemoteScoreOptions {
  std::vector<std::string> files;
  ServerFlags server;
  std::string operating_point;
  double segment_s = 0.0;
  InputFlags input;  // headerless format and size limit; the duration limit is the server's
  bool json = false;
};

// `spoofctl score --server`: files are read here and sent (Score, or
// ScoreUpload above 4 MiB), round-robin over the servers. Returns the exit code.
int RunScoreRemote(const RemoteScoreOptions& options);

}  // namespace spoofd::cli
