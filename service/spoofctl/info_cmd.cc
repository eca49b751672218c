#include "service/spoofctl/info_cmd.h"

#include <cstdlib>
#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "models/model.h"
#include "service/server/convert.h"
#include "service/spoofctl/remote.h"
#include "spoofd/version.h"

namespace spoofd::cli {
namespace {

struct InfoOptions {
  ServerFlags server;
  std::string model_path;
  bool json = false;
};

void Print(const v1::GetModelInfoResponse& info, const std::string& where) {
  std::cout << absl::StrFormat("model        %s %s (%s)\n", info.name(), info.version(), where);
  std::cout << absl::StrFormat("sha256       %s\n", info.sha256());
  std::cout << absl::StrFormat("features     %s, %d dims at %d Hz\n", info.feature_kind(),
                               info.feature_dims(), info.sample_rate_hz());
  std::cout << absl::StrFormat(
      "segments     %.2f s every %.2f s (shortest scorable: %.2f s; a segment votes "
      "with >= %.0f%% speech)\n",
      info.segment_s(), info.hop_s(), info.min_segment_s(), 100 * info.min_speech_fraction());
  std::cout << absl::StrFormat("calibration  %s: llr = %.4g * logit %+.4g\n",
                               info.calibration().kind(), info.calibration().scale(),
                               info.calibration().offset());
  for (const auto& op : info.operating_points()) {
    std::cout << absl::StrFormat(
        "threshold    %-10s llr >= %+.3f%s  %s\n", op.name(), op.llr_threshold(),
        op.name() == info.default_operating_point() ? " (default)" : "", op.description());
  }
  std::cout << absl::StrFormat("training     %s\n", info.training_json());
  if (info.dev_metrics_json() != "{}")
    std::cout << absl::StrFormat("dev metrics  %s\n", info.dev_metrics_json());
}

int RunInfo(const InfoOptions& options) {
  v1::GetModelInfoResponse info;
  std::string where;
  if (!options.server.servers.empty()) {
    const std::string& target = options.server.servers.front();
    absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(options.server, target);
    absl::StatusOr<v1::GetModelInfoResponse> response =
        c.ok() ? (*c)->GetModelInfo() : absl::StatusOr<v1::GetModelInfoResponse>(c.status());
    if (!response.ok()) {
      std::cerr << "spoofctl info: " << target << ": " << response.status().message() << "\n";
      return 1;
    }
    info = *response;
    where = absl::StrFormat("served by %s, spoofd %s", target, info.server_version());
  } else {
    std::string path = options.model_path;
    if (path.empty()) {
      const char* env = std::getenv("SPOOFD_MODEL");
      path = env != nullptr && *env != '\0' ? env : kDefaultModelPath;
    }
    absl::StatusOr<std::shared_ptr<const models::Model>> model = models::Model::Load(path);
    if (!model.ok()) {
      std::cerr << "spoofctl info: " << model.status().message() << "\n";
      return 1;
    }
    info = service::ModelInfo(**model);
    where = path;
  }
  if (options.json) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    print.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(info, &json, print);
    std::cout << json << "\n";
  } else {
    Print(info, where);
  }
  return 0;
}

}  // namespace

void AddInfoCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Show the model: name, version, features, calibration, thresholds");
  AddServerFlags(cmd, &options->server, /*multiple=*/false);
  cmd->add_option("--model", options->model_path,
                  "Model file to describe when no --server is given (default: $SPOOFD_MODEL, else "
                  "the bundled model)");
  cmd->add_flag("--json", options->json, "Print the GetModelInfo response as JSON");
  cmd->callback([options, exit_code] { *exit_code = RunInfo(*options); });
}

}  // namespace spoofd::cli
