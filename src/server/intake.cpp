#include "server/intake.hpp"

#include "store/spool.hpp"

namespace postern::server {

void Intake::on_accepted(std::function<void(const std::string&)> listener) {
  listeners_.push_back(std::move(listener));
}

void Intake::notify(const std::string& queue_id) {
  for (auto& l : listeners_) l(queue_id);
}

namespace {

class SpoolIntake final : public Intake {
 public:
  explicit SpoolIntake(store::Spool& spool) : spool_(spool) {}

  std::string accept(const store::Envelope& envelope, std::string_view message, std::string_view queue_id) override {
    if (direct_ && !queue_id.empty() && direct_(std::string(queue_id), envelope, message)) return std::string(queue_id);
    return spool(envelope, message, queue_id);
  }

  std::string spool(const store::Envelope& envelope, std::string_view message, std::string_view queue_id) override {
    std::string id = spool_.put(envelope, message, queue_id);
    notify(id);
    return id;
  }

  std::string new_id() override { return store::Spool::new_id(); }

  std::unique_ptr<store::Spool::Writer> open(const store::Envelope& envelope, const std::string& queue_id) override {
    return std::make_unique<store::Spool::Writer>(spool_, envelope, queue_id);
  }

 private:
  store::Spool& spool_;
};

}  // namespace

std::unique_ptr<Intake> make_intake(store::Spool& spool) { return std::make_unique<SpoolIntake>(spool); }

}  // namespace postern::server
