// ltxbus: the command-line entry point. Each command group lives in its own
// file and registers its subcommands here.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/ltx_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ltxbus: replicate SQLite through Kafka or NATS as LTX frames", "ltxbus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ltxbus::cli::kVersion));
  ltxbus::cli::CommandResult result;
  ltxbus::cli::AddLtxCommands(app, &result);

  std::vector<std::string> args = ltxbus::cli::NormalizeArgs(argc, argv);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!result.status.ok()) {
    std::fprintf(stderr, "ltxbus: %s\n", result.status.ToString().c_str());
    return 1;
  }
  return result.exit_code;
}
