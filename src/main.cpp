#include <sys/stat.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  // Everything Postern creates (the user database, the spool, mailboxes,
  // the TLS key) is for its own user alone.
  ::umask(077);
  return postern::cli::run(argc, argv);
}
