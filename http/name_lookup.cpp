#include "http/name_lookup.hpp"

#include <algorithm>
#include <cstring>

#include <netinet/in.h>

namespace http::detail {

struct NameLookup::Pending {
  uv_getaddrinfo_t request{};
  NameLookup* owner = nullptr;  // null once the owner is gone
  std::string key;
  std::string host;
};

namespace {

struct AddrinfoDeleter {
  void operator()(addrinfo* list) const { uv_freeaddrinfo(list); }
};

}  // namespace

Addresses literal_address(const std::string& host, std::uint16_t port) {
  sockaddr_storage address{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) != 0)
    return nullptr;
  return std::make_shared<const std::vector<sockaddr_storage>>(1, address);
}

NameLookup::NameLookup(uv_loop_t* loop, Done done) : loop_(loop), done_(std::move(done)) {}

NameLookup::~NameLookup() {
  for (Pending* pending : pending_) {
    pending->owner = nullptr;
    // Fails for a lookup a pool thread has already taken up; its answer is dropped when it comes.
    uv_cancel(reinterpret_cast<uv_req_t*>(&pending->request));
  }
}

std::string NameLookup::start(const std::string& key, const std::string& host, std::uint16_t port) {
  auto pending = std::make_unique<Pending>();
  pending->owner = this;
  pending->key = key;
  pending->host = host;
  pending->request.data = pending.get();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  const std::string service = std::to_string(port);
  const int rc = uv_getaddrinfo(loop_, &pending->request, &NameLookup::on_uv_answer, host.c_str(),
                                service.c_str(), &hints);
  if (rc != 0) return std::string("Could not resolve host: ") + host + " (" + uv_strerror(rc) + ")";
  pending_.push_back(pending.release());
  return {};
}

void NameLookup::on_uv_answer(uv_getaddrinfo_t* request, int status, addrinfo* result) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(request->data));
  std::unique_ptr<addrinfo, AddrinfoDeleter> list(result);
  NameLookup* owner = pending->owner;
  if (owner == nullptr) return;
  std::erase(owner->pending_, pending.get());
  auto addresses = std::make_shared<std::vector<sockaddr_storage>>();
  for (const addrinfo* entry = list.get(); status == 0 && entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
    sockaddr_storage address{};
    std::memcpy(&address, entry->ai_addr, std::min<std::size_t>(entry->ai_addrlen, sizeof address));
    addresses->push_back(address);
  }
  if (addresses->empty()) {
    const std::string reason = status != 0 ? uv_strerror(status) : "no address";
    owner->done_(pending->key, nullptr, "Could not resolve host: " + pending->host + " (" + reason + ")");
    return;
  }
  owner->done_(pending->key, std::move(addresses), {});
}

}  // namespace http::detail
