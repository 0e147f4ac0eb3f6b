// `ltxbus verify`: placeholder registration; the command is being built.
#include "cli/commands.h"

namespace ltxbus::cli {

void AddVerifyCommand(CLI::App& app, CommandResult* result) {
  auto* cmd = app.add_subcommand("verify", "Verify an archive (not built yet)");
  cmd->callback([result] { result->status = Status::Internal("ltxbus verify is not built yet"); });
}

}  // namespace ltxbus::cli
