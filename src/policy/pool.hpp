// A small pool of connections for the stores. Session threads call the
// store synchronously, so the pool never holds more connections than
// threads deciding at the same moment. A connection that failed is
// dropped instead of returned (`Lease::discard`), so the next call opens
// a fresh one.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace postern::policy {

template <class Connection>
class Pool {
 public:
  using Factory = std::function<std::unique_ptr<Connection>()>;
  explicit Pool(Factory factory, std::size_t max_idle = 16) : factory_(std::move(factory)), max_idle_(max_idle) {}

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    ~Lease() {
      if (c_) pool_.give_back(std::move(c_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }
    void discard() { c_.reset(); }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> c_;
  };

  // Takes an idle connection or opens one (the factory may throw).
  Lease lease() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(*this, std::move(c));
      }
    }
    return Lease(*this, factory_());
  }

 private:
  void give_back(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
  }

  Factory factory_;
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace postern::policy
