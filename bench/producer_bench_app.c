/* The app of bench/producer_bench: small write transactions against a
 * WAL-mode database through the SYSTEM SQLite (Debian's libsqlite3), as an
 * unmodified application would run them, as fast as it can or at a fixed rate.
 *
 *   producer_bench_app DB [--create] [--seconds S] [--transactions N]
 *                         [--rate R] [--row-bytes B] [--commit-log FILE]
 *                         [--big-bytes N] [--autocheckpoint N] [--synchronous M]
 *   producer_bench_app --version
 *
 * Each transaction is BEGIN IMMEDIATE; one INSERT of a B-byte random blob
 * (default 100); COMMIT, with synchronous=NORMAL (the usual WAL setting;
 * --synchronous FULL, SQLite's default, fsyncs the WAL at every commit).
 * --rate R paces commits at R per second (0: as fast as possible).
 * --commit-log FILE writes, after the run, each commit's wall-clock time
 * (CLOCK_REALTIME, ns, one little-endian int64 per transaction, in order),
 * taken as COMMIT returns. --big-bytes N instead runs one transaction that
 * inserts N bytes of random blobs (in rows of at most 256 MiB) and exits.
 * --autocheckpoint N sets PRAGMA wal_autocheckpoint (SQLite's default: 1000).
 * The app waits up to 5 s for a lock (busy_timeout, as Litestream advises);
 * a BEGIN that still finds the database locked is counted and retried.
 * Prints "commits=N seconds=T rate=R cpu=C runq=Q busy=B longest_ms=L begin_ms=W
 * sqlite=V" on stdout (C: this process's CPU seconds; Q: its seconds runnable
 * but waiting for a CPU; B: the BEGINs that
 * failed with SQLITE_BUSY; L: the longest BEGIN-to-COMMIT time, lock waits and
 * retries included; W: the time all BEGINs took, their own work plus waiting
 * for the write lock; V: the SQLite library version). SIGTERM/SIGINT end the run
 * cleanly after the current transaction.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(sqlite3* db, const char* what) {
  fprintf(stderr, "producer_bench_app: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
  exit(1);
}

static void exec_or_die(sqlite3* db, const char* sql) {
  char* err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "producer_bench_app: %s: %s\n", sql, err ? err : "?");
    exit(1);
  }
}

static int64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Seconds this process has spent runnable but waiting for a CPU (the second
 * field of /proc/self/schedstat): how much the replicator and broker crowd it. */
static double runqueue_seconds(void) {
  unsigned long long on_cpu = 0, waiting = 0;
  FILE* f = fopen("/proc/self/schedstat", "r");
  if (!f) return 0;
  if (fscanf(f, "%llu %llu", &on_cpu, &waiting) != 2) waiting = 0;
  fclose(f);
  return (double)waiting / 1e9;
}

static void step_or_die(sqlite3* db, sqlite3_stmt* st, const char* what) {
  if (sqlite3_step(st) != SQLITE_DONE) die(db, what);
  sqlite3_reset(st);
}

