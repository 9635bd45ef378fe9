#include "server/intake.hpp"

#include <stdexcept>

#if __has_include("store/spool.hpp")
#include "store/spool.hpp"
#define POSTERN_HAVE_SPOOL 1
#endif

namespace postern::server {

void Intake::on_accepted(std::function<void(const std::string&)> listener) {
  listeners_.push_back(std::move(listener));
}

void Intake::notify(const std::string& queue_id) {
  for (auto& l : listeners_) l(queue_id);
}

namespace {

#ifdef POSTERN_HAVE_SPOOL
class SpoolIntake final : public Intake {
 public:
  explicit SpoolIntake(const config::Config& config) : spool_(config.spool_dir()) { spool_.recover(); }

  std::string accept(const store::Envelope& envelope, std::string_view message) override {
    std::string id = spool_.put(envelope, message);
    notify(id);
    return id;
  }

 private:
  store::Spool spool_;
};
#else
// Until the durable spool exists, refuse honestly (451: try later).
class NoIntake final : public Intake {
 public:
  std::string accept(const store::Envelope&, std::string_view) override {
    throw std::runtime_error("no spool configured");
  }
};
#endif

}  // namespace

std::unique_ptr<Intake> make_intake(const config::Config& config) {
#ifdef POSTERN_HAVE_SPOOL
  return std::make_unique<SpoolIntake>(config);
#else
  (void)config;
  return std::make_unique<NoIntake>();
#endif
}

}  // namespace postern::server
