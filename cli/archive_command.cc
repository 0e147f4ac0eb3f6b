// `ltxbus archive`: placeholder registration; the command is being built.
#include "cli/commands.h"

namespace ltxbus::cli {

void AddArchiveCommand(CLI::App& app, CommandResult* result) {
  auto* cmd = app.add_subcommand("archive", "Compact a database's stream into object storage (not built yet)");
  cmd->callback([result] { result->status = Status::Internal("ltxbus archive is not built yet"); });
}

}  // namespace ltxbus::cli
