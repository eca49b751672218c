// `spoofctl info`: what model answers — from a spoofd server (--server) or a
// model file loaded here (--model, default: the bundled model).
#pragma once

namespace CLI {
class App;
}

namespace spoofd::cli {

void AddInfoCommand(CLI::App& app, int* exit_code);

}  // namespace spoofd::cli
