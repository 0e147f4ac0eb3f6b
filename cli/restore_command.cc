// `ltxbus restore`: placeholder registration; the command is being built.
#include "cli/commands.h"

namespace ltxbus::cli {

void AddRestoreCommand(CLI::App& app, CommandResult* result) {
  auto* cmd = app.add_subcommand("restore", "Restore a database from an archive (not built yet)");
  cmd->callback([result] { result->status = Status::Internal("ltxbus restore is not built yet"); });
}

}  // namespace ltxbus::cli
