// `spoofctl stream FILE --server HOST:PORT`: plays a recording to spoofd's
// StreamScore as a live call would (optionally in real time) and prints every
// interim result and the final one.
#pragma once

namespace CLI {
class App;
}

namespace spoofd::cli {

void AddStreamCommand(CLI::App& app, int* exit_code);

}  // namespace spoofd::cli
