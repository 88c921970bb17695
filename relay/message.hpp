#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/request.hpp"
#include "pg/result.hpp"

namespace relay {

// One claimed outbox row, as the dispatcher holds it while its request is in flight.
struct Message {
  std::int64_t id = 0;
  std::string topic;
  std::string payload;     // JSON text, sent verbatim as the body
  std::string target_url;  // empty: use the default target
  std::string headers;     // "Name: value" lines separated by '\n'; empty when none
  int attempts = 0;        // including the one being made
  int max_attempts = 0;    // 0: the configured default
  bool ordered = false;    // has an ordering key

  // Fills this message from row `row` of a claim result (columns as in queries::ClaimColumn).
  void assign_from(const pg::Result& claimed, int row);
};

struct DeliverySettings {
  std::string default_target;
  std::string method = "POST";
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{10'000};
  std::size_t max_payload_bytes = 1024 * 1024;
  std::string user_agent;
};

// Fills `request` for `message`: the row's target_url or the default target, the payload as a JSON body,
// `webhook-id` (the message id), `X-Outbox-Topic`, `X-Outbox-Attempt`, then the row's own headers, which
// replace a default header of the same name. Returns an empty string, or why the message cannot be sent
// at all (no destination, payload over the size limit).
std::string build_request(const Message& message, const DeliverySettings& settings, http::Request& request);

}  // namespace relay
