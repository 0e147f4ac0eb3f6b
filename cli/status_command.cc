// `ltxbus status`: placeholder registration; the command is being built.
#include "cli/commands.h"

namespace ltxbus::cli {

void AddStatusCommand(CLI::App& app, CommandResult* result) {
  auto* cmd = app.add_subcommand("status", "Show replicas' positions and lag (not built yet)");
  cmd->callback([result] { result->status = Status::Internal("ltxbus status is not built yet"); });
}

}  // namespace ltxbus::cli
