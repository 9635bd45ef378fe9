// A thin RAII layer over SQLite: a connection opened in WAL mode with a
// busy timeout, and prepared statements with typed binds. Errors throw
// util::SqliteError carrying SQLite's message; SQLITE_BUSY after the
// timeout is reported as `busy()` so callers can answer 4xx, never 5xx.
// A Database is used by one thread at a time; open one per thread.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::util {

struct SqliteError : std::runtime_error {
  int code;
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  bool busy() const { return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED; }
};

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds are 1-based, like SQLite's.
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  // Steps once: true when a row is available.
  bool step();
  // Steps to completion, ignoring rows.
  void run();
  void reset();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  bool column_is_null(int index) const;

 private:
  std::chrono::milliseconds busy_timeout_{5000};
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating) `path` in WAL mode, synchronous=FULL, foreign keys on.
  explicit Database(const std::filesystem::path& path,
                    std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  // exec() for set-up statements (pragmas, schema) while other processes
  // open the same file: SQLite answers some of those SQLITE_BUSY at once,
  // without its busy handler (a WAL switch or recovery in progress), so
  // they are retried until the busy timeout has passed.
  void exec_setup(std::string_view sql);
  Statement prepare(std::string_view sql);
  std::int64_t changes() const;
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace postern::util
