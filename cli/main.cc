// ltxbus: the command-line entry point. Each command group lives in its own
// file and registers its subcommands here.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "config/config.h"

namespace {

// The log level a command runs at: --log-level if given, else the
// `log-level` of the config file the command was given with -config, else
// info. A config that fails to load leaves info; the command reports why.
std::string LogLevel(const CLI::App& app, const std::string& from_command_line) {
  if (!from_command_line.empty()) return from_command_line;
  for (const CLI::App* command : app.get_subcommands()) {
    const CLI::Option* config = command->get_option_no_throw("--config");
    if (config == nullptr || config->count() == 0) continue;
    auto c = ltxbus::config::Config::Load(config->as<std::string>());
    if (c.ok() && !c->log_level.empty()) return c->log_level;
  }
  return "info";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ltxbus: replicate SQLite through Kafka or NATS as LTX frames", "ltxbus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ltxbus::cli::kVersion));
  ltxbus::cli::CommandResult result;
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "debug, info, warn or error (default: the config's log-level, else info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  ltxbus::cli::AddLtxCommands(app, &result);
  ltxbus::cli::AddReplicateCommand(app, &result);
  ltxbus::cli::AddSyncCommand(app, &result);
  ltxbus::cli::AddFollowCommand(app, &result);
  ltxbus::cli::AddTailCommand(app, &result);
  ltxbus::cli::AddArchiveCommand(app, &result);
  ltxbus::cli::AddRestoreCommand(app, &result);
  ltxbus::cli::AddVerifyCommand(app, &result);
  ltxbus::cli::AddStatusCommand(app, &result);
  app.parse_complete_callback([&app, &log_level] {
    // Logs go to stderr so that stdout stays clean for command output.
    auto logger = spdlog::stderr_color_mt("ltxbus");
    logger->set_level(spdlog::level::from_str(LogLevel(app, log_level)));
    spdlog::set_default_logger(logger);
  });

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
