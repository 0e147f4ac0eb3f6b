// The ltxbus subcommands, one file each; main() registers them.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/args.h"

namespace ltxbus::cli {

// `ltxbus ltx ...`: inspect, verify, compact and apply LTX files.
void AddLtxCommands(CLI::App& app, CommandResult* result);
// `ltxbus replicate`: the producer.
void AddReplicateCommand(CLI::App& app, CommandResult* result);
// `ltxbus sync`: wait until what a database committed is acknowledged by the bus.
void AddSyncCommand(CLI::App& app, CommandResult* result);
// `ltxbus follow`: keep a live read replica of a database's stream.
void AddFollowCommand(CLI::App& app, CommandResult* result);
// `ltxbus tail`: read a database's transactions from any position of the stream.
void AddTailCommand(CLI::App& app, CommandResult* result);
// `ltxbus archive`: compact a database's stream into object storage.
void AddArchiveCommand(CLI::App& app, CommandResult* result);
// `ltxbus restore`: rebuild a database as of any point in time from an archive.
void AddRestoreCommand(CLI::App& app, CommandResult* result);
// `ltxbus verify`: check an archive's chain, levels and restorability.
void AddVerifyCommand(CLI::App& app, CommandResult* result);
// `ltxbus status`: replicas' positions and lag.
void AddStatusCommand(CLI::App& app, CommandResult* result);

}  // namespace ltxbus::cli
