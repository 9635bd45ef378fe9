/* LD_PRELOAD fault injection for the integration tests: while the file
 * named by POSTERN_FAULT_FILE exists, fsync(2) and fdatasync(2) on files
 * and directories under a ".../spool" path fail with EIO, as a failing disk
 * makes them fail; while the file named by POSTERN_FAULT_MAIL_FILE exists,
 * so do they on regular files under a ".../mail/" path (the mailbox files,
 * not their directories); while the file named by POSTERN_FAULT_JOURNAL_FILE
 * exists, so do they under a ".../spool/journal" path (the journal alone);
 * while the file named
 * by POSTERN_FAULT_SYNCFS_FILE exists, syncfs(2) fails with EIO. The real binary runs unchanged; a test creates or
 * removes the file to switch the fault on or off. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int flag_set(const char* variable) {
  const char* flag = getenv(variable);
  struct stat st;
  return flag != NULL && stat(flag, &st) == 0;
}

static int faulty(int fd) {
  const int spool = flag_set("POSTERN_FAULT_FILE"), mail = flag_set("POSTERN_FAULT_MAIL_FILE"),
            journal = flag_set("POSTERN_FAULT_JOURNAL_FILE");
  if (!spool && !mail && !journal) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  struct stat st;
  const int file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  return (spool && strstr(path, "/spool") != NULL) || (mail && file && strstr(path, "/mail/") != NULL) ||
         (journal && strstr(path, "/spool/journal") != NULL);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (faulty(fd)) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if (faulty(fd)) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int syncfs(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
  if (flag_set("POSTERN_FAULT_SYNCFS_FILE")) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}
