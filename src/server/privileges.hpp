// Least privilege (STYLE §6): started as root, the server binds its ports
// and reads its TLS key, then becomes `user` for good (setgroups, setgid,
// setuid; checked so a failed drop is fatal, never ignored).
#pragma once

#include <filesystem>
#include <string>

namespace postern::server {

// No-op unless running as root. As root with an empty `user`, returns
// false (the caller warns). Throws std::runtime_error if the drop fails.
// Hands data_dir (its tls/ too) to the user first, so it can write and
// re-read its certificate on SIGHUP; symbolic links are never followed.
bool drop_privileges(const std::string& user, const std::filesystem::path& data_dir);

}  // namespace postern::server