int main(int argc, char** argv) {
  const char* path = NULL;
  const char* commit_log = NULL;
  int create = 0;
  double seconds = 10, rate = 0;
  long long max_transactions = 0, big_bytes = 0;
  int row_bytes = 100, autocheckpoint = -1;
  const char* synchronous = "NORMAL";
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--version") == 0) {
      printf("%s\n", sqlite3_libversion());
      return 0;
    } else if (strcmp(a, "--create") == 0) {
      create = 1;
    } else if (strcmp(a, "--seconds") == 0 && v) {
      seconds = atof(v), i++;
    } else if (strcmp(a, "--transactions") == 0 && v) {
      max_transactions = atoll(v), i++;
    } else if (strcmp(a, "--rate") == 0 && v) {
      rate = atof(v), i++;
    } else if (strcmp(a, "--row-bytes") == 0 && v) {
      row_bytes = atoi(v), i++;
    } else if (strcmp(a, "--commit-log") == 0 && v) {
      commit_log = v, i++;
    } else if (strcmp(a, "--autocheckpoint") == 0 && v) {
      autocheckpoint = atoi(v), i++;
    } else if (strcmp(a, "--synchronous") == 0 && v &&
               (strcmp(v, "NORMAL") == 0 || strcmp(v, "FULL") == 0 || strcmp(v, "OFF") == 0)) {
      synchronous = v, i++;
    } else if (strcmp(a, "--big-bytes") == 0 && v) {
      big_bytes = atoll(v), i++;
    } else if (a[0] != '-' && path == NULL) {
      path = a;
    } else {
      fprintf(stderr, "producer_bench_app: bad argument %s (see the comment at the top)\n", a);
      return 2;
    }
  }
  if (path == NULL) {
    fprintf(stderr, "usage: producer_bench_app DB [options]\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  sqlite3* db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK) die(db, "open");
  sqlite3_busy_timeout(db, 5000);
  if (create) {
    exec_or_die(db, "PRAGMA journal_mode=WAL");
    exec_or_die(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)");
  }
  char pragma[64];
  snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", synchronous);
  exec_or_die(db, pragma);
  if (autocheckpoint >= 0) sqlite3_wal_autocheckpoint(db, autocheckpoint);

  sqlite3_stmt *begin, *insert, *commit;
  if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES(randomblob(?1))", -1, &insert, NULL) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
    die(db, "prepare");
  }

  if (big_bytes > 0) {
    const long long max_row = 256LL << 20;
    step_or_die(db, begin, "BEGIN");
    for (long long left = big_bytes; left > 0; left -= max_row) {
      sqlite3_bind_int64(insert, 1, left < max_row ? left : max_row);
      step_or_die(db, insert, "INSERT");
    }
    step_or_die(db, commit, "COMMIT");
    printf("commits=1 bytes=%lld\n", big_bytes);
    sqlite3_finalize(begin), sqlite3_finalize(insert), sqlite3_finalize(commit);
    return sqlite3_close(db) == SQLITE_OK ? 0 : 1;
  }

  size_t cap = 1 << 16, n = 0;
  long long busy = 0;
  int64_t longest = 0, begin_wait = 0;
  int64_t* times = commit_log ? malloc(cap * sizeof *times) : NULL;
  sqlite3_bind_int(insert, 1, row_bytes);
  const int64_t start = now_ns(CLOCK_MONOTONIC);
  const int64_t end = start + (int64_t)(seconds * 1e9);
  for (;;) {
    if (stop_requested || (max_transactions > 0 && (long long)n >= max_transactions)) break;
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (max_transactions == 0 && now >= end) break;
    if (rate > 0) {
      /* Commit k is due at start + k / rate; a late one goes at once. */
      int64_t due = start + (int64_t)((double)n * 1e9 / rate);
      if (due > now) {
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
          if (stop_requested) break;
        }
      }
    }
    const int64_t began = now_ns(CLOCK_MONOTONIC);
    int rc;
    while ((rc = sqlite3_step(begin)) == SQLITE_BUSY) {
      busy++;
      sqlite3_reset(begin);
    }
    if (rc != SQLITE_DONE) die(db, "BEGIN");
    sqlite3_reset(begin);
    begin_wait += now_ns(CLOCK_MONOTONIC) - began;
    step_or_die(db, insert, "INSERT");
    step_or_die(db, commit, "COMMIT");
    const int64_t took = now_ns(CLOCK_MONOTONIC) - began;
    if (took > longest) longest = took;
    if (times) {
      if (n == cap) {
        cap *= 2;
        times = realloc(times, cap * sizeof *times);
        if (!times) die(NULL, "out of memory");
      }
      times[n] = now_ns(CLOCK_REALTIME);
    }
    n++;
  }
  const double elapsed = (double)(now_ns(CLOCK_MONOTONIC) - start) / 1e9;
  if (commit_log) {
    FILE* f = fopen(commit_log, "wb");
    if (!f || fwrite(times, sizeof *times, n, f) != n || fclose(f) != 0) {
      fprintf(stderr, "producer_bench_app: writing %s: %s\n", commit_log, strerror(errno));
      return 1;
    }
    free(times);
  }
  printf(
      "commits=%zu seconds=%.3f rate=%.1f cpu=%.3f runq=%.3f busy=%lld longest_ms=%.1f "
      "begin_ms=%.1f sqlite=%s\n",
      n, elapsed, (double)n / elapsed, cpu_seconds(), runqueue_seconds(), busy,
      (double)longest / 1e6, (double)begin_wait / 1e6, sqlite3_libversion());
  sqlite3_finalize(begin), sqlite3_finalize(insert), sqlite3_finalize(commit);
  return sqlite3_close(db) == SQLITE_OK ? 0 : 1;
}
