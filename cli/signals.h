// Termination signals for long-running commands, taken synchronously.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace ltxbus::cli {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and returns them as
// a set for sigtimedwait(). Call it before starting any thread: threads
// inherit the mask, so none is interrupted mid-commit.
inline sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace ltxbus::cli
