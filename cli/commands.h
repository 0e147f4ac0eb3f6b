// The ltxbus subcommands, one file each; main() registers them.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/args.h"

namespace ltxbus::cli {

// `ltxbus ltx ...`: inspect, verify, compact and apply LTX files.
void AddLtxCommands(CLI::App& app, CommandResult* result);
// `ltxbus replicate`: the producer.
void AddReplicateCommand(CLI::App& app, CommandResult* result);

}  // namespace ltxbus::cli
