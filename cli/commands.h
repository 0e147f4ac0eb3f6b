// `ltxbus ltx ...`: inspect, verify, compact and apply LTX files.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/args.h"

namespace ltxbus::cli {

void AddLtxCommands(CLI::App& app, CommandResult* result);

}  // namespace ltxbus::cli
